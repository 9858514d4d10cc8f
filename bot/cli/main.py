"""`ghsa-bot` (and `python -m bot`): serve, check-config, deliveries, advisories, export,
replay, and the governance commands (roster, report, nominations: bot/cli/governance.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.cli import governance as cli_governance
from bot.cli.advisories import cmd_advisories, cmd_export
from bot.cli.errors import CliError
from bot.cli.operate import cmd_check_config, cmd_deliveries, cmd_migrate
from bot.cli.replay import cmd_replay
from bot.cli.serve import cmd_serve
from bot.core import logs
from bot.core.config import ConfigError
from bot.core.settings import SettingsError
from bot.db.connection import StoreUnavailable
from bot.team.data import SourceError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logs.configure(getattr(args, "log_level", "INFO"))
    try:
        return int(args.func(args) or 0)
    except (
        CliError,
        SettingsError,
        ConfigError,
        SourceError,
        cli_governance.GovernanceCliError,
    ) as error:
        print(f"ghsa-bot: {error}", file=sys.stderr)
        return 2
    except StoreUnavailable as error:  # PostgreSQL down, not a database file, a folder
        detail = (str(error).strip().splitlines() or ["no answer"])[0]
        print(f"ghsa-bot: store unavailable: {detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ghsa-bot", description=__doc__)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve webhooks (or the setup page)")
    serve.add_argument("--dry-run", action="store_true", help="print mutating GitHub requests")
    serve.add_argument("--port", type=int, help="override PORT")
    serve.set_defaults(func=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply the store's schema migrations and exit")
    migrate.set_defaults(func=cmd_migrate)

    check = commands.add_parser("check-config", help="validate settings and configuration")
    check.set_defaults(func=cmd_check_config)

    deliveries = commands.add_parser("deliveries", help="recent deliveries and their outcome")
    deliveries.add_argument("action", nargs="?", choices=["list", "retry"], default="list")
    deliveries.add_argument("guid", nargs="?")
    deliveries.add_argument("--limit", type=int, default=30)
    deliveries.set_defaults(func=cmd_deliveries)

    advisories = commands.add_parser(
        "advisories", help="open advisories, or one with its audit log"
    )
    advisories.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    advisories.add_argument("ghsa_id", nargs="?")
    advisories.set_defaults(func=cmd_advisories)

    export = commands.add_parser(
        "export", help="an advisory's OSV or CVE JSON 5 record, validated against its schema"
    )
    export.add_argument("kind", choices=["osv", "cve"])
    export.add_argument("ghsa_id")
    export.add_argument("--output", type=Path, help="write FOLDER/KIND/ID.json, not stdout")
    export.set_defaults(func=cmd_export)

    replay = commands.add_parser("replay", help="feed a recorded delivery through the bot")
    replay.add_argument("file", type=Path)
    replay.add_argument("--dry-run", action="store_true", help="print mutating requests")
    replay.add_argument(
        "--no-signature-check",
        action="store_true",
        help="replay a file whose signature cannot be checked (GitHub's API form): its "
        "events act as whoever they name, so only for files you got from GitHub yourself",
    )
    replay.set_defaults(func=cmd_replay)
    cli_governance.add_commands(commands)
    return parser


