"""One request budget for the whole bot: GitHub's points per minute, never exceeded.

GitHub's secondary rate limit for REST is 900 points a minute per App, where a
GET, HEAD or OPTIONS costs 1 point and a POST, PATCH, PUT or DELETE costs 5
(github-api-facts.md §4); going over it gets the App blocked. Every request the
bot sends (handlers', the poller's, token requests, the missed-delivery check)
passes through :meth:`RequestBudget.spend` in bot/github/client.py just before
it goes out, so the points it holds in any window of 60 s stay at or under
`github.points_per_minute` (default 600, leaving room for people and other
tools on the same App).

- A request's points are held for 61 s: 60 s of GitHub's window and one second
  of margin for the time a request takes to reach GitHub.
- Handlers wait, in arrival order, until their points free up; no request is
  ever refused for the budget.
- The poller is a background reader: its requests may use the budget only up to
  `poller_limit` (three quarters of it), so a burst of handlers' work always
  finds room. Its optional work (reading comments, the edit sweep) asks
  :meth:`RequestBudget.poller_room` first and is left for the next cycle when the
  budget is short: the cycle stretches, the handlers' share stays.

Time is the injected clock the app uses (bot/core/clock.py): a test moves it
and the waiting requests see the window move, with no patching. A waiter checks
again at least every `check_every` seconds of real time for that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from bot.core.metrics import Metrics

if TYPE_CHECKING:
    from bot.github.shared_points import SharedPoints

# GitHub's weights (secondary rate limits for REST).
READ_POINTS = 1
MUTATION_POINTS = 5
MUTATING_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
WINDOW_SECONDS = 60.0
# Held a little longer than GitHub's window: a request spent at t reaches GitHub after t.
MARGIN_SECONDS = 1.0
DEFAULT_POINTS_PER_MINUTE = 600
# The poller may use this share of the budget; the rest is the handlers' headroom.
POLLER_SHARE = 0.75

_POLLER: contextvars.ContextVar[bool] = contextvars.ContextVar("budget_poller", default=False)


def points_for(method: str) -> int:
    """GitHub's weight of one request."""
    return MUTATION_POINTS if method.upper() in MUTATING_METHODS else READ_POINTS


@contextlib.contextmanager
def as_poller() -> Iterator[None]:
    """Requests sent inside this block (and tasks it starts) are the poller's."""
    token = _POLLER.set(True)
    try:
        yield
    finally:
        _POLLER.reset(token)


def is_poller() -> bool:
    return _POLLER.get()


class RequestBudget:
    """A sliding window of points spent, shared by every GitHub request of the process."""

    def __init__(
        self,
        points_per_minute: int = DEFAULT_POINTS_PER_MINUTE,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        metrics: Metrics | None = None,
        check_every: float = 0.1,
        shared: SharedPoints | None = None,
    ) -> None:
        if points_per_minute < MUTATION_POINTS:
            raise ValueError(f"a budget of {points_per_minute} points cannot pay for a mutation")
        self.limit = points_per_minute
        self.poller_limit = max(MUTATION_POINTS, int(points_per_minute * POLLER_SHARE))
        self.hold = WINDOW_SECONDS + MARGIN_SECONDS
        self.clock = clock
        self.sleep = sleep
        self.check_every = check_every
        self.metrics = metrics
        self._spent: deque[tuple[float, int]] = deque()
        self._held = 0
        self._queue: deque[object] = deque()  # handlers waiting, first come first served
        # Replicas on one database also share one window (bot/github/shared_points.py);
        # one request of the process at a time asks it.
        self.shared = shared
        self._sharing = asyncio.Lock()
        self.total = 0
        self.waits = 0
        if metrics is not None:
            metrics.github_points_used.reader = lambda: float(self.used())
            metrics.github_points_limit.set(float(points_per_minute))

    def __repr__(self) -> str:
        return f"RequestBudget(limit={self.limit}, used={self.used()})"

    def used(self) -> int:
        """Points held now: spent within the last 61 s."""
        cutoff = self.clock() - self.hold
        while self._spent and self._spent[0][0] <= cutoff:
            self._held -= self._spent.popleft()[1]
        return self._held

    def poller_room(self) -> int:
        """Points the poller may still spend now without waiting."""
        if self._queue:
            return 0
        return max(0, self.poller_limit - self.used())

    def _fits(self, points: int, poller: bool) -> bool:
        return self.used() + points <= (self.poller_limit if poller else self.limit)

    def _record(self, points: int) -> None:
        self._spent.append((self.clock(), points))
        self._held += points
        self.total += points
        if self.metrics is not None:
            self.metrics.github_points.inc(points, source="poller" if is_poller() else "other")

    def _until_free(self, points: int, limit: int) -> float:
        """Seconds (on the clock) until `points` more fit under `limit`."""
        now, over = self.clock(), self.used() + points - limit
        for at, spent in self._spent:
            over -= spent
            if over <= 0:
                return max(0.0, at + self.hold - now)
        return self.hold

    async def spend(self, method: str) -> float:
        """Take one request's points, waiting until they fit; the seconds waited (clock)."""
        points = points_for(method)
        poller = is_poller()
        if not self._queue and self._fits(points, poller):
            self._record(points)
            return await self._share(points)
        started = self.clock()
        self.waits += 1
        if self.metrics is not None:
            self.metrics.github_budget_waits.inc(source="poller" if poller else "other")
        if poller:
            # Behind every handler: the poller never takes the handlers' room.
            while self._queue or not self._fits(points, poller):
                await self._pause(points, self.poller_limit)
        else:
            ticket = object()
            self._queue.append(ticket)
            try:
                while self._queue[0] is not ticket or not self._fits(points, poller):
                    await self._pause(points, self.limit)
            finally:
                self._queue.remove(ticket)
        self._record(points)
        return self.clock() - started + await self._share(points)

    async def _share(self, points: int) -> float:
        """With replicas: wait until `points` fit in the window they all share; the
        seconds waited (clock). The request goes out right after."""
        if self.shared is None:
            return 0.0
        async with self._sharing:
            started = self.clock()
            while (wait := await self.shared.take(points, self.clock())) > 0:
                await self.sleep(min(1.0, max(self.check_every, wait)))
            return self.clock() - started

    async def _pause(self, points: int, limit: int) -> None:
        await self.sleep(min(self.check_every, max(0.001, self._until_free(points, limit))))
