"""`bounded`: the two-second bound on a request's store call (webhook, /readyz)."""

from __future__ import annotations

import asyncio

import pytest

from bot.queue.store import StoreUnavailable
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


async def test_a_call_that_turns_the_cancellation_into_another_error_leaves_the_task_clean() -> None:
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
