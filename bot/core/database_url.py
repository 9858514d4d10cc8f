"""What a DATABASE_URL names, read without opening anything.

`bot.core.settings` checks it at start; `bot.db.backends` builds the backend
from it. Two forms: `sqlite:///path` (the embedded default) and
`postgresql://user@host:5432/db` (replicas).
"""

from __future__ import annotations

from pathlib import Path


class UnsupportedDatabaseUrl(ValueError):
    """DATABASE_URL names a backend the bot does not have."""


def database_kind(url: str) -> str:
    """`sqlite` or `postgresql`; UnsupportedDatabaseUrl for anything else (not echoed:
    the URL may hold a password)."""
    if url.startswith("sqlite://"):
        return "sqlite"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql"
    raise UnsupportedDatabaseUrl(
        "DATABASE_URL must start with sqlite:// (e.g. sqlite:///var/ghsa-bot.sqlite3) "
        "or postgresql:// (e.g. postgresql://bot@db.internal:5432/ghsa_bot)"
    )


def sqlite_path(url: str) -> Path:
    """`sqlite:///relative/path`, `sqlite:////absolute/path` or `sqlite://:memory:`."""
    rest = url.removeprefix("sqlite://")
    if rest in {"", ":memory:", "/:memory:"}:
        return Path(":memory:")
    return Path(rest.removeprefix("/")) if not rest.startswith("//") else Path(rest[1:])
