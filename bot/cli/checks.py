"""What a command checks before it starts: options, App credentials, the database's path.

Each failure is one line for the operator and exit code 2: argparse's own error
for an option (`bounded_int`, `iso_date`), a CliError for the rest.
"""

from __future__ import annotations

import argparse
import datetime
import os
from collections.abc import Callable
from pathlib import Path

from bot.cli.errors import CliError
from bot.core.database_url import database_kind, sqlite_path
from bot.core.settings import Settings


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`."""

    def parse(raw: str) -> int:
        try:
            value = int(raw.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low}..{high}, got {value}")
        return value

    parse.__name__ = "whole number"  # argparse names the type by it in errors
    return parse


def iso_date(raw: str) -> datetime.date:
    """An argparse type: YYYY-MM-DD, not after today (UTC)."""
    try:
        value = datetime.date.fromisoformat(raw.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {raw!r}") from None
    if value > datetime.datetime.now(datetime.UTC).date():
        raise argparse.ArgumentTypeError(f"{value} is in the future")
    return value


def require_app_credentials(settings: Settings, command: str) -> None:
    """`command` reads GitHub as the App: it needs the App's id and private key."""
    missing = []
    if not settings.app_id:
        missing.append("GITHUB_APP_ID (or APP_ID)")
    if not settings.private_key:
        missing.append("GITHUB_PRIVATE_KEY, GITHUB_PRIVATE_KEY_FILE (or PRIVATE_KEY)")
    if missing:
        raise CliError(
            f"{command} reads GitHub as the App and needs its credentials: missing "
            + " and ".join(missing)
        )


def check_database(settings: Settings, *, create: bool) -> None:
    """A SQLite DATABASE_URL that cannot be used, said before anything opens it.

    `create`: the command may create the database (serve, migrate, replay); the
    others only read one, and a file that is not there is an error, not a new
    empty database (a typo, another working directory). PostgreSQL is checked by
    connecting (StoreUnavailable, one line too). Nothing is created here.
    """
    if database_kind(settings.database_url) != "sqlite":
        return
    path = sqlite_path(settings.database_url)
    if str(path) == ":memory:" or os.path.lexists(path):
        return  # an existing path: opening it says what is wrong with it, if anything
    folder = _first_existing(path.parent)
    if not folder.is_dir():
        raise CliError(f"DATABASE_URL: {path} cannot be a database: {folder} is not a folder")
    if not create:
        raise CliError(
            f"DATABASE_URL: no database at {path}; `ghsa-bot migrate` (or serve) creates it"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CliError(f"DATABASE_URL: cannot create {path}: {folder} is not writable")


def _first_existing(folder: Path) -> Path:
    absolute = Path(os.path.abspath(folder))
    while not os.path.lexists(absolute) and absolute.parent != absolute:
        absolute = absolute.parent
    return absolute
