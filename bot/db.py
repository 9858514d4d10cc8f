"""The database connection: one thread owns it, coroutines hand it work.

SQLite is the embedded default. Statements use `?` placeholders and portable
SQL (ON CONFLICT, partial indexes) so another backend can run the same text.
Migrations are versioned and applied on open.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class StoreUnavailable(Exception):
    """The database cannot be reached or written; callers answer 503."""


MIGRATIONS: Sequence[tuple[int, str]] = (
    (
        1,
        """
        CREATE TABLE deliveries (
            seq {serial_pk},
            guid TEXT NOT NULL UNIQUE,
            event TEXT NOT NULL,
            action TEXT,
            installation_id BIGINT,
            order_key TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT 'webhook',
            payload TEXT NOT NULL,
            received_at DOUBLE PRECISION NOT NULL,
            state TEXT NOT NULL DEFAULT 'queued',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at DOUBLE PRECISION NOT NULL,
            lease_owner TEXT,
            lease_until DOUBLE PRECISION,
            finished_at DOUBLE PRECISION,
            duration_ms DOUBLE PRECISION,
            last_error TEXT
        );
        CREATE INDEX deliveries_by_state ON deliveries (state, seq);
        CREATE INDEX deliveries_by_key ON deliveries (order_key, state, seq);
        CREATE INDEX deliveries_received ON deliveries (received_at);
        CREATE TABLE handler_runs (
            guid TEXT NOT NULL,
            handler TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            PRIMARY KEY (guid, handler)
        );
        CREATE TABLE installations (
            id BIGINT PRIMARY KEY,
            account_login TEXT NOT NULL,
            account_type TEXT,
            repository_selection TEXT,
            suspended INTEGER NOT NULL DEFAULT 0,
            updated_at DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE repositories (
            id BIGINT PRIMARY KEY,
            installation_id BIGINT NOT NULL,
            full_name TEXT NOT NULL,
            private INTEGER NOT NULL DEFAULT 0,
            updated_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX repositories_installation ON repositories (installation_id);
        """,
    ),
    (
        2,
        """
        CREATE TABLE advisories (
            repository TEXT NOT NULL,
            ghsa_id TEXT NOT NULL,
            installation_id BIGINT NOT NULL,
            state TEXT NOT NULL,
            reporter TEXT,
            coordinator TEXT,
            received_at DOUBLE PRECISION NOT NULL,
            acknowledged_at DOUBLE PRECISION,
            last_activity_at DOUBLE PRECISION NOT NULL,
            github_updated_at TEXT,
            fingerprint TEXT,
            PRIMARY KEY (repository, ghsa_id)
        );
        CREATE INDEX advisories_state ON advisories (state);
        CREATE TABLE audit_log (
            id {serial_pk},
            repository TEXT NOT NULL,
            ghsa_id TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL,
            action TEXT NOT NULL,
            reason TEXT NOT NULL,
            delivery TEXT
        );
        CREATE INDEX audit_log_advisory ON audit_log (repository, ghsa_id, id);
        CREATE TABLE effects (
            effect_key TEXT PRIMARY KEY,
            at DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE poll_cursors (
            repository TEXT PRIMARY KEY,
            newest_updated_at TEXT NOT NULL
        );
        """,
    ),
    (
        3,
        """
        ALTER TABLE advisories ADD COLUMN completed_at DOUBLE PRECISION;
        ALTER TABLE advisories ADD COLUMN final_credits TEXT;
        """,
    ),
    (
        4,
        """
        ALTER TABLE advisories ADD COLUMN last_reminder_at DOUBLE PRECISION;
        ALTER TABLE advisories ADD COLUMN human_acknowledged_at DOUBLE PRECISION;
        """,
    ),
    (
        5,
        """
        ALTER TABLE advisories ADD COLUMN coordinator_since DOUBLE PRECISION;
        CREATE INDEX advisories_coordinator ON advisories (coordinator);
        """,
    ),
    (
        6,
        """
        CREATE TABLE command_runs (
            comment_id BIGINT NOT NULL,
            command_key TEXT NOT NULL,
            position INTEGER NOT NULL,
            command_text TEXT NOT NULL,
            outcome TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (comment_id, command_key)
        );
        CREATE TABLE command_replies (
            comment_id BIGINT PRIMARY KEY,
            reply_id BIGINT NOT NULL
        );
        """,
    ),
    (
        7,
        """
        CREATE TABLE member_leave (
            login TEXT PRIMARY KEY,
            until TEXT NOT NULL
        );
        """,
    ),
    (
        8,
        """
        CREATE TABLE advisory_fixes (
            repository TEXT NOT NULL,
            ghsa_id TEXT NOT NULL,
            pr_repository TEXT NOT NULL,
            pr_number INTEGER NOT NULL,
            merge_commit TEXT,
            merged_at DOUBLE PRECISION,
            PRIMARY KEY (repository, ghsa_id, pr_repository, pr_number)
        );
        CREATE INDEX advisory_fixes_pr ON advisory_fixes (pr_repository, pr_number);
        """,
    ),
    (
        9,
        """
        ALTER TABLE advisories ADD COLUMN credits TEXT;
        ALTER TABLE advisories ADD COLUMN public_record TEXT;
        CREATE TABLE cve_reservations (
            cve_id TEXT PRIMARY KEY,
            repository TEXT NOT NULL,
            ghsa_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            state TEXT NOT NULL,
            reserved_at DOUBLE PRECISION NOT NULL,
            changed_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX cve_reservations_advisory ON cve_reservations (repository, ghsa_id);
        CREATE TABLE record_ids (
            prefix TEXT NOT NULL,
            year INTEGER NOT NULL,
            number INTEGER NOT NULL,
            repository TEXT NOT NULL,
            ghsa_id TEXT NOT NULL,
            PRIMARY KEY (prefix, year, number),
            UNIQUE (prefix, repository, ghsa_id)
        );
        """,
    ),
)


def sqlite_path(url: str) -> Path:
    """`sqlite:///relative/path`, `sqlite:////absolute/path` or `sqlite://:memory:`."""
    if not url.startswith("sqlite://"):
        raise ValueError(
            f"DATABASE_URL {url!r} is not supported yet; use sqlite:///path/to/file.sqlite3"
        )
    rest = url.removeprefix("sqlite://")
    if rest in {"", ":memory:", "/:memory:"}:
        return Path(":memory:")
    return Path(rest.removeprefix("/")) if not rest.startswith("//") else Path(rest[1:])


class Database:
    """A SQLite connection confined to one worker thread."""

    def __init__(self, url: str, *, synchronous: str = "NORMAL") -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._synchronous = synchronous
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._connection: sqlite3.Connection | None = None
        self._checkpointer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ghsa-bot-wal")
        self._checkpoint_connection: sqlite3.Connection | None = None
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailable("the store is closed")
        if self._connection is None:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=10
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA synchronous={self._synchronous}")
            # Checkpoints run on their own thread (see checkpoint()), not inside
            # whichever intake commit happens to fill the WAL.
            connection.execute("PRAGMA wal_autocheckpoint=0")
            connection.execute("PRAGMA foreign_keys=ON")
            self._connection = connection
        return self._connection

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(connection)` on the database thread."""
        return await self._submit(work, None, None)  # type: ignore[no-any-return]

    async def run_batched(self, batch: Callable[..., list[Any]], item: Any) -> Any:
        """Queue `item` for `batch`; items queued together share one call (group commit).

        `batch(connection, rows=items)` returns one result per item, in order.
        """
        return await self._submit(None, batch, item)

    async def _submit(self, work: Any, batch: Any, item: Any) -> Any:
        if self._closed:
            raise StoreUnavailable("the store is closed")
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="ghsa-bot-db", daemon=True)
            self._thread.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._jobs.put(_Job(work, batch, item, future, loop))
        return await future

    def _serve(self) -> None:
        """The database thread: take every queued job, run it, answer once per round."""
        while True:
            first = self._jobs.get()
            jobs = [first]
            while jobs[-1] is not None and len(jobs) < _ROUND_LIMIT:
                try:
                    jobs.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            stop = jobs[-1] is None
            # Batched jobs (webhook intake) go first and are answered before the rest
            # of the round runs: a 202 does not wait behind the worker's writes. Jobs
            # in one round were all submitted before any of them was answered, so
            # none depends on another's effect and the order among them is free.
            batched = [job for job in jobs if job is not None and job.batch is not None]
            others = [job for job in jobs if job is not None and job.batch is None]
            for group in (batched, others):
                if group:
                    _answer(self._run_round(group))
            if stop:
                if self._connection is not None:
                    self._connection.close()
                    self._connection = None
                return

    def _run_round(self, jobs: list[_Job]) -> list[_Answer]:
        answers: list[_Answer] = []
        index = 0
        while index < len(jobs):
            job = jobs[index]
            if job.batch is None:
                try:
                    answers.append((job, True, self._call(job.work)))
                except Exception as error:
                    answers.append((job, False, error))
                index += 1
                continue
            group = [job]
            while index + len(group) < len(jobs) and jobs[index + len(group)].batch is job.batch:
                group.append(jobs[index + len(group)])
            items = [member.item for member in group]
            try:
                results = self._call(partial(job.batch, rows=items))
                answers.extend(
                    (member, True, result) for member, result in zip(group, results, strict=True)
                )
            except Exception as error:
                answers.extend((member, False, error) for member in group)
            index += len(group)
        return answers

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return work(self._connect())
        except sqlite3.OperationalError as error:
            raise StoreUnavailable(f"database error: {error}") from error
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.IntegrityError):
                raise
            raise StoreUnavailable(f"database error: {error}") from error

    async def checkpoint(self) -> None:
        """Copy the WAL into the database file, without blocking the writer thread.

        A PASSIVE checkpoint on a connection of its own: commits go on while it
        runs, and its fsync of the database file is not on any request's path.
        """
        if str(self.path) == ":memory:" or self._closed:
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._checkpointer, self._checkpoint)

    def _checkpoint(self) -> None:
        if self._checkpoint_connection is None:
            self._checkpoint_connection = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=10
            )
        # On failure the next run tries again; the writer is unaffected.
        with contextlib.suppress(sqlite3.Error):
            self._checkpoint_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

    async def migrate(self) -> list[int]:
        return await self.run(apply_migrations)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def close_checkpointer() -> None:
            if self._checkpoint_connection is not None:
                self._checkpoint_connection.close()
                self._checkpoint_connection = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._checkpointer, close_checkpointer)
        self._checkpointer.shutdown(wait=True)
        if self._thread is not None:
            self._jobs.put(None)
            await loop.run_in_executor(None, self._thread.join)
        else:
            self._connection = None


_ROUND_LIMIT = 512
_Answer = tuple["_Job", bool, Any]


@dataclass(frozen=True)
class _Job:
    work: Any
    batch: Any
    item: Any
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _answer(answers: list[_Answer]) -> None:
    """From the database thread: wake each waiting loop once with its answers."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Answer]] = {}
    for answer in answers:
        by_loop.setdefault(answer[0].loop, []).append(answer)
    for loop, batch in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is gone
            loop.call_soon_threadsafe(_deliver, batch)


def _deliver(answers: list[_Answer]) -> None:
    """On the event loop: hand each waiting coroutine its result."""
    for job, ok, value in answers:
        if job.future.done():
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


def transaction(connection: sqlite3.Connection) -> _Transaction:
    return _Transaction(connection)


class _Transaction:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> sqlite3.Connection:
        self.connection.execute("BEGIN IMMEDIATE")
        return self.connection

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if kind is None:
            self.connection.execute("COMMIT")
        else:
            self.connection.execute("ROLLBACK")


def apply_migrations(connection: sqlite3.Connection) -> list[int]:
    """Apply every migration not yet recorded; return the versions applied."""
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, applied_at TEXT DEFAULT CURRENT_TIMESTAMP)"
    )
    done = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
    applied = []
    for version, script in MIGRATIONS:
        if version in done:
            continue
        sql = script.format(serial_pk="INTEGER PRIMARY KEY AUTOINCREMENT")
        with transaction(connection):
            for statement in sql.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute("INSERT INTO schema_migrations (version) VALUES (?)", (version,))
        applied.append(version)
    return applied
