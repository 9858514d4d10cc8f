"""The team's TOML configuration: load, validate, and say exactly what is wrong.

`config/bot.toml` is the one required file. Every key is declared in
:data:`SCHEMA`; unknown keys are refused, and an error names the file, the
key, its line, and what was expected.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_FILE = "bot.toml"
# The formats a team file may be read in (bot/team/formats.py parses each).
FORMATS = ("psrt-csv", "experts-rst", "codeowners")


class ConfigError(Exception):
    """An invalid configuration; `str()` is the message for the operator."""


@dataclass(frozen=True)
class Key:
    """One allowed key: its type, whether it is required, and its allowed values."""

    kind: type | tuple[type, ...]
    required: bool = False
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    describe: str = ""
    items: type | None = None  # for arrays: the type of every item


@dataclass(frozen=True)
class TableOf:
    """A table whose sub-tables all follow `keys` (like `[sources.NAME]`)."""

    keys: Mapping[str, Key]


Schema = Mapping[str, "Key | Mapping[str, Key] | TableOf"]

REPOSITORY = r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+"

UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
CVE_PROVIDERS = ("none", "github", "cve-services")
# The publication checklist, in the order /publish reports it.
CHECKLIST_ITEMS = (
    "cvss_v4",
    "cwe",
    "coordinator_credit",
    "merged_fix",
    "description_sections",
    "cve",
    "credits_accepted",
)

# Options that bring back a behaviour which trusts what any advisory collaborator
# can edit (the reporter is one): GitHub never says who edited a title, a credit, the
# CVE field or a comment. Off by default; each name says what it risks (README,
# "Trust").
UNSAFE_OPTIONS = (
    # Title tags change state, reserve CVE IDs and stop timers by themselves.
    "collaborators_change_state_with_title_tags",
    # Whoever is credited `coordinator` on GitHub is recorded as the coordinator.
    "collaborators_name_the_coordinator_with_credits",
    # An edited comment runs the commands it adds, as the comment's author.
    "comment_editors_run_commands_as_the_author",
    # Whatever CVE ID the advisory shows is the one /cve reject, the checklist and
    # the records act on.
    "collaborators_choose_the_cve_id",
    # A published list read from a repository (psrt.csv) grants roles and access
    # without the GitHub team confirming its members.
    "published_list_grants_roles",
)

SCHEMA: Schema = {
    "team": {
        "name": Key(str, required=True),
        "github_team": Key(str, pattern=REPOSITORY, describe="ORG/TEAM-SLUG"),
    },
    "policy": {
        "url": Key(str),
        "response_days": Key(int),
        "reporter_credit": Key(str, choices=("reporter", "finder")),
        "acknowledgement_template": Key(str),
        "auto_invite_experts": Key(bool),
    },
    "report": {
        "required_sections": Key(list, items=str),
        "supported_versions": Key(list, items=str),
        "prerelease_versions": Key(list, items=str),
    },
    "poller": {
        "interval_seconds": Key(int),
    },
    "coordinators": {
        "idle_days": Key(int),
        "roster_file": Key(str),
    },
    "deadlines": {
        "reminder_days": Key(list, items=int),
        "min_hours_between_reminders": Key(int),
        "escalate_unacknowledged_after_hours": Key(int),
        "scan_interval_seconds": Key(int),
    },
    "cve": {
        "provider": Key(str, choices=CVE_PROVIDERS),
        "reserve_on_accept": Key(bool),
        "publish_record": Key(bool),
    },
    "publish": {
        "checklist": Key(list, items=str, choices=CHECKLIST_ITEMS),
        "description_sections": Key(list, items=str),
        "bot_may_publish": Key(bool),
        "announce_template": Key(str),
        "project": Key(str),
    },
    "records": {
        "folder": Key(str),
        "osv_prefix": Key(str, pattern=r"[A-Z][A-Z0-9]*", describe="capital letters, e.g. PSF"),
        "cna_org_id": Key(str, pattern=UUID, describe="the CNA's organization UUID"),
        "vendor": Key(str),
        "product": Key(str),
    },
    "governance": {
        "repository": Key(str, pattern=REPOSITORY, describe="OWNER/REPO"),
        "votes": Key(str, choices=("ballot", "comments")),
        "vote_days": Key(int),
        "quorum": Key(int),
        "veto_days": Key(int),
        "roster_check_hours": Key(int),
        "inactivity_report_date": Key(
            str, pattern=r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])", describe="MM-DD"
        ),
        "scan_interval_seconds": Key(int),
    },
    "title_tags": {
        "mode": Key(str, choices=("suggest", "off")),
    },
    "unsafe": {name: Key(bool) for name in UNSAFE_OPTIONS},
    "sources": TableOf(
        {
            "repository": Key(str, pattern=REPOSITORY, describe="OWNER/REPO"),
            "path": Key(str),
            "ref": Key(str),
            "file": Key(str),
            "format": Key(str, required=True, choices=FORMATS),
            "refresh_minutes": Key(int),
        }
    ),
}


@dataclass(frozen=True)
class SourceConfig:
    """Where a team file comes from: a repository path (contents API) or a local file."""

    name: str
    format: str
    repository: str | None = None
    path: str | None = None
    ref: str | None = None
    file: Path | None = None
    refresh_minutes: int = 60


@dataclass(frozen=True)
class PolicyConfig:
    url: str = ""
    response_days: int = 90
    reporter_credit: str = "reporter"
    acknowledgement_template: Path | None = None
    auto_invite_experts: bool = False


@dataclass(frozen=True)
class ReportConfig:
    """What a good report contains, for the check in the acknowledgement."""

    required_sections: tuple[str, ...] = ()
    supported_versions: tuple[str, ...] = ()
    prerelease_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class CveConfig:
    """Who assigns CVE IDs, and when the bot asks for one."""

    provider: str = "none"  # none, github (GitHub as CNA) or cve-services (the team's own CNA)
    reserve_on_accept: bool = False
    publish_record: bool = False  # cve-services: publish the CNA container on publication


@dataclass(frozen=True)
class PublishConfig:
    """What /publish checks, whether the bot may publish, and the announcement."""

    checklist: tuple[str, ...] = CHECKLIST_ITEMS
    description_sections: tuple[str, ...] = ()
    bot_may_publish: bool = False
    announce_template: Path | None = None
    project: str = ""


@dataclass(frozen=True)
class RecordsConfig:
    """The OSV and CVE JSON 5 exports."""

    folder: Path | None = None  # exports are written here on publication
    osv_prefix: str = ""  # "" uses the GHSA id; "PSF" numbers PSF-YYYY-N
    cna_org_id: str = ""
    vendor: str = ""
    product: str = ""


@dataclass(frozen=True)
class GovernanceConfig:
    """PEP 811 governance: where nominations and reports go, and how votes run."""

    repository: str | None = None  # a private repository; None turns governance off
    votes: str = "ballot"  # "ballot": anonymous until the close; "comments": /vote
    vote_days: int = 7
    quorum: int = 0  # ballots (abstentions included) needed for a result; the PEP sets none
    veto_days: int = 7  # the steering council's veto window after a vote passes
    roster_check_hours: int = 24
    inactivity_report_date: str = "01-15"  # MM-DD, once a year
    scan_interval_seconds: int = 300


@dataclass(frozen=True)
class UnsafeConfig:
    """Trust in what advisory collaborators can edit: all off unless the team asks."""

    collaborators_change_state_with_title_tags: bool = False
    collaborators_name_the_coordinator_with_credits: bool = False
    comment_editors_run_commands_as_the_author: bool = False
    collaborators_choose_the_cve_id: bool = False
    published_list_grants_roles: bool = False


@dataclass(frozen=True)
class DeadlineConfig:
    reminder_days: tuple[int, ...] = (14, 7, 0)
    min_hours_between_reminders: int = 23
    escalate_unacknowledged_after_hours: int = 48
    scan_interval_seconds: int = 300


DATE = r"\d{4}-\d{2}-\d{2}"

ROSTER_SCHEMA: Schema = {
    "canonical": Key(bool),
    "steering_council": Key(list, items=str),
    "emeritus": Key(list, items=dict),
    "members": TableOf(
        {
            "name": Key(str),
            "on_leave_until": Key(str, pattern=DATE, describe="a date, YYYY-MM-DD"),
            "inactive": Key(bool),
            "roles": Key(list, items=str),
        }
    ),
}


@dataclass(frozen=True)
class MemberNotes:
    """One member of roster.toml: the published name and roles, and what is not published."""

    on_leave_until: str | None = None  # YYYY-MM-DD
    inactive: bool = False
    roles: tuple[str, ...] = ()  # as published: "Admin", "Release Manager"
    name: str = ""
    login: str = ""  # as written in roster.toml (the mapping key is lower case)


@dataclass(frozen=True)
class FormerMember:
    """An emeritus member: a name, and a GitHub login when they have one."""

    name: str
    login: str = ""
    notes: str = ""


@dataclass(frozen=True)
class RosterNotes:
    """roster.toml. Canonical by default: its `members` are the team (PEP 811's list).
    With `canonical = false` they are notes on the members of the published list
    (sources.roster), whose entries count only once the GitHub team confirms them."""

    steering_council: frozenset[str] = frozenset()
    members: Mapping[str, MemberNotes] = field(default_factory=dict)
    canonical: bool = True
    emeritus: tuple[FormerMember, ...] = ()
    path: Path | None = None


@dataclass(frozen=True)
class CoordinatorConfig:
    idle_days: float = 3  # 0 assigns at once
    roster: RosterNotes = RosterNotes()


@dataclass(frozen=True)
class TeamConfig:
    name: str
    github_team: str | None = None


@dataclass(frozen=True)
class BotConfig:
    directory: Path
    team: TeamConfig
    sources: Mapping[str, SourceConfig] = field(default_factory=dict)
    policy: PolicyConfig = PolicyConfig()
    report: ReportConfig = ReportConfig()
    poll_interval_seconds: int = 60
    deadlines: DeadlineConfig = DeadlineConfig()
    coordinators: CoordinatorConfig = CoordinatorConfig()
    cve: CveConfig = CveConfig()
    publish: PublishConfig = PublishConfig()
    records: RecordsConfig = RecordsConfig()
    governance: GovernanceConfig = GovernanceConfig()
    # "suggest": a title tag makes the bot ask a team member to confirm with the
    # command; "off": tags are ignored. (unsafe: tags act by themselves.)
    title_tags: str = "suggest"
    unsafe: UnsafeConfig = UnsafeConfig()


MAX_CONFIG_BYTES = 1024 * 1024


def load_config(directory: Path) -> BotConfig:
    path = directory / CONFIG_FILE
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{path}: {size:,} bytes; a configuration file may have at most "
                f"{MAX_CONFIG_BYTES:,}"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (BOT_CONFIG points at {directory})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read it ({error})") from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> BotConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    locator = _Locator(text)
    _validate(data, SCHEMA, (), path, locator)
    team = data.get("team")
    if team is None:
        raise ConfigError(f"{path}: missing table [team]; expected at least team.name")
    sources = {}
    for name, raw in data.get("sources", {}).items():
        sources[name] = _source(name, raw, path, locator)
    policy = data.get("policy", {})
    report = data.get("report", {})
    cve = data.get("cve", {})
    publish = data.get("publish", {})
    records = data.get("records", {})
    folder = records.get("folder")
    governance = data.get("governance", {})
    return BotConfig(
        directory=path.parent,
        team=TeamConfig(name=team["name"], github_team=team.get("github_team")),
        sources=sources,
        policy=PolicyConfig(
            url=policy.get("url", ""),
            response_days=policy.get("response_days", 90),
            reporter_credit=policy.get("reporter_credit", "reporter"),
            acknowledgement_template=_template(
                policy, ("policy", "acknowledgement_template"), path, locator
            ),
            auto_invite_experts=policy.get("auto_invite_experts", False),
        ),
        report=ReportConfig(
            required_sections=tuple(report.get("required_sections", ())),
            supported_versions=tuple(report.get("supported_versions", ())),
            prerelease_versions=tuple(report.get("prerelease_versions", ())),
        ),
        poll_interval_seconds=data.get("poller", {}).get("interval_seconds", 60),
        deadlines=_deadlines(data.get("deadlines", {})),
        coordinators=_coordinators(data.get("coordinators", {}), path, locator),
        cve=CveConfig(
            provider=cve.get("provider", "none"),
            reserve_on_accept=cve.get("reserve_on_accept", False),
            publish_record=cve.get("publish_record", False),
        ),
        publish=PublishConfig(
            checklist=tuple(publish.get("checklist", CHECKLIST_ITEMS)),
            description_sections=tuple(publish.get("description_sections", ())),
            bot_may_publish=publish.get("bot_may_publish", False),
            announce_template=_template(publish, ("publish", "announce_template"), path, locator),
            project=publish.get("project", ""),
        ),
        records=RecordsConfig(
            folder=(path.parent / folder) if folder else None,
            osv_prefix=records.get("osv_prefix", ""),
            cna_org_id=records.get("cna_org_id", ""),
            vendor=records.get("vendor", ""),
            product=records.get("product", ""),
        ),
        governance=GovernanceConfig(
            **{
                key: governance[key]
                for key in GovernanceConfig.__dataclass_fields__
                if key in governance
            }
        ),
        title_tags=data.get("title_tags", {}).get("mode", "suggest"),
        unsafe=UnsafeConfig(**data.get("unsafe", {})),
    )


def _template(
    table: Mapping[str, Any], dotted: tuple[str, str], path: Path, locator: _Locator
) -> Path | None:
    """A template file named relative to the configuration folder; it must exist."""
    name = table.get(dotted[1])
    if name is None:
        return None
    template_path = path.parent / name
    if not template_path.is_file():
        raise ConfigError(
            f"{path}, line {locator.line(dotted)}: {'.'.join(dotted)}: "
            f"{template_path} does not exist"
        )
    return Path(template_path)


def _coordinators(raw: Mapping[str, Any], path: Path, locator: _Locator) -> CoordinatorConfig:
    roster = RosterNotes()
    name = raw.get("roster_file")
    if name is not None:
        roster_path = path.parent / name
        try:
            text = roster_path.read_text(encoding="utf-8")
        except OSError:
            line = locator.line(("coordinators", "roster_file"))
            raise ConfigError(
                f"{path}, line {line}: coordinators.roster_file: {roster_path} does not exist"
            ) from None
        roster = parse_roster_notes(text, roster_path)
    return CoordinatorConfig(idle_days=raw.get("idle_days", 3), roster=roster)


def parse_roster_notes(text: str, path: Path) -> RosterNotes:
    """The roster TOML: steering-council members, leave, inactivity, extra roles."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    locator = _Locator(text)
    _validate(data, ROSTER_SCHEMA, (), path, locator)
    canonical = bool(data.get("canonical", True))
    members = {}
    for login, notes in data.get("members", {}).items():
        if not re.fullmatch(LOGIN, login):
            raise ConfigError(
                f"{path}, line {locator.line(('members', login))}: members.{login}: "
                "expected a GitHub login as the table name"
            )
        if canonical and not notes.get("name"):
            raise ConfigError(
                f"{path}, line {locator.line(('members', login))}: [members.{login}] is missing "
                "required key 'name' (the roster is canonical: every member has a published "
                "name; `canonical = false` makes the file notes on the published list)"
            )
        members[login.lower()] = MemberNotes(
            on_leave_until=notes.get("on_leave_until"),
            inactive=notes.get("inactive", False),
            roles=tuple(notes.get("roles", ())),
            name=notes.get("name", ""),
            login=login,
        )
    council = frozenset(login.lower() for login in data.get("steering_council", ()))
    emeritus = tuple(
        _former_member(item, path, locator.line(("emeritus",))) for item in data.get("emeritus", ())
    )
    return RosterNotes(
        steering_council=council,
        members=members,
        canonical=canonical,
        emeritus=emeritus,
        path=path,
    )


LOGIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"


def _former_member(item: Mapping[str, Any], path: Path, line: str) -> FormerMember:
    where = f"{path}, line {line}: emeritus"
    unknown = sorted(set(item) - {"name", "login", "notes"})
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: login, name, notes")
    values = {key: item.get(key, "") for key in ("name", "login", "notes")}
    for key, value in values.items():
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key} must be a string, got {_type_name(value)}")
    if not values["name"]:
        raise ConfigError(f"{where}: every entry needs a name; got {dict(item)!r}")
    if values["login"] and not re.fullmatch(LOGIN, values["login"]):
        raise ConfigError(f"{where}: {values['login']!r} is not a GitHub login")
    return FormerMember(**values)


def _deadlines(raw: Mapping[str, Any]) -> DeadlineConfig:
    default = DeadlineConfig()
    return DeadlineConfig(
        reminder_days=tuple(sorted(raw.get("reminder_days", default.reminder_days), reverse=True)),
        min_hours_between_reminders=raw.get(
            "min_hours_between_reminders", default.min_hours_between_reminders
        ),
        escalate_unacknowledged_after_hours=raw.get(
            "escalate_unacknowledged_after_hours", default.escalate_unacknowledged_after_hours
        ),
        scan_interval_seconds=raw.get("scan_interval_seconds", default.scan_interval_seconds),
    )


def _source(name: str, raw: Mapping[str, Any], path: Path, locator: _Locator) -> SourceConfig:
    remote = "repository" in raw or "path" in raw
    local = "file" in raw
    where = f"{path}, line {locator.line(('sources', name))}: sources.{name}"
    if remote and local:
        raise ConfigError(f"{where}: set either repository and path, or file, not both")
    if remote and not ("repository" in raw and "path" in raw):
        raise ConfigError(f"{where}: a repository source needs both repository and path")
    if not remote and not local:
        raise ConfigError(f"{where}: expected repository and path, or file")
    file = None
    if local:
        file = Path(raw["file"])
        if not file.is_absolute():
            file = path.parent / file
    return SourceConfig(
        name=name,
        format=raw["format"],
        repository=raw.get("repository"),
        path=raw.get("path"),
        ref=raw.get("ref"),
        file=file,
        refresh_minutes=raw.get("refresh_minutes", 60),
    )


def _validate(
    data: Mapping[str, Any], schema: Schema, prefix: tuple[str, ...], path: Path, locator: _Locator
) -> None:
    for key, value in data.items():
        dotted = (*prefix, key)
        spec = schema.get(key)
        if spec is None:
            hint = difflib.get_close_matches(key, list(schema), n=1)
            suggestion = f" (did you mean {'.'.join((*prefix, hint[0]))!r}?)" if hint else ""
            allowed = ", ".join(sorted(schema))
            raise ConfigError(
                f"{path}, line {locator.line(dotted)}: unknown key {'.'.join(dotted)!r}"
                f"{suggestion}; allowed here: {allowed}"
            )
        if isinstance(spec, Key):
            _check_value(value, spec, dotted, path, locator)
        elif isinstance(spec, TableOf):
            _expect_table(value, dotted, path, locator)
            for name, sub in value.items():
                _expect_table(sub, (*dotted, name), path, locator)
                _validate(sub, spec.keys, (*dotted, name), path, locator)
                _check_required(sub, spec.keys, (*dotted, name), path, locator)
        else:
            _expect_table(value, dotted, path, locator)
            _validate(value, spec, dotted, path, locator)
            _check_required(value, spec, dotted, path, locator)


def _check_required(
    data: Mapping[str, Any],
    schema: Mapping[str, Key],
    dotted: tuple[str, ...],
    path: Path,
    locator: _Locator,
) -> None:
    for key, spec in schema.items():
        if spec.required and key not in data:
            raise ConfigError(
                f"{path}, line {locator.line(dotted)}: [{'.'.join(dotted)}] is missing "
                f"required key {key!r}"
            )


def _expect_table(value: Any, dotted: tuple[str, ...], path: Path, locator: _Locator) -> None:
    if not isinstance(value, dict):
        raise ConfigError(
            f"{path}, line {locator.line(dotted)}: {'.'.join(dotted)} must be a table, "
            f"got {_type_name(value)}"
        )


def _check_value(
    value: Any, spec: Key, dotted: tuple[str, ...], path: Path, locator: _Locator
) -> None:
    where = f"{path}, line {locator.line(dotted)}: {'.'.join(dotted)}"
    kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        expected = " or ".join(_TYPE_NAMES.get(kind, kind.__name__) for kind in kinds)
        raise ConfigError(f"{where}: expected {expected}, got {_type_name(value)}")
    if spec.items is not None and isinstance(value, list):
        for item in value:
            if not isinstance(item, spec.items) or isinstance(item, bool):
                kind = {str: "strings", int: "integers"}.get(spec.items, spec.items.__name__)
                raise ConfigError(f"{where}: expected an array of {kind}; got {item!r}")
    for item in value if isinstance(value, list) else [value]:
        if spec.choices is not None and item not in spec.choices:
            nearest = difflib.get_close_matches(str(item), spec.choices, n=1)
            hint = f" (did you mean {nearest[0]!r}?)" if nearest else ""
            raise ConfigError(
                f"{where}: expected one of {', '.join(spec.choices)}; got {item!r}{hint}"
            )
    if spec.pattern is not None and not re.fullmatch(spec.pattern, str(value)):
        raise ConfigError(f"{where}: expected {spec.describe or spec.pattern}; got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise ConfigError(f"{where}: expected a number of at least 0; got {value}")


_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    float: "a number",
    list: "an array",
}


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


class _Locator:
    """Finds the line of a dotted key in TOML text (tomllib does not keep positions)."""

    _HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
    _ASSIGN = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")

    def __init__(self, text: str) -> None:
        self.positions: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._HEADER.match(line)
            if header:
                table = self._split(header.group(1))
                self.positions.setdefault(table, number)
                continue
            assign = self._ASSIGN.match(line)
            if assign:
                key = (*table, *self._split(assign.group(1)))
                for depth in range(len(table) + 1, len(key) + 1):
                    self.positions.setdefault(key[:depth], number)

    @staticmethod
    def _split(dotted: str) -> tuple[str, ...]:
        return tuple(part.strip().strip("\"'") for part in dotted.split("."))

    def line(self, dotted: tuple[str, ...]) -> str:
        for depth in range(len(dotted), 0, -1):
            if dotted[:depth] in self.positions:
                return str(self.positions[dotted[:depth]])
        return "?"
