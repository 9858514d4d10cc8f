"""The line of webhooks on their way into SQLite, behind the intake journal.

Every webhook the serving process takes on SQLite joins this one line, in
arrival order, and a task inserts the line's front in chunks (one transaction
each). Two kinds of entries share it:

- journaled ones (bot/queue/journal.py): already acknowledged, their segment
  counts them as imported once inserted;
- waited-for ones: under a flood, the caller is answered once the chunk holding
  its delivery commits, as intake did before the journal. One commit for many
  deliveries costs less than a file write each plus the import, and at
  saturation the rate is the CPU's: the journal alone cut it by a quarter
  (benchmarks/RESULTS.md, History, 2026-11-29).

One line keeps each advisory's deliveries in arrival order whichever way they
came in. Which way a delivery goes is decided by the rate (`flooded`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import NamedTuple, Protocol

from bot.core.logs import fields
from bot.db.connection import StoreUnavailable
from bot.queue.intake import Delivery

log = logging.getLogger("ghsa_bot.journal")

# Deliveries inserted in one transaction at most: journaled ones (on the database
# thread), and with a caller waiting (on the event loop).
JOURNALED_CHUNK = 20
IMPORT_CHUNK = 100
# How long the task gathers journaled deliveries before importing them (nobody waits
# for those): one wake-up of the database thread and a few transactions for many
# deliveries, instead of one each. Imports every 2 ms used a quarter more CPU per
# delivery than storing each before its answer (py-spy, paced 1,500/s); the worker
# sees a delivery up to this much later.
IMPORT_GATHER_SECONDS = 0.05
# Bytes in the line past which intake waits for it (a database that fails or is far
# behind): memory stays bounded, and the web route answers 503 after its bound. A
# body counts the memory its text holds: up to four bytes a character.
BACKLOG_LIMIT_BYTES = 16 * 1024 * 1024
# Webhooks a second from which they are stored before their answer (one commit for
# many) rather than journaled; counted over windows of RATE_WINDOW_SECONDS. Or
# bytes in the line from which: a host too slow for that rate is saturated sooner,
# and then the import falls behind (and the line's bodies are memory held).
FLOOD_PER_SECOND = 2500
RATE_WINDOW_SECONDS = 0.05
FLOOD_BACKLOG_BYTES = 1024 * 1024

# insert(rows, waited_for) -> one bool per row (new or not), in one transaction;
# `waited_for` when a caller waits for the commit.
Insert = Callable[[list[tuple[Delivery, str]], bool], Awaitable[list[bool]]]


class Counted(Protocol):
    """What keeps count of its entries' import (a journal segment)."""

    def imported_one(self, guid: str) -> None: ...


class _Entry(NamedTuple):
    delivery: Delivery
    source: str
    segment: Counted | None  # journaled
    answer: asyncio.Future[bool] | None  # waited for
    size: int  # the bytes its body holds in memory


def _entry(
    delivery: Delivery, source: str, segment: Counted | None, answer: asyncio.Future[bool] | None
) -> _Entry:
    return _Entry(delivery, source, segment, answer, sys.getsizeof(delivery.body))


class ImportLine:
    """The ordered line into the database (see the module docstring)."""

    def __init__(self, insert: Insert, *, backlog_limit_bytes: int = BACKLOG_LIMIT_BYTES) -> None:
        self._insert = insert
        self._backlog_limit = backlog_limit_bytes
        self.on_imported: Callable[[], None] = _nothing
        self._entries: deque[_Entry] = deque()
        self._bytes = 0
        self._waited_for = 0
        self._in_flight = 0  # entries taken from the line whose transaction runs
        self._chunk: list[_Entry] = []  # those entries
        self._admission = asyncio.Lock()  # who waits for room, first come first in
        self._admitting = 0
        self._error: str | None = None
        self._wanted = asyncio.Event()
        self._hurry = asyncio.Event()  # a caller waits: import without gathering
        self._task: asyncio.Task[None] | None = None
        self._progress: asyncio.Future[None] | None = None
        self._window_start = 0.0
        self._window_count = 0
        self._last_window_count = 0
        self.closed = False

    # -- joining -------------------------------------------------------------------

    def flooded(self) -> bool:
        """Count one webhook; True while they come faster than FLOOD_PER_SECOND (this
        window or the last), or while the line holds more than FLOOD_BACKLOG_BYTES."""
        now = time.monotonic()
        if now - self._window_start >= RATE_WINDOW_SECONDS:
            elapsed = now - self._window_start
            self._last_window_count = self._window_count if elapsed < 2 * RATE_WINDOW_SECONDS else 0
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        limit = FLOOD_PER_SECOND * RATE_WINDOW_SECONDS
        busy = self._window_count > limit or self._last_window_count > limit
        return busy or self._bytes > FLOOD_BACKLOG_BYTES

    def add(self, delivery: Delivery, source: str, segment: Counted) -> None:
        """A journaled delivery (acknowledged already)."""
        self._join(_entry(delivery, source, segment, None))

    async def add_and_wait(self, delivery: Delivery, source: str) -> bool:
        """A delivery stored before its answer: True once committed new, False when its
        GUID was stored already. StoreUnavailable when its transaction failed."""
        if self.closed:
            raise StoreUnavailable("the store is closed")
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waited_for += 1
        self._join(_entry(delivery, source, None, answer))
        self._hurry.set()
        return await answer

    def _join(self, entry: _Entry) -> None:
        self._entries.append(entry)
        self._bytes += entry.size
        self._wanted.set()
        if self._task is None:
            self._task = asyncio.create_task(self._import_forever(), name="journal-import")

    @property
    def full(self) -> bool:
        """True while the line is too long, or others wait for room: await `room`."""
        return self._bytes > self._backlog_limit or self._admitting > 0

    async def room(self) -> None:
        """Wait until the line is below its limit (or closes), after whoever waited
        first: a newcomer never joins ahead of them (an advisory's order)."""
        self._admitting += 1
        try:
            async with self._admission:
                while self._bytes > self._backlog_limit and not self.closed:
                    if self._progress is None:
                        self._progress = asyncio.get_running_loop().create_future()
                    await asyncio.shield(self._progress)
        finally:
            self._admitting -= 1

    @property
    def backlog(self) -> int:
        """Deliveries not yet in the database."""
        return len(self._entries) + self._in_flight

    # -- importing -----------------------------------------------------------------

    async def _import_forever(self) -> None:
        while True:
            try:
                await self._import_when_wanted()
            except Exception:  # never stop importing: acknowledged deliveries wait here
                log.exception("intake journal: the import failed; it goes on")
                await asyncio.sleep(1.0)

    async def _import_when_wanted(self) -> None:
        await self._wanted.wait()
        self._wanted.clear()
        if not self._waited_for:
            # A caller that starts waiting meanwhile cuts the gathering short.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), IMPORT_GATHER_SECONDS)
        self._hurry.clear()
        await asyncio.sleep(0)  # this turn's arrivals join the same commit
        await self._import_all()

    async def _import_all(self) -> None:
        delay = 0.05
        while self._entries:
            most = IMPORT_CHUNK if self._waited_for else JOURNALED_CHUNK
            chunk = [self._entries.popleft() for _ in range(min(most, len(self._entries)))]
            # A caller that stopped waiting (answered 503) is left out, as on PostgreSQL.
            taken = [entry for entry in chunk if entry.answer is None or not entry.answer.done()]
            waited = [entry for entry in taken if entry.answer is not None]
            self._in_flight = len(chunk)
            self._chunk = chunk
            try:
                stored = await self._insert(
                    [(entry.delivery, entry.source) for entry in taken], bool(waited)
                )
            except Exception as error:
                self._in_flight = 0
                self._failed(error)
                # Waiting callers get the error (503); journaled deliveries are tried again.
                for entry in waited:
                    assert entry.answer is not None
                    if not entry.answer.done():
                        entry.answer.set_exception(error)
                self._entries.extendleft(reversed([e for e in chunk if e.answer is None]))
                self._done_with([e for e in chunk if e.answer is not None])
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._in_flight = 0
            if self._error is not None:
                log.info("intake journal: import into the database works again")
                self._error = None
            delay = 0.05
            for entry, new in zip(taken, stored, strict=True):
                if entry.segment is not None:
                    entry.segment.imported_one(entry.delivery.guid)
                elif entry.answer is not None and not entry.answer.done():
                    entry.answer.set_result(new)
            self._done_with(chunk)
            try:
                self.on_imported()
            except Exception:  # the worker's wake-up; the import goes on regardless
                log.exception("intake journal: waking the worker failed")

    def _done_with(self, entries: list[_Entry]) -> None:
        for entry in entries:
            self._bytes -= entry.size
            if entry.answer is not None:
                self._waited_for -= 1
        progress, self._progress = self._progress, None
        if progress is not None and not progress.done():
            progress.set_result(None)

    def _failed(self, error: Exception) -> None:
        if self._error is None:
            # A StoreUnavailable's message is safe to log; another's may quote values.
            detail = str(error) if isinstance(error, StoreUnavailable) else ""
            log.error(
                "intake journal: import into the database failed; retrying",
                extra=fields(error_type=type(error).__name__, error=detail),
            )
        self._error = type(error).__name__

    async def settled(self, seconds: float) -> None:
        """Wait until the line is empty (tests, `run_until_idle`, closing)."""
        deadline = time.monotonic() + seconds
        while self.backlog:
            if time.monotonic() > deadline:
                raise StoreUnavailable("the intake journal's import did not finish")
            await asyncio.sleep(0.001)

    async def close(self, seconds: float) -> None:
        """Import what is in the line (for up to `seconds`), then stop."""
        self.closed = True
        progress, self._progress = self._progress, None
        if progress is not None and not progress.done():
            progress.set_result(None)  # who waits for room is told "closed" next
        with contextlib.suppress(StoreUnavailable):
            await self.settled(seconds)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for entry in [*self._chunk, *self._entries]:
            if entry.answer is not None and not entry.answer.done():
                entry.answer.set_exception(StoreUnavailable("the store is closed"))


def _nothing() -> None:
    return None
