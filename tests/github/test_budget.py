"""The points budget: GitHub's weights, a sliding minute, handlers first, the poller behind.

The budget runs on a clock the test moves (the app's injected clock); waiting
requests see the window move without any patching.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.core.metrics import Metrics
from bot.db.connection import Database
from bot.github.budget import RequestBudget, as_poller, points_for
from bot.github.client import GitHubApp
from bot.github.shared_points import HOLD_SECONDS, SharedPoints, shared_points
from tests.fakegithub import FakeGitHub
from tests.harness import SteppedClock, github_app_for


def test_github_weights() -> None:
    assert [points_for(m) for m in ("GET", "HEAD", "OPTIONS")] == [1, 1, 1]
    assert [points_for(m) for m in ("POST", "PATCH", "PUT", "DELETE")] == [5, 5, 5, 5]


async def test_a_request_over_the_budget_waits_for_the_window_to_move() -> None:
    clock = SteppedClock(1000.0)
    budget = RequestBudget(30, clock=clock.now, check_every=0.001)
    for _ in range(5):
        assert await budget.spend("PATCH") == 0.0
    assert budget.used() == 25
    for _ in range(5):
        await budget.spend("GET")
    assert budget.used() == 30
    waiting = asyncio.create_task(budget.spend("GET"))
    await asyncio.sleep(0.02)
    assert not waiting.done()
    clock.advance(60.5)  # within the minute and its margin of one second: still held
    await asyncio.sleep(0.02)
    assert not waiting.done()
    clock.advance(0.6)
    assert await asyncio.wait_for(waiting, 1) == pytest.approx(61.1)
    assert budget.used() == 1


async def test_handlers_are_served_in_order_and_the_poller_keeps_out_of_their_room() -> None:
    clock = SteppedClock(0.0)
    metrics = Metrics()
    budget = RequestBudget(40, clock=clock.now, check_every=0.001, metrics=metrics)
    assert budget.poller_limit == 30
    with as_poller():
        for _ in range(30):
            await budget.spend("GET")
        assert budget.poller_room() == 0
        poller = asyncio.create_task(budget.spend("GET"))
    await asyncio.sleep(0.01)
    assert not poller.done()  # the last quarter is the handlers'
    for _ in range(2):
        await budget.spend("PATCH")  # handlers still have room: no wait
    order: list[str] = []

    async def handler(name: str, method: str) -> None:
        await budget.spend(method)
        order.append(name)

    first = asyncio.create_task(handler("mutation", "PATCH"))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(handler("read", "GET"))
    await asyncio.sleep(0.01)
    assert order == [] and budget.used() == 40
    clock.advance(61.0)  # everything spent at 0 is released
    await asyncio.wait_for(asyncio.gather(first, second), 1)
    assert order == ["mutation", "read"]  # first come, first served
    await asyncio.wait_for(poller, 1)  # then the poller
    assert budget.used() == 7
    text = metrics.render()
    assert "ghsa_bot_github_points_used 7.0" in text
    assert 'ghsa_bot_github_points_total{source="poller"} 31.0' in text
    assert 'ghsa_bot_github_points_total{source="other"} 16.0' in text
    assert "ghsa_bot_github_points_limit 40.0" in text


@pytest.fixture
async def budgeted(
    fake_github: tuple[FakeGitHub, str],
) -> AsyncIterator[tuple[GitHubApp, SteppedClock]]:
    fake, url = fake_github
    clock = SteppedClock()
    fake.clock = clock.now
    async with aiohttp.ClientSession() as session:
        budget = RequestBudget(30, clock=clock.now, check_every=0.001)
        yield github_app_for(session, fake, url, clock=clock.now, budget=budget), clock


async def test_every_request_the_client_sends_pays_and_none_goes_over(
    budgeted: tuple[GitHubApp, SteppedClock], fake_github: tuple[FakeGitHub, str]
) -> None:
    github, clock = budgeted
    fake, _ = fake_github
    client = github.installation(fake.primary_installation)  # type: ignore[attr-defined]
    advisory = fake.new_advisory("python/cpython", summary="s", description="d")
    path = f"/repos/python/cpython/security-advisories/{advisory['ghsa_id']}"

    async def work() -> None:
        for _ in range(6):
            await client.getitem(path)  # 1 point (the first also pays a token POST, 5)
            await client.post(f"{path}/comments", data={"body": "hello"})  # 5 points

    task = asyncio.create_task(work())
    while not task.done():
        await asyncio.sleep(0.005)
        clock.advance(0.5)
    await task
    sent = [(r.at, 5 if r.method != "GET" else 1) for r in fake.requests]
    assert sum(points for _, points in sent) == 5 + 6 * 6
    for at, _ in sent:  # every window of 60 s on the fake's clock
        assert sum(p for t, p in sent if at <= t < at + 60) <= 30
    assert github.budget is not None and github.budget.waits > 0


async def test_replicas_share_one_window(replicas: tuple[Database, Database]) -> None:
    clock = SteppedClock(5000.0)
    budgets = [
        RequestBudget(
            30,
            clock=clock.now,
            check_every=0.001,
            shared=SharedPoints(database, owner=name, limit=30, hold=HOLD_SECONDS),
        )
        for database, name in zip(replicas, ("one", "two"), strict=True)
    ]
    # Ten mutations at once, five from each replica: each replica alone has room for six.
    sends = [asyncio.create_task(budgets[i % 2].spend("PATCH")) for i in range(10)]
    await asyncio.sleep(0.5)
    assert sum(send.done() for send in sends) == 6  # 30 points, whichever replica spent them
    assert await budgets[0].shared.used(clock.now()) == 30  # type: ignore[union-attr]
    clock.advance(HOLD_SECONDS + 0.1)
    await asyncio.wait_for(asyncio.gather(*sends), 5)
    assert await budgets[1].shared.used(clock.now()) == 20  # type: ignore[union-attr]


def test_one_process_keeps_its_own_window_on_sqlite(tmp_path: Path) -> None:
    assert shared_points(Database(f"sqlite:///{tmp_path / 'bot.sqlite3'}"), 600) is None
