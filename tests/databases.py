"""Which database the tests run on: SQLite, or PostgreSQL when BOT_TEST_DATABASE_URL is set.

On PostgreSQL each test gets a schema of its own in the given database
(`search_path` set through the URL's `options`), dropped afterwards, so tests
never see each other's rows and need no server-side set-up beyond the database.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

ENVIRONMENT_VARIABLE = "BOT_TEST_DATABASE_URL"


def postgres_base_url() -> str | None:
    return os.environ.get(ENVIRONMENT_VARIABLE) or None


def backend_name() -> str:
    return "postgresql" if postgres_base_url() else "sqlite"


def with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


@contextlib.contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh, empty schema; yields a DATABASE_URL that uses it."""
    import psycopg

    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base_url, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(base_url, schema)
    finally:
        with psycopg.connect(base_url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextlib.contextmanager
def fresh_database(directory: Path, name: str = "bot") -> Iterator[str]:
    """A DATABASE_URL for one test on the backend under test."""
    base = postgres_base_url()
    if base is None:
        yield f"sqlite:///{directory}/{name}.sqlite3"
        return
    with postgres_schema(base) as url:
        yield url


def query(url: str, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Read rows from the bot's database directly, as another process would (read-only)."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            return [tuple(row) for row in connection.execute(sql, args).fetchall()]
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(sql.replace("?", "%s"), tuple(args) or None).fetchall()
    return [tuple(row) for row in rows]


def has_tables(url: str) -> bool:
    """True once the bot has created its schema in this database."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).exists()
    return bool(query(url, "SELECT 1 FROM pg_tables WHERE schemaname = current_schema()"))


def needs_postgres() -> Any:
    """Mark a test that needs several processes on one database: the PostgreSQL leg runs it."""
    return only_on("postgresql")


def only_on(backend: str) -> Any:
    """Mark a test that belongs to one database leg of scripts/test (`sqlite` or
    `postgresql`): the other leg deselects it and says how many it left to this one,
    so a leg never reports a skip for a test the other leg runs."""
    import pytest

    return pytest.mark.database_leg(backend)


def owner_pid(owner: str) -> int:
    """The pid in a lease owner's name (`role@host:pid:nonce`, see bot.logs.process_owner)."""
    return int(owner.rsplit(":", 2)[1])


@contextlib.contextmanager
def locked_by_another_process(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection on the bot's file holding its write lock (BEGIN EXCLUSIVE)."""
    other = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield other
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()
