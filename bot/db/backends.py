"""The two database backends: SQLite (embedded default) and PostgreSQL (replicas).

Both run the same SQL text: `?` placeholders and portable statements (ON
CONFLICT, partial indexes, CASE). A backend knows only what differs between
them: how to connect, how a transaction begins, how rows are claimed by one
process among several, and which of its errors mean "the store is unavailable".
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import zlib
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, unquote_plus, urlsplit

from bot.core.database_url import database_kind, sqlite_path
from bot.core.private_paths import make_private_folders

# The size the SQLite write-ahead log is cut back to when it starts over (bytes):
# nothing. Each restart (the first commit after a checkpoint has caught up) cuts
# the file to zero, so page images of purged text (a payload as it was inserted)
# do not outlive the next restart, and frames are written to fresh blocks.
WAL_SIZE_LIMIT = 0
# How long the database thread waits for a lock another process holds before the
# job fails as StoreUnavailable (seconds). The event loop never waits: its jobs run
# with a busy timeout of 0 and go to the thread when the database is locked.
THREAD_BUSY_TIMEOUT = 2.0
# How long the checkpoint connection waits for readers during the truncation on close.
CHECKPOINT_BUSY_TIMEOUT = 1.0
# A new database's folder and file: only the bot's user may read them (the store
# holds embargoed reports). SQLite gives -wal and -shm the database file's mode.
FOLDER_MODE = 0o700
FILE_MODE = 0o600


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What the store's SQL runs on: `sqlite3.Connection` or :class:`PostgresConnection`."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...

    def close(self) -> None: ...



class Backend:
    """What one backend does differently; the SQL and the store are shared."""

    # The column type of an auto-numbered primary key, for migrations.
    serial_pk = ""
    # Appended to a claim's SELECT so rows one process locks are skipped by others.
    skip_locked = ""
    # True when only one process may use the database: work left `running`
    # at start was a dead run of this same process, and is re-queued at once.
    single_process = True

    def connect(self) -> Connection:
        raise NotImplementedError

    def is_unavailable(self, error: BaseException) -> bool:
        """True for an error that means the database cannot be used right now."""
        raise NotImplementedError

    def is_busy(self, error: BaseException) -> bool:
        """True when another connection holds a lock the statement needed (SQLite)."""
        return False

    def is_broken(self, connection: Connection) -> bool:
        """True when the connection must be replaced before the next statement."""
        return False

    def lock_migrations(self, connection: Connection) -> contextlib.AbstractContextManager[None]:
        """Hold while migrating, so replicas starting together migrate once."""
        return contextlib.nullcontext()

    def describe(self) -> str:
        """The URL without credentials, for logs and `ghsa-bot migrate`."""
        raise NotImplementedError


class SqliteBackend(Backend):
    serial_pk = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, path: Path, *, synchronous: str = "NORMAL") -> None:
        self.path = path
        self.synchronous = synchronous

    @property
    def in_memory(self) -> bool:
        return str(self.path) == ":memory:"

    def connect(self) -> Connection:
        if not self.in_memory:
            self.create_file()
        connection = self._open(THREAD_BUSY_TIMEOUT)
        # Deleted and overwritten content (a delivery's payload once it is handled)
        # is zeroed in the page and in freed pages, not left for a reader of the file.
        connection.execute("PRAGMA secure_delete=ON")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={self.synchronous}")
        # Checkpoints run on their own thread (Database.checkpoint), not inside
        # whichever intake commit happens to fill the WAL.
        connection.execute("PRAGMA wal_autocheckpoint=0")
        # Once a checkpoint has caught up, the next commit starts the WAL over from
        # its beginning and SQLite cuts the file back to this size (zero). Without a
        # limit the file keeps its largest size for ever (measured: 467 MB after a
        # benchmark), a restart rewrites old blocks part by part (frames are 24 bytes
        # longer than a block: when the kernel has dropped those blocks from its
        # cache, each write first reads one from disk, on intake's path), and the
        # old frames keep what was purged since. Cutting to zero, rather than to
        # 4 MiB as before, measured p99 1.8 ms at 1,500/s against 2.2 ms
        # (benchmarks/RESULTS.md), and a checkpoint that truncates (which blocks
        # writers) is never needed while the bot runs.
        connection.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        connection.execute("PRAGMA foreign_keys=ON")
        return connection

    def connect_checkpointer(self) -> sqlite3.Connection:
        """The connection that copies the WAL back (Database.checkpoint), beside the
        writer's: it only runs checkpoints, and zeroes what they free as the writer does."""
        connection = self._open(CHECKPOINT_BUSY_TIMEOUT)
        connection.execute("PRAGMA secure_delete=ON")
        return connection

    def connect_reader(self) -> sqlite3.Connection:
        """A read-only connection beside the writer's (the intake journal's duplicate
        check, on the event loop): in WAL mode it never waits for the writer."""
        connection = self._open(0)
        connection.execute("PRAGMA query_only=ON")
        return connection

    def _open(self, busy_timeout: float) -> sqlite3.Connection:
        """A connection to the file in autocommit mode, usable from any one thread at a
        time, waiting up to `busy_timeout` seconds for another's lock."""
        return sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=busy_timeout
        )

    def create_file(self) -> None:
        """Create the folder (0700) and an empty database file (0600) before SQLite
        opens it, so neither is ever readable by others; existing ones are kept as
        they are (settings warn about loose modes)."""
        make_private_folders(self.path.parent)  # every folder it creates: 0700
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))

    def is_unavailable(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.DatabaseError) and not isinstance(
            error, sqlite3.IntegrityError
        )

    def is_busy(self, error: BaseException) -> bool:
        if not isinstance(error, sqlite3.OperationalError):
            return False
        code = getattr(error, "sqlite_errorcode", None)
        if isinstance(code, int):
            return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
        return "locked" in str(error) or "busy" in str(error)

    def describe(self) -> str:
        return f"sqlite:///{self.path}"


# Every PostgreSQL connection is bounded. The server cancels a statement that runs
# longer, gives up a lock wait, and ends a session left idle inside a transaction
# (a client gone silent mid-way), releasing its locks; migrations lift the first
# two (lock_migrations). A request's own wait is bounded apart (bot/web/routes.py).
SERVER_BOUNDS = {
    "statement_timeout": "10s",
    "lock_timeout": "5s",
    "idle_in_transaction_session_timeout": "15s",
}
# The network: probes on an idle connection after 10 s, every 3 s, 3 unanswered
# end it; data sent and not acknowledged for 10 s ends it too (a partition, a
# host gone), so the database thread never waits on a dead socket for the
# kernel's 15 minutes, and the connection is replaced on the next job.
TCP_BOUNDS: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}


class PostgresBackend(Backend):
    serial_pk = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    single_process = False

    def __init__(self, url: str, *, connect_timeout: int = 5) -> None:
        self.url = url
        self.connect_timeout = connect_timeout

    def connect_arguments(self) -> dict[str, Any]:
        """What every connection of the bot is opened with (the database thread's and
        intake's, see bot/db/group_commit.py): autocommit, and the bounds above."""
        from psycopg.conninfo import conninfo_to_dict  # SQLite installs need not load it

        # DATABASE_URL's own `options` (a search_path, say) are kept; the bounds
        # come after them, so the URL cannot lift them by accident.
        own_options = str(conninfo_to_dict(self.url).get("options") or "")
        bounds = " ".join(f"-c {name}={value}" for name, value in SERVER_BOUNDS.items())
        return {
            "autocommit": True,
            "connect_timeout": self.connect_timeout,
            "application_name": "ghsa-bot",
            "options": f"{own_options} {bounds}".strip(),
            **TCP_BOUNDS,
        }

    def connect(self) -> Connection:
        import psycopg

        return PostgresConnection(psycopg.connect(self.url, **self.connect_arguments()))

    def is_unavailable(self, error: BaseException) -> bool:
        import psycopg

        return isinstance(error, psycopg.Error) and not isinstance(error, psycopg.IntegrityError)

    def is_broken(self, connection: Connection) -> bool:
        assert isinstance(connection, PostgresConnection)
        return bool(connection.raw.closed or connection.raw.broken)

    @contextlib.contextmanager
    def lock_migrations(self, connection: Connection) -> Iterator[None]:
        lock = advisory_lock_id("ghsa-bot migrations")
        # A migration may take long, and waits for another replica's: unbounded.
        connection.execute("SET statement_timeout = 0")
        connection.execute("SET lock_timeout = 0")
        try:
            connection.execute("SELECT pg_advisory_lock(?)", (lock,))
            try:
                yield
            finally:
                connection.execute("SELECT pg_advisory_unlock(?)", (lock,))
        finally:
            connection.execute("RESET statement_timeout")
            connection.execute("RESET lock_timeout")

    def describe(self) -> str:
        """Scheme, host, port and database; never the credentials, never an exception."""
        scheme = "postgres" if self.url.startswith("postgres://") else "postgresql"
        try:
            parts = urlsplit(self.url)
            host = parts.hostname or "localhost"
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            return f"{scheme}://(a malformed URL)"
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://" + redact_credentials(f"{host}{port}{parts.path}", self.url)


class PostgresConnection:
    """A psycopg connection that takes the store's `?` placeholders."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        cursor: Cursor = self.raw.execute(placeholders(sql), parameters or None)
        return cursor

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor:
        cursor = self.raw.cursor()
        cursor.executemany(placeholders(sql), list(parameters))
        result: Cursor = cursor
        return result

    def close(self) -> None:
        self.raw.close()


def connection_is_serialized(connection: Connection) -> bool:
    """True when every write on this database is already serialized (SQLite)."""
    return not isinstance(connection, PostgresConnection)


def begin_statement(connection: Connection) -> str:
    """SQLite takes its one write lock at once; PostgreSQL locks row by row."""
    return "BEGIN" if isinstance(connection, PostgresConnection) else "BEGIN IMMEDIATE"


def transaction(connection: Connection, *, ordering_keys: Iterable[str] = ()) -> _Transaction:
    """`with transaction(c):` commits on success, rolls back on an exception.

    `ordering_keys` serializes it with other transactions on those keys (see
    :func:`lock_ordering_keys`).
    """
    return _Transaction(connection, ordering_keys)


class _Transaction:
    def __init__(self, connection: Connection, ordering_keys: Iterable[str]) -> None:
        self.connection = connection
        self.ordering_keys = ordering_keys

    def __enter__(self) -> Connection:
        self.connection.execute(begin_statement(self.connection))
        try:
            lock_ordering_keys(self.connection, self.ordering_keys)
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        return self.connection

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if kind is None:
            self.connection.execute("COMMIT")
        else:
            self.connection.execute("ROLLBACK")


def lock_ordering_keys(connection: Connection, keys: Iterable[str]) -> None:
    """Inside a transaction: serialize it with every other one touching the same keys.

    SQLite has one writer at a time already. On PostgreSQL, transaction-scoped
    advisory locks taken in one order by everyone: two replicas never deadlock,
    and never both see an ordering key free (one promoting the head of a key
    the other is finishing, bot/queue/heads.py).
    """
    if not isinstance(connection, PostgresConnection):
        return
    for lock in ordered_lock_ids(keys):
        connection.execute("SELECT pg_advisory_xact_lock(?)", (lock,))


def ordered_lock_ids(keys: Iterable[str]) -> list[int]:
    """The advisory locks of `keys`, in the one order every transaction takes them."""
    return sorted({advisory_lock_id(key) for key in keys})


@lru_cache(maxsize=512)
def placeholders(sql: str) -> str:
    """`?` to psycopg's `%s` (the store's SQL has no `?` or `%` inside literals)."""
    return sql.replace("%", "%%").replace("?", "%s")


def advisory_lock_id(key: str) -> int:
    """A stable signed 64-bit number for a PostgreSQL advisory lock."""
    high = zlib.crc32(key.encode())
    low = zlib.crc32(key.encode()[::-1])
    value = (high << 32) | low
    return value - (1 << 64) if value >= 1 << 63 else value


def url_credentials(url: str) -> tuple[frozenset[str], frozenset[str]]:
    """The user names and the passwords a PostgreSQL URL holds, raw and percent-decoded;
    it never raises, whatever the URL.

    The user information is read both up to the first `/` (as a URL parser reads
    it) and up to the last `@` (as the operator meant it, when the password holds
    a `/`), and from the `user` and `password` query parameters libpq takes.
    """
    if not url.startswith(("postgresql://", "postgres://")):
        return frozenset(), frozenset()
    location, _, query = url.partition("://")[2].partition("?")
    users: set[str] = set()
    passwords: set[str] = set()
    for userinfo in (
        location.split("/", 1)[0].rpartition("@")[0],
        location.rpartition("@")[0],
    ):
        user, _, password = userinfo.partition(":")
        users.add(user)
        passwords.add(password)
    for pair in query.partition("#")[0].split("&"):
        key, _, value = pair.partition("=")
        {"user": users, "password": passwords}.get(unquote_plus(key), set()).add(value)

    def forms(values: set[str]) -> frozenset[str]:
        decoded = {decode(value) for value in values for decode in (unquote, unquote_plus)}
        return frozenset(value for value in values | decoded if value)

    return forms(users), forms(passwords)


def redact_credentials(text: str, url: str) -> str:
    """`text` (a driver's error, a description) without the user name and password
    of the database URL `url`: a password wherever it appears, a user name as a word."""
    users, passwords = url_credentials(url)
    for password in sorted(passwords, key=len, reverse=True):
        text = text.replace(password, "***")
    for user in sorted(users, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(user)}(?!\w)", "***", text)
    return text


def backend_for(url: str, *, synchronous: str = "NORMAL") -> Backend:
    """The backend a DATABASE_URL names; raises UnsupportedDatabaseUrl otherwise."""
    if database_kind(url) == "sqlite":
        return SqliteBackend(sqlite_path(url), synchronous=synchronous)
    return PostgresBackend(url)


