"""`bounded`: the two-second bound on a request's store call (webhook, /readyz)."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

import pytest

from bot.queue.store import StoreUnavailable
from bot.web.deadlines import deadlines_of
from bot.web.routes import bounded


async def test_a_call_that_answers_in_time_returns_its_answer_and_leaves_no_timer() -> None:
    async def answer() -> str:
        await asyncio.sleep(0)
        return "stored"

    assert await bounded(answer(), 0.05) == "stored"
    await asyncio.sleep(0.1)  # past the bound: the spent timer must not cancel this task


async def test_a_call_past_the_bound_is_cancelled_and_answers_store_unavailable() -> None:
    cancelled = asyncio.Event()

    async def stuck() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(StoreUnavailable, match=r"no answer within 0\.05 s"):
        await bounded(stuck(), 0.05)
    assert cancelled.is_set()
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # nothing left pending on the task


async def test_a_cancellation_from_outside_is_not_mistaken_for_the_bound() -> None:
    started = asyncio.Event()

    async def stuck() -> None:
        started.set()
        await asyncio.sleep(10)

    async def request() -> None:
        await bounded(stuck(), 5)

    task = asyncio.create_task(request())
    await started.wait()
    task.cancel()  # the server shutting down, say
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_call_that_absorbs_the_cancellation_and_answers_leaves_the_task_clean() -> None:
    async def stubborn() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "answered anyway"
        return "never"

    assert await bounded(stubborn(), 0.05) == "answered anyway"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_a_call_that_turns_the_cancellation_into_another_error_leaves_the_task_clean() -> (
    None
):
    async def failing() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise ValueError("the driver's own error") from None

    with pytest.raises(ValueError, match="the driver's own error"):
        await bounded(failing(), 0.05)
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_a_timeout_of_the_calls_own_is_the_store_not_answering() -> None:
    async def inner_timeout() -> None:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(10)

    with pytest.raises(StoreUnavailable):
        await bounded(inner_timeout(), 5)


# -- one timer for every bounded call of a loop (bot/web/deadlines.py) ---------------


async def test_a_stuck_call_behind_many_answered_ones_is_cancelled_on_time() -> None:
    async def answer(n: int) -> int:
        await asyncio.sleep(0)
        return n

    async def stuck() -> None:
        await asyncio.sleep(10)

    # Answered calls before and after the stuck one, all under the same bound.
    assert await asyncio.gather(*(bounded(answer(n), 0.2) for n in range(500))) == list(range(500))
    started = time.monotonic()
    stuck_call = asyncio.ensure_future(bounded(stuck(), 0.2))
    assert await asyncio.gather(*(bounded(answer(n), 0.2) for n in range(500))) == list(range(500))
    with pytest.raises(StoreUnavailable):
        await stuck_call
    assert 0.19 <= time.monotonic() - started < 0.5


async def test_calls_under_different_bounds_each_end_at_their_own() -> None:
    async def stuck() -> None:
        await asyncio.sleep(10)

    async def timed(seconds: float) -> float:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await bounded(stuck(), seconds)
        return time.monotonic() - started

    # The longest first: each shorter one must set the loop's timer earlier.
    waits = await asyncio.gather(timed(0.6), timed(0.3), timed(0.1), timed(0.45))
    for wanted, waited in zip((0.6, 0.3, 0.1, 0.45), waits, strict=True):
        assert wanted - 0.01 <= waited < wanted + 0.2, (wanted, waited)


async def test_calls_stuck_at_staggered_moments_are_each_cancelled_after_the_bound() -> None:
    async def stuck() -> None:
        await asyncio.sleep(10)

    async def timed() -> float:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await bounded(stuck(), 0.15)
        return time.monotonic() - started

    calls = []
    for _ in range(20):
        calls.append(asyncio.ensure_future(timed()))
        await asyncio.sleep(0.013)
    for waited in await asyncio.gather(*calls):
        assert 0.14 <= waited < 0.35, waited


def test_the_timer_keeps_no_event_loop_alive() -> None:
    async def answer() -> str:
        await asyncio.sleep(0)
        return "stored"

    async def stuck() -> None:
        await asyncio.sleep(10)

    async def calls() -> None:
        assert await bounded(answer(), 5) == "stored"
        waiting = asyncio.ensure_future(bounded(stuck(), 5))
        await asyncio.sleep(0)
        waiting.cancel()  # the server shutting down: the loop's timer is still set
        with pytest.raises(asyncio.CancelledError):
            await waiting

    loop = asyncio.new_event_loop()
    loop.run_until_complete(calls())
    loop.close()
    gone = weakref.ref(loop)
    del loop
    gc.collect()
    assert gone() is None


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_a_loop_closed_while_a_call_still_waits_is_not_kept(loop_kind: str) -> None:
    """The loop and the waiting request go: nothing global holds the bound's task."""

    async def stuck() -> None:
        await asyncio.sleep(10)

    async def request() -> None:
        await bounded(stuck(), 5)

    async def start() -> None:
        waiting = asyncio.ensure_future(request())
        await asyncio.sleep(0)
        assert not waiting.done()  # the call is bounded and waiting

    if loop_kind == "uvloop":
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    loop.run_until_complete(start())
    loop.close()  # a test's loop, or a CLI's, closed with the call still waiting
    gone = weakref.ref(loop)
    del loop
    gc.collect()
    assert gone() is None


def queued_calls(seconds: float) -> int:
    """How many calls the running loop's timer keeps under a bound of `seconds`."""
    return len(deadlines_of(asyncio.get_running_loop())._queues.get(seconds, ()))


async def test_answered_calls_leave_the_queue_as_they_end() -> None:
    async def answer() -> None:
        await asyncio.sleep(0)

    # Ended calls used to wait out their whole bound in the queue (16,000 of them
    # at saturation): the queue holds the calls in flight, not the ones of the last 5 s.
    for _ in range(100):
        await asyncio.gather(*(bounded(answer(), 5) for _ in range(64)))
    assert queued_calls(5) == 0
    running = [asyncio.ensure_future(bounded(answer(), 5)) for _ in range(64)]
    await asyncio.sleep(0)
    assert queued_calls(5) == 64
    await asyncio.gather(*running)
    assert queued_calls(5) == 0


async def test_a_burst_answered_behind_a_waiting_call_never_stalls_the_loop() -> None:
    async def answer() -> None:
        return None

    async def stuck() -> None:
        await asyncio.sleep(10)

    # 200,000 calls answered behind one still waiting, all under one long bound:
    # they stay queued behind it.
    front = asyncio.ensure_future(bounded(stuck(), 5))
    await asyncio.sleep(0)
    for _ in range(200_000):
        await bounded(answer(), 5)
    assert queued_calls(5) == 200_001
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.001)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticking = asyncio.ensure_future(ticker())
    await asyncio.sleep(0.05)
    front.cancel()  # it ends, and takes a first step of the answered calls with it
    with pytest.raises(asyncio.CancelledError):
        await front
    # A shorter bound's timer sweeps the rest of the long queue, a step a turn.
    with pytest.raises(StoreUnavailable):
        await bounded(stuck(), 0.05)
    await asyncio.sleep(0.2)
    ticking.cancel()
    assert max(gaps) < 0.025, f"the loop stalled {max(gaps) * 1000:.1f} ms"
    assert queued_calls(5) == 0


async def test_many_distinct_bounds_do_not_hold_up_a_shorter_one() -> None:
    async def stuck() -> None:
        await asyncio.sleep(10)

    # A caller passing what is left of its own time: a queue per distinct bound,
    # each with a front not yet due, which the sweep must pass over for free.
    waiting = [asyncio.ensure_future(bounded(stuck(), 3.0 + n * 0.0001)) for n in range(1500)]
    await asyncio.sleep(0)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await bounded(stuck(), 0.1)
    assert time.monotonic() - started < 0.5
    for call in waiting:
        call.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
