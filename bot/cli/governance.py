"""`ghsa-bot roster ...`, `ghsa-bot report ...` and `ghsa-bot nominations`: PEP 811 at a prompt.

- `roster check`: the canonical roster against the GitHub team and the published
  list, each difference with where to fix it (exit 1 when they differ);
- `roster export csv [--emeritus]`: the published list, from roster.toml;
- `roster import csv FILE [--emeritus FILE]`: roster.toml text from a published list;
- `report inactivity [--since DATE]`: Markdown for the steering council;
- `report year YYYY`: the year's figures;
- `nominations [show N]`: nominations and one's audit log (never ballots).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
import time
from pathlib import Path
from typing import Any

from bot.app import close_services, open_services
from bot.cli.checks import bounded_int, check_database, iso_date, require_app_credentials
from bot.core.config import load_config
from bot.core.settings import load_settings
from bot.github.installations import sync_all
from bot.governance.statistics import year_statistics
from bot.team.formats import RosterEntry, parse_psrt_csv
from bot.team.inactivity import gather_activity, inactivity_report, member_activity
from bot.team.roster import (
    canonical_entries,
    drift_report,
    export_csv,
    export_emeritus_csv,
    import_csv,
)


class GovernanceCliError(Exception):
    """A message for the operator (exit 2)."""


def add_commands(commands: Any) -> None:
    roster = commands.add_parser("roster", help="the canonical roster: check, export, import")
    roster_actions = roster.add_subparsers(dest="roster_action", required=True)
    check = roster_actions.add_parser("check", help="compare with the GitHub team and the CSV")
    check.set_defaults(func=cmd_roster_check)
    export = roster_actions.add_parser("export", help="write the published list (psrt.csv)")
    export.add_argument("format", choices=["csv"])
    export.add_argument("--emeritus", action="store_true", help="the emeritus list instead")
    export.set_defaults(func=cmd_roster_export)
    imported = roster_actions.add_parser("import", help="roster.toml text from psrt.csv files")
    imported.add_argument("format", choices=["csv"])
    imported.add_argument("file", type=Path)
    imported.add_argument("--emeritus", type=Path, help="psrt-emeritus.csv")
    imported.set_defaults(func=cmd_roster_import)

    report = commands.add_parser("report", help="PEP 811 reports: inactivity, year")
    kinds = report.add_subparsers(dest="report_kind", required=True)
    inactivity = kinds.add_parser("inactivity", help="members with no activity in the period")
    inactivity.add_argument("--since", type=iso_date, help="YYYY-MM-DD (default: a year ago)")
    inactivity.set_defaults(func=cmd_report_inactivity)
    year = kinds.add_parser("year", help="a year's advisories, timings and credits")
    year.add_argument("year", type=bounded_int(1970, 9999), help="YYYY")
    year.set_defaults(func=cmd_report_year)

    nominations = commands.add_parser("nominations", help="nominations, or one's audit log")
    nominations.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    nominations.add_argument("id", nargs="?", type=bounded_int(1, 2**63 - 1), help="for show")
    nominations.set_defaults(func=cmd_nominations)


def _config() -> Any:
    return load_config(load_settings().config_dir)


def cmd_roster_export(args: argparse.Namespace) -> int:
    notes = _config().coordinators.roster
    if not notes.canonical:
        raise GovernanceCliError(
            f"{notes.path or 'roster.toml'} is not canonical (canonical = true); "
            "`ghsa-bot roster import csv` writes one from the published list"
        )
    text = (
        export_emeritus_csv(notes.emeritus)
        if args.emeritus
        else export_csv(canonical_entries(notes))
    )
    sys.stdout.write(text)
    return 0


def _read_roster_csv(path: Path, *, login_required: bool = True) -> list[RosterEntry]:
    try:
        return parse_psrt_csv(path.read_text(encoding="utf-8"), login_required=login_required)
    except (OSError, UnicodeDecodeError) as error:
        raise GovernanceCliError(f"{path}: cannot read it ({error})") from None
    except ValueError as error:
        raise GovernanceCliError(f"{path}: {error}") from None


def cmd_roster_import(args: argparse.Namespace) -> int:
    members = _read_roster_csv(args.file)
    former = _read_roster_csv(args.emeritus, login_required=False) if args.emeritus else []
    sys.stdout.write(import_csv(members, former))
    return 0


def cmd_roster_check(args: argparse.Namespace) -> int:
    return asyncio.run(_roster_check())


async def _roster_check() -> int:
    settings = load_settings()
    require_app_credentials(settings, "roster check")
    check_database(settings, create=True)  # only the installations it reads from GitHub
    services = await open_services(
        settings, load_config(settings.config_dir), start_worker=False, start_background=False
    )
    try:
        await sync_all(services.github, services.installations, now=time.time())
        drift, places, problems = await services.team_data.check_roster(time.time())
    finally:
        await close_services(services)
    print(drift_report(drift, places))
    for problem in problems:
        print(f"not checked: {problem}", file=sys.stderr)
    return 1 if drift or problems else 0


def cmd_report_inactivity(args: argparse.Namespace) -> int:
    return asyncio.run(_report_inactivity(args.since))


async def _report_inactivity(since: datetime.date | None) -> int:
    settings = load_settings()
    config = load_config(settings.config_dir)
    require_app_credentials(settings, "report inactivity")
    check_database(settings, create=True)  # only the installations it reads from GitHub
    until = datetime.datetime.now(datetime.UTC).date()
    since = since or until.replace(year=until.year - 1)
    services = await open_services(settings, config, start_worker=False, start_background=False)
    try:
        await sync_all(services.github, services.installations, now=time.time())
        await services.team_data.refresh_due(time.time())
        clients = await services.team_data.advisory_clients()
        activity = await gather_activity(clients, since.isoformat())
        rows = member_activity(services.team_data.roster(), config.coordinators.roster, activity)
    finally:
        await close_services(services)
    sys.stdout.write(inactivity_report(config.team.name, rows, since=since, until=until))
    return 0


def cmd_report_year(args: argparse.Namespace) -> int:
    return asyncio.run(_report_year(args.year))


async def _report_year(year: int) -> int:
    settings = load_settings()
    config = load_config(settings.config_dir)
    check_database(settings, create=False)
    services = await open_services(settings, config, start_worker=False, start_background=False)
    try:
        records = await services.advisories.all_advisories()
        published = await services.advisories.published()
    finally:
        await close_services(services)
    figures = year_statistics(
        year, records, published, response_days=config.policy.response_days, now=time.time()
    )
    sys.stdout.write(figures.markdown(config.team.name))
    return 0


def cmd_nominations(args: argparse.Namespace) -> int:
    return asyncio.run(_nominations(args))


async def _nominations(args: argparse.Namespace) -> int:
    settings = load_settings()
    config = load_config(settings.config_dir)
    if args.action == "show" and args.id is None:
        raise GovernanceCliError("usage: ghsa-bot nominations show N (N from `nominations`)")
    check_database(settings, create=False)
    services = await open_services(settings, config, start_worker=False, start_background=False)
    try:
        if args.action == "show":
            nomination = await services.governance.get(args.id)
            if nomination is None:
                raise GovernanceCliError(f"no nomination {args.id}")
            print(f"nomination {nomination.id}: @{nomination.nominee} ({nomination.state})")
            log = await services.advisories.audit_log(nomination.repository, nomination.subject)
            for entry in log:
                when = datetime.datetime.fromtimestamp(entry.at, datetime.UTC)
                print(f"  {when:%Y-%m-%d %H:%M} {entry.action}: {entry.reason}")
            return 0
        nominations = await services.governance.nominations()
        if not nominations:
            print("no nominations")
        for nomination in nominations:
            closes = datetime.datetime.fromtimestamp(nomination.closes_at, datetime.UTC)
            print(
                f"{nomination.id}\t@{nomination.nominee}\t{nomination.state}\t"
                f"closes {closes:%Y-%m-%d %H:%M} UTC\t"
                f"{nomination.repository}#{nomination.issue_number}"
            )
    finally:
        await close_services(services)
    return 0
