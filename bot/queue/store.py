"""The bot's durable state: the delivery queue and the installations it serves.

Every method is a coroutine that runs SQL on the database thread. Intake
writes go through a group-commit writer: concurrent deliveries share one
transaction, and each caller is answered only after that commit.

A delivery's payload (a report's title and description, a comment's body) is
kept only while it may still be handled: completing it as `done` removes it
in the same transaction, and a parked (`failed`) delivery keeps it for
`BOT_PARKED_RETENTION_DAYS`, then bot/queue/retention.py removes it. A removed
payload is the empty string (the column stays NOT NULL).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from bot.db.backends import PostgresBackend
from bot.db.connection import Connection, Database, StoreUnavailable, transaction
from bot.db.group_commit import GroupCommitWriter
from bot.queue.heads import (
    HEAD_OF_ITS_KEY,
    TAKE,
    UNHEADED_KEYS,
    claimable_on_server,
    promote_next,
    promote_unheaded,
)
from bot.queue.insert import insert_deliveries, insert_deliveries_on_server
from bot.queue.intake import Delivery
from bot.queue.journal import IntakeJournal
from bot.queue.rows import (
    REMOVED_PAYLOAD,
    SELECT_DELIVERIES,
    DeliveryState,
    FinishedState,
    StoredDelivery,
    UnfinishedState,
    delivery_of_row,
)
from bot.queue.sqlite_upkeep import SqliteUpkeep

__all__ = ["REMOVED_PAYLOAD", "Store", "StoreUnavailable", "StoredDelivery"]


# How often a claim checks the keys intake stored waiting deliveries of (PostgreSQL,
# bot/queue/heads.py). Under a flood of one key every intake transaction stores
# one: checking at each claim took an eighth of the process's CPU. A missed
# promotion is rare, and waits at most this long plus the worker's idle poll.
UNHEADED_CHECK_SECONDS = 0.25


# "done", "failed" (parked) or "retry" (queued again for `retry_at`).
HandlingOutcome = FinishedState | Literal["retry"]


@dataclass(frozen=True)
class HandlingResult:
    """What one run of a delivery's handlers came to."""

    outcome: HandlingOutcome
    handlers: Sequence[tuple[str, str | None]]  # (handler name, error or None)
    error: str | None = None
    retry_at: float = 0.0
    finished_at: float = 0.0
    duration_ms: float = 0.0


class Store:
    """The delivery queue and the leader leases, on one :class:`Database`."""

    def __init__(self, database: Database) -> None:
        self.database = database
        # PostgreSQL: intake's own connection on the event loop (bot/db/group_commit.py).
        backend = database.backend
        self._intake: GroupCommitWriter[tuple[Delivery, str], str | None] | None = (
            GroupCommitWriter(backend, insert_deliveries_on_server)
            if isinstance(backend, PostgresBackend)
            else None
        )
        # PostgreSQL: keys intake stored a waiting delivery of, to check at the next
        # claim, at most every UNHEADED_CHECK_SECONDS.
        self._unheaded_keys: set[str] = set()
        self._next_unheaded_check = 0.0
        # SQLite: the WAL's checkpoints, and (serving) the intake journal.
        self._sqlite: SqliteUpkeep | None = None
        # Called once journaled deliveries are in the database (the worker's wake-up).
        self.on_stored: Callable[[], None] = _nothing

    # -- lifecycle -----------------------------------------------------------------

    async def open(self, *, serving: bool = False, journal: bool = True) -> None:
        """Migrate; on a SQLite file, checkpoint the WAL every CHECKPOINT_SECONDS.

        `serving` (the process that takes webhooks), on a SQLite file: import what a
        previous run left in the intake journal, and with `journal` and
        synchronous=NORMAL acknowledge webhooks once appended to it
        (bot/queue/sqlite_upkeep.py).
        """
        await self.database.migrate()
        if self.database.has_wal:
            self._sqlite = SqliteUpkeep(self.database, self._stored)
            await self._sqlite.start(serving=serving, journal=journal)

    def _stored(self) -> None:
        self.on_stored()

    @property
    def journal(self) -> IntakeJournal | None:
        """The intake journal, when webhooks are acknowledged from one."""
        return self._sqlite.journal if self._sqlite is not None else None

    @property
    def wakes_worker(self) -> bool:
        """True when the store wakes the worker itself once a webhook is in the database
        (the intake journal's import), so intake need not."""
        return self.journal is not None

    async def intake_settled(self, seconds: float = 10.0) -> None:
        """Wait until every acknowledged webhook is in the database (the journal's import)."""
        if self._sqlite is not None:
            await self._sqlite.settled(seconds)

    async def close(self) -> None:
        if self._sqlite is not None:
            await self._sqlite.close()
            self._sqlite = None
        if self._intake is not None:
            await self._intake.close()
        await self.database.close()

    async def ping(self) -> None:
        await self.database.run(lambda connection: connection.execute("SELECT 1").fetchone())

    # -- intake --------------------------------------------------------------------

    async def add_delivery(self, delivery: Delivery, *, source: str = "webhook") -> bool:
        """Store a delivery durably; False when its GUID is already stored.

        Deliveries that arrive together share one commit (group commit); each
        caller is answered once that commit is on disk. In the serving process on
        SQLite a webhook is answered once appended to the intake journal instead
        (bot/queue/journal.py), and is in the database a few milliseconds later.
        """
        journal = self.journal
        if journal is not None:
            # One line into the database for every event, so each advisory's stay in
            # the order they came in, whichever way each is stored.
            line = journal.line
            if line.full:  # the import is far behind: wait for it (bounded by the caller)
                await line.room()
            # The bot's own events, and webhooks in a flood (one commit for many costs
            # less than a file write each), are stored before their answer.
            if source != "webhook" or line.flooded():
                return await journal.store_directly(delivery, source)
            return journal.append(delivery, source)
        if self._intake is not None:
            state = await self._intake.submit((delivery, source))
            if state == "waiting":
                self._unheaded_keys.add(delivery.order_key)
            return state is not None
        result = await self.database.run_batched(insert_deliveries, (delivery, source))
        return bool(result)

    # -- worker --------------------------------------------------------------------

    async def claim(
        self, owner: str, *, now: float, limit: int, lease_seconds: float
    ) -> list[StoredDelivery]:
        """Claim up to `limit` ready deliveries.

        Only the head of each ordering key is `queued`; the rest wait (state
        `waiting`) until the one before them finishes, so this is an index range
        read however long the backlog (bot/queue/heads.py). On PostgreSQL it first
        promotes the heads intake may have left unpromoted.
        """

        ready = SELECT_DELIVERIES + "d WHERE state = 'queued' AND next_attempt_at <= ? "
        on_server = self._intake is not None
        # On PostgreSQL two replicas' intake may both have stored a key's head
        # (bot/queue/heads.py); and rows another replica is claiming are skipped.
        claimable = (
            ready
            + (HEAD_OF_ITS_KEY if on_server else "")
            + "ORDER BY seq LIMIT ?"
            + self.database.backend.skip_locked
        )
        unheaded: set[str] = set()
        if self._unheaded_keys and time.monotonic() >= self._next_unheaded_check:
            unheaded, self._unheaded_keys = self._unheaded_keys, set()
            self._next_unheaded_check = time.monotonic() + UNHEADED_CHECK_SECONDS

        def work(connection: Connection) -> list[StoredDelivery]:
            promote_unheaded(connection, unheaded)
            # Most polls find nothing: look before taking the write lock.
            if connection.execute(ready + "LIMIT 1", (now,)).fetchone() is None:
                return []
            with transaction(connection):
                rows = connection.execute(claimable, (now, limit)).fetchall()
                claimed = [delivery_of_row(row) for row in rows]
                if on_server:
                    claimed = claimable_on_server(connection, claimed)
                connection.executemany(
                    TAKE, [(owner, now + lease_seconds, item.seq) for item in claimed]
                )
            return [replace(item, state="running", attempts=item.attempts + 1) for item in claimed]

        try:
            return await self.database.run_short(work)
        except BaseException:
            self._unheaded_keys |= unheaded  # not promoted: the next claim tries again
            raise

    async def promote_unheaded(self) -> int:
        """Promote the head of every key whose deliveries all wait (PostgreSQL; see
        bot/queue/heads.py): a replica that died between storing a waiting delivery
        and checking its key. How many were promoted."""
        if self._intake is None:
            return 0

        def work(connection: Connection) -> int:
            keys = [row[0] for row in connection.execute(UNHEADED_KEYS).fetchall()]
            return promote_unheaded(connection, keys)

        return await self.database.run(work)

    async def renew_leases(self, owner: str, seqs: Iterable[int], until: float) -> None:
        rows = [(until, seq, owner) for seq in seqs]
        if not rows:
            return
        await self.database.run_short(
            lambda c: c.executemany(
                "UPDATE deliveries SET lease_until = ? WHERE seq = ? AND lease_owner = ? "
                "AND state = 'running'",
                rows,
            )
        )

    async def requeue_running(self) -> int:
        """At start, on a database no other process shares (SQLite): re-queue what a
        dead run of this process was handling. With replicas (PostgreSQL) another
        one may be handling it; its lease decides instead (requeue_expired)."""
        if not self.database.single_process:
            return 0
        return await self._execute_count(
            "UPDATE deliveries SET state = 'queued', lease_owner = NULL, lease_until = NULL "
            "WHERE state = 'running'",
            (),
        )

    async def requeue_expired(self, now: float) -> int:
        """Put deliveries whose lease ran out back in the queue."""
        return await self._execute_count(
            "UPDATE deliveries SET state = 'queued', lease_owner = NULL, lease_until = NULL "
            "WHERE state = 'running' AND lease_until < ?",
            (now,),
        )

    async def release(self, owner: str) -> int:
        """Give back what `owner` was handling (graceful stop): another run takes it."""
        return await self._execute_count(
            "UPDATE deliveries SET state = 'queued', lease_owner = NULL, lease_until = NULL "
            "WHERE state = 'running' AND lease_owner = ?",
            (owner,),
        )

    async def handlers_done(self, guid: str) -> set[str]:
        rows = await self.database.run_short(
            lambda c: c.execute(
                "SELECT handler FROM handler_runs WHERE guid = ? AND state = 'done'", (guid,)
            ).fetchall()
        )
        return {row[0] for row in rows}

    async def complete(
        self,
        delivery: StoredDelivery,
        owner: str,
        result: HandlingResult,
        *,
        take_next_until: float | None = None,
    ) -> StoredDelivery | None:
        """Record one handling of `delivery` in one transaction.

        Writes each handler's outcome, then the delivery's: `done`, `failed`
        (parked), or `queued` again for `result.retry_at`. When it leaves the
        queue for good, the next delivery of its ordering key becomes ready;
        with `take_next_until` (a lease end) it is claimed for `owner` at once
        and returned, so one busy advisory or repository is not held to one
        delivery per claim round.
        """

        def work(connection: Connection) -> StoredDelivery | None:
            with transaction(connection, ordering_keys=[delivery.order_key]):
                connection.executemany(
                    "INSERT INTO handler_runs (guid, handler, state, attempts, last_error) "
                    "VALUES (?, ?, ?, 1, ?) ON CONFLICT (guid, handler) DO UPDATE SET "
                    "state = excluded.state, attempts = handler_runs.attempts + 1, "
                    "last_error = excluded.last_error",
                    [
                        (delivery.guid, name, "done" if error is None else "failed", error)
                        for name, error in result.handlers
                    ],
                )
                if result.outcome == "retry":
                    connection.execute(
                        "UPDATE deliveries SET state = 'queued', next_attempt_at = ?, "
                        "last_error = ?, lease_owner = NULL, lease_until = NULL "
                        "WHERE seq = ? AND lease_owner = ?",
                        (result.retry_at, result.error, delivery.seq, owner),
                    )
                    return None
                # Handled: its payload is no longer needed, and goes in this transaction.
                cursor = connection.execute(
                    _FINISH_DONE if result.outcome == "done" else _FINISH,
                    (
                        result.outcome,
                        result.finished_at,
                        result.duration_ms,
                        result.error,
                        delivery.seq,
                        owner,
                    ),
                )
                if cursor.rowcount != 1:
                    return None  # the lease was lost: another run owns it now
                following = promote_next(
                    connection, delivery.order_key, owner=owner, lease_until=take_next_until
                )
                return following if take_next_until is not None else None

        return await self.database.run_short(work)

    # -- operators -----------------------------------------------------------------

    async def recent_deliveries(self, limit: int = 50) -> list[StoredDelivery]:
        rows = await self.database.run(
            lambda c: c.execute(
                SELECT_DELIVERIES + "ORDER BY seq DESC LIMIT ?", (limit,)
            ).fetchall()
        )
        return [delivery_of_row(row) for row in rows]

    async def get_delivery(self, guid: str) -> StoredDelivery | None:
        row = await self.database.run(
            lambda c: c.execute(SELECT_DELIVERIES + "WHERE guid = ?", (guid,)).fetchone()
        )
        return delivery_of_row(row) if row else None

    async def retry_failed(self, guid: str, *, now: float) -> bool:
        """Re-queue a parked delivery with fresh attempts; False if it is not parked,
        or its payload was removed (bot/queue/retention.py).

        It waits behind any unfinished delivery of its ordering key.
        """

        def work(connection: Connection) -> bool:
            row = connection.execute(
                "SELECT order_key FROM deliveries WHERE guid = ? AND state = 'failed' "
                "AND payload <> ?",
                (guid, REMOVED_PAYLOAD),
            ).fetchone()
            if row is None:
                return False
            with transaction(connection, ordering_keys=[row[0]]):
                held = connection.execute(
                    # Any unfinished delivery (`state >= 'queued'`: bot/queue/rows.py).
                    "SELECT 1 FROM deliveries WHERE order_key = ? AND state >= 'queued' LIMIT 1",
                    (row[0],),
                ).fetchone()
                state: UnfinishedState = "waiting" if held else "queued"
                # Still parked? Another operator's retry may have come first.
                return bool(
                    connection.execute(
                        "UPDATE deliveries SET state = ?, attempts = 0, next_attempt_at = ?, "
                        "finished_at = NULL WHERE guid = ? AND state = 'failed' "
                        "AND payload <> ?",
                        (state, now, guid, REMOVED_PAYLOAD),
                    ).rowcount
                    == 1
                )

        return await self.database.run(work)

    async def counts_by_state(self) -> dict[str, int]:
        rows = await self.database.run(
            lambda c: c.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall()
        )
        return {state: count for state, count in rows}

    # -- helpers -------------------------------------------------------------------

    async def _execute_count(self, sql: str, args: tuple[Any, ...]) -> int:
        """One statement on indexed rows (queue, leases); its row count."""

        def work(connection: Connection) -> int:
            return int(connection.execute(sql, args).rowcount)

        return await self.database.run_short(work)

    async def queue_counts(self) -> dict[str, int]:
        """Deliveries per state for each `/metrics` scrape, cheap however long the bot ran:
        one `COUNT(*)` per state on the `deliveries_by_state` index (covering on SQLite)
        reads the backlog and the parked rows only, never the `done` ones that make up
        the table. Counts kept in memory would be wrong with replicas on one database.
        On the database thread: a scrape may wait, the event loop (intake) never does."""

        def work(connection: Connection) -> dict[str, int]:
            count = QUEUE_COUNT_SQL
            return {s: int(connection.execute(count, (s,)).fetchone()[0]) for s in QUEUE_STATES}

        return await self.database.run(work)


# What `Store.queue_counts` runs, once per state (tests check its plan uses the index).
QUEUE_COUNT_SQL = "SELECT COUNT(*) FROM deliveries WHERE state = ?"
QUEUE_STATES: tuple[DeliveryState, ...] = ("queued", "waiting", "running", "failed")


_FINISH = (
    "UPDATE deliveries SET state = ?, finished_at = ?, duration_ms = ?, "
    "last_error = ?, lease_owner = NULL, lease_until = NULL "
    "WHERE seq = ? AND lease_owner = ?"
)
_FINISH_DONE = (
    "UPDATE deliveries SET state = ?, finished_at = ?, duration_ms = ?, "
    "last_error = ?, lease_owner = NULL, lease_until = NULL, payload = '' "
    "WHERE seq = ? AND lease_owner = ?"
)


def backoff_delay(attempts: int, base: float, *, cap: float = 3600.0) -> float:
    """Exponential backoff with jitter: base * 2^(attempts-1), +-20 %, capped."""
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return float(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not security


def _nothing() -> None:
    return None
