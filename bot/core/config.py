"""The team's TOML configuration: load it, validate it, and say exactly what is wrong.

Every key is declared once, here, as a field of the dataclass that holds its
value: its default, its TOML type and its bounds in one `option(...)` call
(bot/core/config_schema.py). :data:`SCHEMA` is read back from those
dataclasses, and :func:`parse_config` builds them from the validated tables,
so a default is written in exactly one place. roster.toml is read by
bot/core/roster_notes.py.

`config/bot.toml` is the one required file. Unknown keys are refused, and an
error names the file, the key, its line, and what was expected.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.config_schema import (
    ConfigError,
    Locator,
    Place,
    Schema,
    TableOf,
    build,
    keys_of,
    option,
    required,
    tables_of,
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
# How OSV records are named and laid out (RecordsConfig.layout; bot/records/exports.py).
RECORD_LAYOUTS = ("osv", "psf-advisory-database")
# When the maintainers of a report's modules are tagged ([experts] tag).
EXPERT_TAG_MODES = ("on-accept", "on-report", "never")
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

# Bounds of the keys that set a timer or a span of time. Intervals and days are at
# least 1 (0 would make a timer spin or a window close as it opens); the maxima keep a
# slip of the keyboard from overflowing a timestamp.
DAY_SECONDS = 86_400
YEAR_DAYS = 366
YEAR_HOURS = YEAR_DAYS * 24
WEEK_MINUTES = 7 * 24 * 60


# -- conversions of values the file sets ------------------------------------------------


def _template(value: Any, place: Place) -> Path:
    """A template file named relative to the configuration folder; it must exist."""
    template_path = place.path.parent / value
    if not template_path.is_file():
        raise ConfigError(f"{place.where()}: {template_path} does not exist")
    return Path(template_path)


def _folder(value: Any, place: Place) -> Path | None:
    """A folder relative to the configuration folder ("" is none)."""
    return (place.path.parent / value) if value else None


def _local_file(value: Any, place: Place) -> Path:
    """A file named absolute or relative to the configuration folder."""
    file = Path(value)
    return file if file.is_absolute() else place.path.parent / file


def _roster(value: Any, place: Place) -> RosterNotes:
    roster_path = place.path.parent / value
    try:
        text = roster_path.read_text(encoding="utf-8")
    except (OSError, ValueError):  # ValueError: a name the OS cannot hold (a NUL byte)
        raise ConfigError(f"{place.where()}: {roster_path} does not exist") from None
    return parse_roster_notes(text, roster_path)


def _newest_first(value: Any, _place: Place) -> tuple[int, ...]:
    return tuple(sorted(value, reverse=True))


# -- the tables, key by key ----------------------------------------------------------------
# `option(...)` is a `dataclasses.field` (with the key in its metadata), so its default
# is the field's default, not a call per instance: RUF009 does not apply.


@dataclass(frozen=True)
class TeamConfig:
    name: str = required(str)
    github_team: str | None = option(None, str, pattern=REPOSITORY, describe="ORG/TEAM-SLUG")


@dataclass(frozen=True)
class SourceConfig:
    """Where a team file comes from: a repository path (contents API) or a local file."""

    name: str  # the table's name, [sources.NAME]
    format: str = required(str, choices=FORMATS)
    repository: str | None = option(None, str, pattern=REPOSITORY, describe="OWNER/REPO")
    path: str | None = option(None, str)
    ref: str | None = option(None, str)
    file: Path | None = option(None, str, convert=_local_file)  # noqa: RUF009
    # Re-read at most this often (ETag-cached; 0: whenever it is needed).
    refresh_minutes: int = option(60, minimum=0, maximum=WEEK_MINUTES)


@dataclass(frozen=True)
class PolicyConfig:
    url: str = option("")
    response_days: int = option(90, minimum=1, maximum=10 * YEAR_DAYS)
    reporter_credit: str = option("reporter", choices=("reporter", "finder"))
    acknowledgement_template: Path | None = option(None, str, convert=_template)  # noqa: RUF009
    auto_invite_experts: bool = option(False)


@dataclass(frozen=True)
class ReportConfig:
    """What a good report contains, for the check in the acknowledgement."""

    required_sections: tuple[str, ...] = option((), items=str)
    supported_versions: tuple[str, ...] = option((), items=str)
    prerelease_versions: tuple[str, ...] = option((), items=str)


@dataclass(frozen=True)
class CveConfig:
    """Who assigns CVE IDs, and when the bot asks for one."""

    # none, github (GitHub as CNA) or cve-services (the team's own CNA)
    provider: str = option("none", choices=CVE_PROVIDERS)
    reserve_on_accept: bool = option(False)
    # cve-services: publish the CNA container on publication
    publish_record: bool = option(False)


@dataclass(frozen=True)
class PublishConfig:
    """What /publish checks, whether the bot may publish, and the announcement."""

    checklist: tuple[str, ...] = option(CHECKLIST_ITEMS, items=str, choices=CHECKLIST_ITEMS)
    description_sections: tuple[str, ...] = option((), items=str)
    bot_may_publish: bool = option(False)
    announce_template: Path | None = option(None, str, convert=_template)  # noqa: RUF009
    project: str = option("")


@dataclass(frozen=True)
class RecordsConfig:
    """The OSV and CVE JSON 5 exports."""

    # exports are written here on publication (relative to bot.toml)
    folder: Path | None = option(None, str, convert=_folder)  # noqa: RUF009
    # "" uses the GHSA id; see `layout`
    osv_prefix: str = option("", pattern=r"[A-Z][A-Z0-9]*", describe="capital letters, e.g. PSF")
    # "osv": osv/ID.json, ID the GHSA id, or PREFIX-YEAR-N numbered by the bot (a prefix
    # the team owns); "psf-advisory-database": advisories/<product>/PREFIX-0000-<CVE or
    # GHSA>.json, the database numbers it. Default: the latter when osv_prefix is set
    # (parse_config).
    layout: str = option("osv", choices=RECORD_LAYOUTS)
    cna_org_id: str = option("", pattern=UUID, describe="the CNA's organization UUID")
    vendor: str = option("")
    product: str = option("")


@dataclass(frozen=True)
class GovernanceConfig:
    """PEP 811 governance: where nominations and reports go, and how votes run."""

    # a private repository; None turns governance off
    repository: str | None = option(None, str, pattern=REPOSITORY, describe="OWNER/REPO")
    # "ballot": anonymous until the close; "comments": /vote
    votes: str = option("ballot", choices=("ballot", "comments"))
    vote_days: int = option(7, minimum=1, maximum=YEAR_DAYS)
    # ballots (abstentions included) needed for a result; the PEP sets none
    quorum: int = option(0, minimum=0)
    # the steering council's veto window after a vote passes
    veto_days: int = option(7, minimum=1, maximum=YEAR_DAYS)
    # 0 turns the roster check off
    roster_check_hours: int = option(24, minimum=0, maximum=YEAR_HOURS)
    inactivity_report_date: str = option(  # MM-DD, once a year
        "01-15", pattern=r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])", describe="MM-DD"
    )
    scan_interval_seconds: int = option(300, minimum=1, maximum=DAY_SECONDS)


@dataclass(frozen=True)
class UnsafeConfig:
    """Options that bring back a behaviour which trusts what any advisory collaborator
    can edit (the reporter is one): GitHub never says who edited a title, a credit, the
    CVE field or a comment. Off by default; each name says what it risks
    (docs/workflow.md, "Trust")."""

    # Title tags change state, reserve CVE IDs and stop timers by themselves.
    collaborators_change_state_with_title_tags: bool = option(False)
    # Whoever is credited `coordinator` on GitHub is recorded as the coordinator.
    collaborators_name_the_coordinator_with_credits: bool = option(False)
    # An edited comment runs the commands it adds, as the comment's author.
    comment_editors_run_commands_as_the_author: bool = option(False)
    # Whatever CVE ID the advisory shows is the one /cve reject, the checklist and
    # the records act on.
    collaborators_choose_the_cve_id: bool = option(False)
    # A published list read from a repository (psrt.csv) grants roles and access
    # without the GitHub team confirming its members.
    published_list_grants_roles: bool = option(False)


UNSAFE_OPTIONS = tuple(keys_of(UnsafeConfig))


@dataclass(frozen=True)
class DeadlineConfig:
    # reminders this many days before the deadline (0: the day it passes), newest first
    reminder_days: tuple[int, ...] = option(
        (14, 7, 0), items=int, minimum=0, maximum=10 * YEAR_DAYS, convert=_newest_first
    )
    min_hours_between_reminders: int = option(23, minimum=0, maximum=YEAR_HOURS)
    escalate_unacknowledged_after_hours: int = option(48, minimum=0, maximum=YEAR_HOURS)
    scan_interval_seconds: int = option(300, minimum=1, maximum=DAY_SECONDS)


@dataclass(frozen=True)
class CoordinatorConfig:
    idle_days: float = option(3, minimum=0, maximum=YEAR_DAYS)  # 0 assigns at once
    # roster.toml, named by `roster_file` (relative to bot.toml)
    roster: RosterNotes = option(RosterNotes(), str, key="roster_file", convert=_roster)  # noqa: RUF009


@dataclass(frozen=True)
class BotConfig:
    directory: Path
    team: TeamConfig
    sources: Mapping[str, SourceConfig] = field(default_factory=dict)
    policy: PolicyConfig = PolicyConfig()
    report: ReportConfig = ReportConfig()
    # How often advisories are listed (once per organization, or per repository).
    poll_interval_seconds: int = option(
        60, table="poller", key="interval_seconds", minimum=1, maximum=DAY_SECONDS
    )
    # Comments are re-read for edits at least this often (a share each cycle).
    edit_sweep_minutes: int = option(10, table="poller", minimum=1, maximum=WEEK_MINUTES)
    # Points a minute (GET 1, mutation 5; bot/github/budget.py); GitHub blocks an App
    # above 900. At least 30: a triage takes a few mutations.
    points_per_minute: int = option(600, table="github", minimum=30, maximum=900)
    deadlines: DeadlineConfig = DeadlineConfig()
    coordinators: CoordinatorConfig = CoordinatorConfig()
    cve: CveConfig = CveConfig()
    publish: PublishConfig = PublishConfig()
    records: RecordsConfig = RecordsConfig()
    governance: GovernanceConfig = GovernanceConfig()
    # "suggest": a title tag makes the bot ask a team member to confirm with the
    # command; "off": tags are ignored. (unsafe: tags act by themselves.)
    title_tags: str = option("suggest", table="title_tags", key="mode", choices=("suggest", "off"))
    # When the experts and CODEOWNERS owners of a report's modules are @-mentioned, in one
    # comment (bot/advisories/expert_tags.py): "on-accept", "on-report" or "never".
    # Before that they are only suggested, without `@`. A mention grants no access.
    experts_tag: str = option("on-accept", table="experts", key="tag", choices=EXPERT_TAG_MODES)
    unsafe: UnsafeConfig = UnsafeConfig()


# The tables of bot.toml and the dataclass each is read into (the rest, [poller],
# [github], [title_tags] and [experts], are read into BotConfig's own fields).
SECTIONS: Mapping[str, type] = {
    "team": TeamConfig,
    "policy": PolicyConfig,
    "report": ReportConfig,
    "coordinators": CoordinatorConfig,
    "deadlines": DeadlineConfig,
    "cve": CveConfig,
    "publish": PublishConfig,
    "records": RecordsConfig,
    "governance": GovernanceConfig,
    "unsafe": UnsafeConfig,
}

SCHEMA: Schema = {
    **{name: keys_of(section) for name, section in SECTIONS.items()},
    **tables_of(BotConfig),
    "sources": TableOf(keys_of(SourceConfig)),
}


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
    if "team" not in data:
        raise ConfigError(f"{path}: missing table [team]; expected at least team.name")
    sections: dict[str, Any] = {}
    for name, section in SECTIONS.items():
        raw = data.get(name, {})
        given: dict[str, Any] = {}
        if section is RecordsConfig and "layout" not in raw and raw.get("osv_prefix"):
            given["layout"] = "psf-advisory-database"  # a prefix: the PSF's database numbers
        sections[name] = build(section, raw, (name,), path, locator, **given)
    sources = {
        name: _source(name, raw, path, locator) for name, raw in data.get("sources", {}).items()
    }
    return build(
        BotConfig, data, (), path, locator, directory=path.parent, sources=sources, **sections
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
    return build(SourceConfig, raw, ("sources", name), path, locator, name=name)
