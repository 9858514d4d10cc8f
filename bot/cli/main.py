"""`ghsa-bot` (and `python -m bot`): serve, check-config, deliveries, advisories, export,
replay, and the governance commands (roster, report, nominations: bot/cli/governance.py)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import aiohttp
from gidgethub import GitHubException
from jwt.exceptions import InvalidKeyError

from bot.cli import governance as cli_governance
from bot.cli.advisories import cmd_advisories, cmd_export
from bot.cli.checks import bounded_int
from bot.cli.errors import CliError
from bot.cli.operate import cmd_check_config, cmd_deliveries, cmd_migrate
from bot.cli.replay import cmd_replay
from bot.cli.serve import cmd_serve
from bot.core import logs
from bot.core.config import ConfigError
from bot.core.env_file import SettingsError
from bot.core.logs import LEVELS, LogLevelError, parse_level
from bot.core.settings import read_environment
from bot.db.connection import StoreUnavailable
from bot.github.client import ForeignUrl, GitHubUnavailable, RateLimited
from bot.github.errors import error_summary
from bot.team.data import SourceError

MAX_LIMIT = 10_000  # deliveries --limit


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        logs.configure(args.log_level or _env_log_level())
        return int(args.func(args) or 0)
    except (
        CliError,
        SettingsError,
        ConfigError,
        SourceError,
        LogLevelError,
        cli_governance.GovernanceCliError,
    ) as error:
        return _fail(str(error))
    except StoreUnavailable as error:  # PostgreSQL down, not a database file, a folder
        detail = (str(error).strip().splitlines() or ["no answer"])[0]
        return _fail(f"store unavailable: {detail}")
    except (GitHubUnavailable, RateLimited, aiohttp.ClientError, TimeoutError) as error:
        # Before OSError: aiohttp's connection errors and TimeoutError are OSErrors too.
        return _fail(f"GitHub cannot be reached (GITHUB_API_URL): {error_summary(error)}")
    except OSError as error:  # a path that cannot be
        where = f"{error.filename}: " if error.filename else ""
        return _fail(f"{where}{error.strerror or type(error).__name__}")
    except (GitHubException, ForeignUrl) as error:
        return _fail(f"GitHub refused: {error_summary(error)}")
    except InvalidKeyError:
        return _fail(
            "the App's private key cannot sign (GITHUB_PRIVATE_KEY, GITHUB_PRIVATE_KEY_FILE "
            "or PRIVATE_KEY): not a PEM RSA private key"
        )
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        # A bug: the log line has its type and stack (never its message, which may
        # quote what was being handled); the console gets one line.
        logging.getLogger("ghsa_bot.cli").error("unexpected error", exc_info=error)
        print(
            f"ghsa-bot: unexpected error ({type(error).__name__}); the log line above says "
            "where it happened",
            file=sys.stderr,
        )
        return 1


def _fail(message: str) -> int:
    """The operator's one line; exit code 2."""
    line = " ".join(message.split()) or "failed"
    print(f"ghsa-bot: {line}", file=sys.stderr)
    return 2


def _env_log_level() -> str:
    """LOG_LEVEL from the environment or `.env` (the environment wins); INFO by default."""
    environment, _, _ = read_environment()
    return parse_level(environment.get("LOG_LEVEL") or "INFO")


def _level(raw: str) -> str:
    try:
        return parse_level(raw)
    except LogLevelError:
        raise argparse.ArgumentTypeError(f"not one of {', '.join(LEVELS)}: {raw!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ghsa-bot", description=__doc__)
    parser.add_argument(
        "--log-level",
        type=_level,
        metavar="{DEBUG,INFO,WARNING,ERROR}",
        help="overrides LOG_LEVEL (default INFO)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve webhooks (or the setup page)")
    serve.add_argument("--dry-run", action="store_true", help="print mutating GitHub requests")
    serve.add_argument("--port", type=bounded_int(1, 65535), help="override PORT")
    serve.set_defaults(func=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply the store's schema migrations and exit")
    migrate.set_defaults(func=cmd_migrate)

    check = commands.add_parser("check-config", help="validate settings and configuration")
    check.set_defaults(func=cmd_check_config)

    deliveries = commands.add_parser("deliveries", help="recent deliveries and their outcome")
    deliveries.add_argument("action", nargs="?", choices=["list", "retry"], default="list")
    deliveries.add_argument("guid", nargs="?")
    deliveries.add_argument(
        "--limit", type=bounded_int(1, MAX_LIMIT), default=30, help=f"1..{MAX_LIMIT} (30)"
    )
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


