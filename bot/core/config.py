"""The team's TOML configuration: load it, validate it, and say exactly what is wrong.

The schema is declared here, key by key; the generic validation is
bot/core/config_schema.py and roster.toml's reading bot/core/roster_notes.py.

`config/bot.toml` is the one required file. Every key is declared in
:data:`SCHEMA`; unknown keys are refused, and an error names the file, the
key, its line, and what was expected.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.config_schema import (
    ConfigError,
    Key,
    Locator,
    Schema,
    TableOf,
    validate,
)
from bot.core.roster_notes import (
    RosterNotes,
    parse_roster_notes,
)

__all__ = ["BotConfig", "ConfigError", "load_config", "parse_config"]

CONFIG_FILE = "bot.toml"
# The formats a team file may be read in (bot/team/formats.py parses each).
FORMATS = ("psrt-csv", "experts-rst", "codeowners")


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
# CVE field or a comment. Off by default; each name says what it risks
# (docs/workflow.md, "Trust").
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
        "edit_sweep_minutes": Key(int, minimum=1),  # comments re-read for edits (default 10)
    },
    # Points a minute (GET 1, mutation 5; bot/github/budget.py), default 600; GitHub
    # blocks an App above 900. At least 30: a triage takes a few mutations.
    "github": {"points_per_minute": Key(int, minimum=30, maximum=900)},
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


@dataclass(frozen=True)
class CoordinatorConfig:
    idle_days: float = 3  # 0 assigns at once
    roster: RosterNotes = field(default_factory=RosterNotes)


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
    edit_sweep_minutes: int = 10
    points_per_minute: int = 600
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
    locator = Locator(text)
    validate(data, SCHEMA, (), path, locator)
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
        edit_sweep_minutes=data.get("poller", {}).get("edit_sweep_minutes", 10),
        points_per_minute=data.get("github", {}).get("points_per_minute", 600),
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
    table: Mapping[str, Any], dotted: tuple[str, str], path: Path, locator: Locator
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


def _coordinators(raw: Mapping[str, Any], path: Path, locator: Locator) -> CoordinatorConfig:
    roster = RosterNotes()
    name = raw.get("roster_file")
    if name is not None:
        roster_path = path.parent / name
        try:
            text = roster_path.read_text(encoding="utf-8")
        except (OSError, ValueError):  # ValueError: a name the OS cannot hold (a NUL byte)
            line = locator.line(("coordinators", "roster_file"))
            raise ConfigError(
                f"{path}, line {line}: coordinators.roster_file: {roster_path} does not exist"
            ) from None
        roster = parse_roster_notes(text, roster_path)
    return CoordinatorConfig(idle_days=raw.get("idle_days", 3), roster=roster)


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


def _source(name: str, raw: Mapping[str, Any], path: Path, locator: Locator) -> SourceConfig:
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


