"""The database connection: a database thread runs coroutines' work on it.

SQLite is the embedded default, PostgreSQL serves several replicas; both run
the same SQL (see bot/db/backends.py). Migrations are versioned and applied on
open (bot/db/migrations.py). A lost PostgreSQL connection is replaced on the next
job; until then every job answers StoreUnavailable, and intake answers 503.
PostgreSQL intake does not come here: it has a connection of its own on the
event loop (bot/db/group_commit.py).

Webhook intake and the queue's own bookkeeping (claim, complete, lease renewal:
`run_short`) take a shortcut on SQLite: the jobs submitted in one turn of the
event loop are run by the loop itself, intake's in one commit, when the database
thread is not using the connection at that moment. A local commit without fsync
takes tens of microseconds; handing it to the thread and back costs two thread
wake-ups and two GIL hand-overs, which on a busy 2-core machine were most of an
acknowledgement's tail, and while the thread waited for the GIL it held the
connection, so intake queued behind it. While the thread has the connection,
the jobs wait in one line (bot/db/jobs.py) that whoever holds the connection
next runs first: the loop, which the thread wakes as it lets go, or the thread
before each of its own jobs. Taken from that one line, deliveries are stored in
the order they arrived whoever stores them.

The event loop never waits on a lock: its jobs run with `busy_timeout=0`, and
one that finds the database locked by another process (SQLITE_BUSY) goes back
to the front of the line, which is then the thread's until its next take; the
thread waits up to THREAD_BUSY_TIMEOUT, then answers StoreUnavailable (and tries
the rest of that take without waiting: a read still succeeds). A loop
job must therefore be safe to run again after a busy error: each takes the
write lock before it writes (BEGIN IMMEDIATE, or one autocommit statement), or
repeats idempotent updates.

Purged text (a handled delivery's payload) is zeroed in the pages
(`secure_delete`); the write-ahead log that still holds the old page images is
cut to zero bytes each time it starts over (`journal_size_limit=0`, bot/db/backends.py:
the first commit after a checkpoint has caught up, every few hundred milliseconds
while anything is written, and the leader renews its lease every few seconds), and
truncated once more on close. A checkpoint that truncates blocks writers (measured:
p99 acks of 55 ms at 1,500/s when it ran every 5 s), so it is not run while serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, NoReturn, TypeVar

from bot.core.errors import SafeMessage
from bot.db.backends import (
    THREAD_BUSY_TIMEOUT,
    Backend,
    Connection,
    SqliteBackend,
    backend_for,
    redact_credentials,
    transaction,
)
from bot.db.jobs import Answer, Job, ParkedJobs, answer_from_thread, deliver
from bot.db.migrations import apply_migrations

__all__ = ["Connection", "Database", "StoreUnavailable", "transaction"]

T = TypeVar("T")

# Busy timeouts (ms): the event loop never sleeps in SQLite's busy handler; the
# database thread may.
LOOP_BUSY_TIMEOUT_MS = 0
THREAD_BUSY_TIMEOUT_MS = int(THREAD_BUSY_TIMEOUT * 1000)


class StoreUnavailable(SafeMessage, Exception):
    """The database cannot be reached or written; callers answer 503."""


class _Busy(Exception):
    """A job on the event loop found the database locked: the thread runs it instead."""


class Database:
    """One database connection, used by one thread at a time (see the module docstring)."""

    def __init__(self, url: str, *, synchronous: str = "NORMAL") -> None:
        self.url = url
        self.backend: Backend = backend_for(url, synchronous=synchronous)
        # The database thread and its connection. On PostgreSQL the queue's own
        # bookkeeping (`run_short`: claims, completions, leases) has a second one,
        # so it never waits behind a scan; SQLite has one writer anyway.
        self._main = _Lane("ghsa-bot-db")
        self._short = (
            self._main if self.backend.single_process else _Lane("ghsa-bot-db-short")
        )
        self._checkpointer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ghsa-bot-wal")
        self._checkpoint_connection: sqlite3.Connection | None = None
        self._closed = False
        self._short_jobs_on_loop = isinstance(self.backend, SqliteBackend)
        # This turn's loop jobs, by event loop, until they join the line.
        self._loop_jobs: dict[asyncio.AbstractEventLoop, list[Job]] = {}
        self._parked = ParkedJobs()  # SQLite: loop jobs waiting for the connection

    @property
    def single_process(self) -> bool:
        """True when no other process shares this database (SQLite)."""
        return self.backend.single_process

    @property
    def has_wal(self) -> bool:
        """True for a SQLite file, whose write-ahead log `checkpoint` copies back."""
        return isinstance(self.backend, SqliteBackend) and not self.backend.in_memory

    def _connect(self, lane: _Lane) -> Connection:
        if self._closed:
            raise StoreUnavailable("the store is closed")
        if lane.connection is None:
            lane.connection = self.backend.connect()
            lane.busy_timeout_ms = None
        return lane.connection

    def _use_busy_timeout(self, lane: _Lane, connection: Connection, milliseconds: int) -> None:
        if self._short_jobs_on_loop and lane.busy_timeout_ms != milliseconds:
            connection.execute(f"PRAGMA busy_timeout={milliseconds:d}")
            lane.busy_timeout_ms = milliseconds

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work(connection)` on the database thread."""
        return await self._submit(work, None, None)  # type: ignore[no-any-return]

    async def run_short(self, work: Callable[[Connection], T]) -> T:
        """Run `work(connection)`: a few statements on indexed rows, never a scan.

        On SQLite the event loop runs it itself when the connection is free (see
        the module's docstring); otherwise, and on PostgreSQL, as `run`.
        """
        return await self._submit(work, None, None, short=True)  # type: ignore[no-any-return]

    async def run_batched(self, batch: Callable[..., list[Any]], item: Any) -> Any:
        """Queue `item` for `batch`; items queued together share one call (group commit).

        `batch(connection, rows=items)` returns one result per item, in order.
        """
        return await self._submit(None, batch, item)

    async def _submit(self, work: Any, batch: Any, item: Any, *, short: bool = False) -> Any:
        if self._closed:
            raise StoreUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        job = Job(work, batch, item, future, loop)
        if (batch is not None or short) and self._short_jobs_on_loop:
            # Collect this turn's jobs; the callback runs once they are all in.
            pending = self._loop_jobs.get(loop)
            if pending is None:
                pending = self._loop_jobs[loop] = []
                loop.call_soon(self._run_on_loop, loop)
            pending.append(job)
        else:
            self._to_thread(job, self._short if short else self._main)
        return await future

    def _to_thread(self, job: object, lane: _Lane | None = None) -> None:
        lane = lane or self._main
        if lane.thread is None:
            lane.thread = threading.Thread(
                target=self._serve, args=(lane,), name=lane.name, daemon=True
            )
            lane.thread.start()
        lane.jobs.put(job)

    def _run_on_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """On `loop`, once this turn's short jobs are in: they join the line for the
        connection, and the loop runs the line if it may."""
        jobs = self._loop_jobs.pop(loop, [])
        if self._closed:
            _refuse_closed(jobs)
        elif self._parked.add(jobs, loop):
            self._run_parked()

    def _run_parked(self) -> None:
        """On the event loop: run the waiting jobs if the connection is free. If it
        is not, the thread runs them before its next job, or wakes the loop as it
        lets go. Jobs that find the database locked by another process go back to
        the front of the line for the thread: the loop never waits."""
        if self._closed:
            _refuse_closed(self._parked.drain())
            return
        loop = asyncio.get_running_loop()
        self._parked.turn_begins(loop)
        if not self._main.lock.acquire(blocking=False):
            return
        try:
            jobs = self._parked.take(_ROUND_LIMIT, by_thread=False)
            answers, locked = self._run_round(jobs, self._main, on_loop=True)
            if locked:
                self._parked.put_back(locked)
        finally:
            self._main.lock.release()
        if locked:
            self._to_thread(_WAKE)
        elif len(self._parked):
            loop.call_soon(self._run_parked)  # the rest, next turn
        deliver(answers)

    def _serve(self, lane: _Lane) -> None:
        """A database thread: take every queued job, run it, answer it."""
        while True:
            first = lane.jobs.get()
            taken = [first]
            while taken[-1] is not None and len(taken) < _ROUND_LIMIT:
                try:
                    taken.append(lane.jobs.get_nowait())
                except queue.Empty:
                    break
            stop = taken[-1] is None
            jobs = [job for job in taken if isinstance(job, Job)]
            # Jobs in one round were all submitted before any of them was answered,
            # so none depends on another's effect and the order among them is free.
            # On SQLite (intake comes through the line there, never this queue) the
            # line runs before each of the thread's jobs (one may take seconds), so
            # they run one at a time; a wake with no job of its own runs the line
            # alone. On PostgreSQL batched jobs (intake) go first, as one group
            # answered before the rest run: a 202 does not wait behind the worker.
            line = self._short_jobs_on_loop and lane is self._main
            if line:
                groups = [[job] for job in jobs] or [[]]
            else:
                batched = [job for job in jobs if job.batch is not None]
                others = [job for job in jobs if job.batch is None]
                groups = [group for group in (batched, others) if group]
            for group in groups:
                with lane.lock:
                    if line:
                        self._run_line_on_thread(lane)
                    answers, _ = self._run_round(group, lane)
                answer_from_thread(answers)
                if line:
                    self._wake_loops()
            if stop:
                if lane.connection is not None:
                    lane.connection.close()
                    lane.connection = None
                return

    def _run_line_on_thread(self, lane: _Lane) -> None:
        """On the database thread, holding the connection: run the line's jobs and
        answer them, so none waits behind the thread's job for a loop turn (again
        for those that joined meanwhile, a few times at most)."""
        for _ in range(_LINE_TAKES):
            jobs = self._parked.take(_ROUND_LIMIT, by_thread=True)
            if not jobs:
                return
            answer_from_thread(self._run_round(jobs, lane)[0])

    def _wake_loops(self) -> None:
        """On the database thread, after letting go: ask the loops to run the line
        (the thread runs it itself next round for a loop that is closed)."""
        loops, closed = self._parked.loops_to_wake()
        for loop in loops:
            try:
                loop.call_soon_threadsafe(self._run_parked)
            except RuntimeError:  # closed meanwhile
                closed = True
        if closed:
            self._main.jobs.put(_WAKE)

    def _run_round(
        self, jobs: list[Job], lane: _Lane, *, on_loop: bool = False
    ) -> tuple[list[Answer], list[Job]]:
        """Run `jobs`; (their answers, the jobs left for the thread because the
        database was locked: on the loop only, and every job after the first such).
        On the thread, once one has waited out the busy timeout, the rest are tried
        without waiting (a read, or a lock freed meanwhile, still succeeds) and
        answered with its error if locked, rather than each waiting in turn."""
        answers: list[Answer] = []
        locked: list[Job] = []
        gave_up: Exception | None = None
        index = 0
        while index < len(jobs):
            job = jobs[index]
            group = [job]
            if job.batch is not None:
                while (
                    index + len(group) < len(jobs) and jobs[index + len(group)].batch is job.batch
                ):
                    group.append(jobs[index + len(group)])
            index += len(group)
            if locked:
                locked.extend(group)  # still locked, surely: not tried on the loop
                continue
            no_wait = on_loop or gave_up is not None
            try:
                if job.batch is None:
                    answers.append((job, True, self._call(job.work, lane, on_loop=no_wait)))
                    continue
                items = [member.item for member in group]
                results = self._call(partial(job.batch, rows=items), lane, on_loop=no_wait)
                answers.extend(
                    (member, True, result) for member, result in zip(group, results, strict=True)
                )
            except _Busy:
                if on_loop:
                    locked.extend(group)
                else:
                    answers.extend((member, False, gave_up) for member in group)
            except Exception as error:
                answers.extend((member, False, error) for member in group)
                cause = error.__cause__
                if not on_loop and cause is not None and self.backend.is_busy(cause):
                    gave_up = error
        return answers, locked

    def _call(self, work: Callable[[Connection], T], lane: _Lane, *, on_loop: bool = False) -> T:
        try:
            connection = self._connect(lane)
            self._use_busy_timeout(
                lane, connection, LOOP_BUSY_TIMEOUT_MS if on_loop else THREAD_BUSY_TIMEOUT_MS
            )
            return work(connection)
        except StoreUnavailable:
            raise
        except Exception as error:
            if on_loop and self.backend.is_busy(error):
                raise _Busy from error
            if not self.backend.is_unavailable(error):
                raise
            self._drop_broken_connection(lane)
            raise_unavailable(error, self.url)

    def _drop_broken_connection(self, lane: _Lane) -> None:
        connection = lane.connection
        if connection is not None and self.backend.is_broken(connection):
            lane.connection = None
            with contextlib.suppress(Exception):
                connection.close()

    async def checkpoint(self) -> bool:
        """Copy the WAL into the database file, without blocking the writer thread;
        True when all of it was copied, so every commit made before the call is in
        the database file and synced (the intake journal deletes on that).

        A PASSIVE checkpoint on a connection of its own: commits go on while it
        runs, and its fsync of the database file is not on any request's path.
        """
        if not self.has_wal or self._closed:
            return False
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._checkpointer, self._checkpoint)

    def _checkpoint_connection_for(self) -> sqlite3.Connection:
        if self._checkpoint_connection is None:
            assert isinstance(self.backend, SqliteBackend)
            self._checkpoint_connection = self.backend.connect_checkpointer()
        return self._checkpoint_connection

    def _checkpoint(self) -> bool:
        # On failure the next run tries again; the writer is unaffected.
        try:
            row = self._checkpoint_connection_for().execute("PRAGMA wal_checkpoint(PASSIVE)")
            busy, frames, copied = row.fetchone()
        except sqlite3.Error:
            return False
        return bool(busy == 0 and frames == copied)

    def _truncate(self) -> None:
        """Copy the WAL back and cut it to zero bytes (on close: it blocks writers)."""
        with contextlib.suppress(sqlite3.Error):
            self._checkpoint_connection_for().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def migrate(self) -> list[int]:
        return await self.run(partial(apply_migrations, backend=self.backend))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        for lane in {id(lane): lane for lane in (self._main, self._short)}.values():
            if lane.thread is not None:
                lane.jobs.put(None)
                await loop.run_in_executor(None, lane.thread.join)
            elif lane.connection is not None:
                connection, lane.connection = lane.connection, None
                await loop.run_in_executor(None, connection.close)
        _refuse_closed(self._parked.drain())

        def close_checkpointer() -> None:
            # Once on close: nothing purged stays in the WAL of a stopped bot.
            backend = self.backend
            if isinstance(backend, SqliteBackend) and self.has_wal and backend.path.exists():
                self._truncate()
            if self._checkpoint_connection is not None:
                self._checkpoint_connection.close()
                self._checkpoint_connection = None

        await loop.run_in_executor(self._checkpointer, close_checkpointer)
        self._checkpointer.shutdown(wait=True)


_ROUND_LIMIT = 512
_WAKE = object()  # on a thread's queue: run the line of loop jobs
_LINE_TAKES = 4  # takes from the line before each of the thread's own jobs, at most


class _Lane:
    """A database thread, its job queue and its connection."""

    def __init__(self, name: str) -> None:
        self.name = name
        # Jobs, _WAKE (run the line of loop jobs), None (stop).
        self.jobs: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.connection: Connection | None = None
        # Held by whichever thread is using the connection (the database thread,
        # or the event loop for intake and short jobs on SQLite).
        self.lock = threading.Lock()
        # The connection's busy timeout now (ms); None until set on a new connection.
        self.busy_timeout_ms: int | None = None


def _refuse_closed(jobs: list[Job]) -> None:
    """On the event loop: answer `jobs` StoreUnavailable (the store is closed)."""
    failure = StoreUnavailable("the store is closed")
    deliver([(job, False, failure) for job in jobs])


def raise_unavailable(error: BaseException, url: str) -> NoReturn:
    """Raise StoreUnavailable for a driver's `error`, safe to log and print.

    The driver may quote DATABASE_URL's user name or password (psycopg:
    "invalid percent-encoded token"); the message goes to logs and the CLI, and a
    traceback would print the cause: then it is left off.
    """
    unavailable = StoreUnavailable(f"database error: {_first_line(error, redact=url)}")
    if redact_credentials(str(error), url) != str(error):
        raise unavailable from None
    raise unavailable from error


def _first_line(error: BaseException, *, redact: str = "") -> str:
    """The driver's message without its SQL context lines (which may quote values),
    and without the user name and password of the database URL `redact`."""
    text = redact_credentials(str(error), redact).strip().splitlines()
    return text[0] if text else type(error).__name__
