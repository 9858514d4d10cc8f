"""One timer for every bounded store call of an event loop (see `bounded` in bot/web/routes.py).

A timer of its own for each call (`call_later`, then `cancel` once answered) was
most of what bounding an acknowledgement cost. Here a call joins the queue of
its bound instead (every webhook's is the same 2 s, so a queue's deadlines come
in order), and one timer is set for the earliest deadline at the front of a
queue. A call that ends takes the ended calls at the front of its queue out
with it (at most _SWEEP_LIMIT), so a queue holds about the calls in flight. When
the timer fires, calls that ended leave the front, calls past their deadline are
cancelled, and the timer is set again for the new front: at saturation it fires
about once per bound, not once per call. A sweep goes in steps, one a loop turn,
each removing _SWEEP_LIMIT calls and as many as joined since the step before:
calls answered behind one still waiting never stall the loop in one go, and a
flood never outgrows the sweep (its backlog shrinks by _SWEEP_LIMIT a turn).

A call holds its task until it ends (a task in flight is alive anyway): a weak
reference to it cost more than the rest of the bound. Nothing global holds a loop
or a task: a loop's queues hang on the loop itself (an attribute), so a loop closed
while a call still waited goes with its tasks as one cycle for the collector; a
loop that takes no attribute has them in a weak-keyed table, and there such a loop
stays in memory.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from typing import Any

# A call whose deadline is this close is cancelled now rather than by another timer
# (a loop's clock ticks in milliseconds: a timer may fire just short of its time).
_SLACK_SECONDS = 0.001
# The most calls one step of a sweep removes (about 0.3 ms), beyond those added
# since the step before; the rest wait a turn.
_SWEEP_LIMIT = 1000


class Bound:
    """One bounded call: its task while it waits, and whether its time ran out."""

    __slots__ = ("deadline", "expired", "queue", "task")

    def __init__(self, deadline: float, task: asyncio.Task[Any], queue: deque[Bound]) -> None:
        self.deadline = deadline
        self.task: asyncio.Task[Any] | None = task
        self.expired = False
        self.queue = queue

    def end(self) -> None:
        """The call ended (answered, failed or cancelled): its timer has nothing to do.

        The ended calls at the front of its queue leave it now, up to _SWEEP_LIMIT
        (calls mostly end in the order they began: usually this one alone).

        Measured in a loop of 100,000 calls, 64 in flight, each answered a turn
        later: the bound cost 4.5 to 5 µs a call while every ended call stayed
        queued for its whole bound and each held its task by a weak reference,
        1.5 to 2.5 µs now. In the intake benchmark the difference is within noise.
        """
        self.task = None
        queue = self.queue
        budget = _SWEEP_LIMIT
        while budget and queue and queue[0].task is None:
            queue.popleft()
            budget -= 1


class Deadlines:
    """One event loop's bounded calls, one queue per bound, and its one timer."""

    def __init__(self) -> None:
        self._queues: dict[float, deque[Bound]] = {}
        self._armed_for: float | None = None  # when the current timer fires
        self._generation = 0  # a timer set before the current one does nothing
        self._added = 0  # calls added since the timer last fired

    def add(
        self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any], seconds: float
    ) -> Bound:
        queue = self._queues.get(seconds)
        if queue is None:
            queue = self._queues[seconds] = deque()
        bound = Bound(loop.time() + seconds, task, queue)
        queue.append(bound)
        self._added += 1
        if self._armed_for is None or bound.deadline < self._armed_for:
            self._arm(loop, bound.deadline)
        return bound

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        self._generation += 1
        self._armed_for = when
        loop.call_at(when, self._fire, loop, self._generation)

    def _fire(
        self, loop: asyncio.AbstractEventLoop, generation: int, continued: bool = False
    ) -> None:
        if generation != self._generation:
            return  # superseded by an earlier deadline's timer
        self._armed_for = None
        now = loop.time() + _SLACK_SECONDS
        # In steps that never stall the loop long; once under way, each step also
        # removes as many as joined since the last, so a flood never outgrows it.
        budget = _SWEEP_LIMIT + (self._added if continued else 0)
        self._added = 0
        fronts = []
        for seconds, queue in list(self._queues.items()):
            while queue:
                bound = queue[0]
                task = bound.task
                if task is not None and bound.deadline > now:
                    fronts.append(bound.deadline)
                    break
                if budget == 0:
                    # The rest at the next turn. Due now: a call added meanwhile
                    # does not set another timer.
                    self._armed_for = now
                    loop.call_soon(self._fire, loop, generation, True)
                    return
                budget -= 1
                queue.popleft()
                if task is not None:
                    bound.expired = True
                    bound.task = None
                    task.cancel()
            if not queue:
                del self._queues[seconds]
        if fronts:
            self._arm(loop, min(fronts))


_ATTRIBUTE = "_ghsa_bot_deadlines"
# Loops that take no attribute (a loop class with __slots__).
_LOOPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = (
    weakref.WeakKeyDictionary()
)


def deadlines_of(loop: asyncio.AbstractEventLoop) -> Deadlines:
    """`loop`'s bounded calls (made at its first)."""
    deadlines: Deadlines | None = getattr(loop, _ATTRIBUTE, None) or _LOOPS.get(loop)
    if deadlines is None:
        deadlines = Deadlines()
        try:
            setattr(loop, _ATTRIBUTE, deadlines)
        except AttributeError:
            _LOOPS[loop] = deadlines
    return deadlines


def bound_task(task: asyncio.Task[Any], seconds: float) -> Bound:
    """Cancel `task` in `seconds` unless its Bound has ended by then."""
    loop = task.get_loop()
    return deadlines_of(loop).add(loop, task, seconds)
