"""Jobs waiting for the database connection, and how their answers reach their event loop.

On SQLite, intake and the queue's bookkeeping are run by whoever holds the
connection next (bot/db/connection.py): the event loop at its next turn, or the
database thread at the start of its next round. Both take them from the front
of one line (:class:`ParkedJobs`), only while holding the connection, so
deliveries are stored in the order they arrived whoever runs them. (They used
to go to the thread's queue when the connection was busy, and a later batch
could reach the free connection on the loop first.)

A job that found the database locked by another process is put back at the
front, and the line is the thread's until its next take: the thread may wait
for the lock, the loop never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter, deque
from typing import Any, NamedTuple


class Job(NamedTuple):
    """One call waiting for the connection (a named tuple: intake builds one per delivery).

    `work(connection)` for a single call; `batch(connection, rows=items)` for
    items that share one call (group commit).
    """

    work: Any
    batch: Any
    item: Any
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


Answer = tuple[Job, bool, Any]  # the job, whether it succeeded, its result or error


def answer_from_thread(answers: list[Answer]) -> None:
    """From a database thread: wake each waiting loop once with its answers."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Answer]] = {}
    for answer in answers:
        by_loop.setdefault(answer[0].loop, []).append(answer)
    for loop, batch in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is gone
            loop.call_soon_threadsafe(deliver, batch)


def deliver(answers: list[Answer]) -> None:
    """On an event loop: hand each waiting coroutine its result (another loop's, through it)."""
    here = asyncio.get_running_loop()
    elsewhere = []
    for answer in answers:
        job, ok, value = answer
        if job.loop is not here:
            elsewhere.append(answer)
        elif job.future.done():
            continue
        elif ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
    if elsewhere:
        answer_from_thread(elsewhere)


class ParkedJobs:
    """The line of loop jobs waiting for the connection, in submission order; thread-safe."""

    def __init__(self) -> None:
        self._jobs: deque[Job] = deque()
        self._mutex = threading.Lock()
        self._for_thread = False  # a job found the database locked: the thread goes next
        self._loops: Counter[asyncio.AbstractEventLoop] = Counter()  # jobs in line, by loop
        self._asked: set[asyncio.AbstractEventLoop] = set()  # asked for a turn, not begun it

    def __len__(self) -> int:
        return len(self._jobs)

    def add(self, jobs: list[Job], loop: asyncio.AbstractEventLoop) -> bool:
        """Queue `loop`'s `jobs` at the back; True when the loop may run the line now."""
        with self._mutex:
            self._jobs.extend(jobs)
            self._loops[loop] += len(jobs)
            return not self._for_thread

    def turn_begins(self, loop: asyncio.AbstractEventLoop) -> None:
        """`loop`'s turn has come: a later wish to wake it asks again."""
        with self._mutex:
            self._asked.discard(loop)

    def take(self, limit: int, *, by_thread: bool) -> list[Job]:
        """Up to `limit` jobs from the front for whoever holds the connection, leaving
        out those whose caller stopped waiting; none for a loop while the line is
        the thread's. The thread's take hands the line back to the loops."""
        with self._mutex:
            if self._for_thread and not by_thread:
                return []
            self._for_thread = False
            taken: list[Job] = []
            while self._jobs and len(taken) < limit:
                job = self._jobs.popleft()
                left = self._loops[job.loop] - 1
                if left:
                    self._loops[job.loop] = left
                else:
                    del self._loops[job.loop]
                if not job.future.done():  # left out, and not counted against `limit`
                    taken.append(job)
            return taken

    def put_back(self, jobs: list[Job]) -> None:
        """`jobs` found the database locked (a loop, still holding the connection):
        back to the front, and the line is the thread's until its next take."""
        with self._mutex:
            self._jobs.extendleft(reversed(jobs))
            for job in jobs:
                self._loops[job.loop] += 1
            self._for_thread = True

    def loops_to_wake(self) -> tuple[list[asyncio.AbstractEventLoop], bool]:
        """After the thread lets go of the connection: the event loops with jobs in
        line to ask for a turn (each once until it begins one), and whether a closed
        loop's jobs wait, which the thread must then run itself."""
        with self._mutex:
            if self._for_thread:
                return [], False
            closed = [loop for loop in self._loops if loop.is_closed()]
            wake = [loop for loop in self._loops if loop not in self._asked and loop not in closed]
            self._asked.update(wake)
            return wake, bool(closed)

    def drain(self) -> list[Job]:
        """Every waiting job (the store is closing)."""
        with self._mutex:
            jobs = list(self._jobs)
            self._jobs.clear()
            self._loops.clear()
            return jobs
