"""A burst of 100 reports at once: every one triaged, GitHub's points never over the budget.

The bot runs on a clock the test moves (the fake GitHub keeps the same time), so
the minutes the budget makes the burst take pass in a few seconds. Points are
counted on the fake's side, where GitHub would count them: GET 1, mutation 5,
in every window of 60 s.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from handlers.triage import ACK_MARKER
from tests.conftest import StartBot
from tests.fakegithub import FakeGitHub
from tests.harness import REPORT, World, reported_payload, world_with

BURST = 100
BUDGET = 600  # github.points_per_minute, the default


def worst_minute(fake: FakeGitHub) -> int:
    """The most points GitHub saw in any window of 60 s (on the fake's clock)."""
    spent = sorted((r.at, 1 if r.method in ("GET", "HEAD") else 5) for r in fake.requests)
    worst, total, start = 0, 0, 0
    for at, points in spent:
        total += points
        while spent[start][0] <= at - 60:
            total -= spent[start][1]
            start += 1
        worst = max(worst, total)
    return worst


async def drive(world: World, done: Any, limit_seconds: float = 240.0) -> float:
    """Move the clock a quarter second at a time until `done()`; the clock time it took."""
    began, deadline = world.clock.now(), time.monotonic() + limit_seconds
    while not await done():
        assert time.monotonic() < deadline, "the burst did not finish"
        world.clock.advance(0.25)
        await asyncio.sleep(0.004)
    return world.clock.now() - began


@pytest.fixture
async def burst_world(start_bot: StartBot, fake_github: tuple[FakeGitHub, str]) -> World:
    fake, _ = fake_github
    # Leases are renewed on real time; the test's minutes pass in seconds.
    world = await world_with(start_bot, fake_github, BOT_LEASE_SECONDS="86400")
    fake.clock = world.clock.now
    return world


async def test_a_burst_of_100_reports_is_triaged_within_the_points_budget(
    burst_world: World,
) -> None:
    world = burst_world
    bot, fake, services = world.bot, world.fake, world.bot.services
    assert services.github.budget is not None and services.github.budget.limit == BUDGET
    advisories = [
        fake.new_advisory(
            "python/cpython", summary=f"report {n}", description=REPORT, reporter=f"burst{n}"
        )
        for n in range(BURST)
    ]
    for advisory in advisories:
        sent = await bot.send("repository_advisory", reported_payload(bot, advisory, "x"))
        assert sent.status == 202

    async def triaged() -> bool:
        # A 202 may come before the intake journal's import: none may wait there.
        await services.store.intake_settled()
        counts = await services.store.counts_by_state()
        return not any(counts.get(state) for state in ("queued", "waiting", "running"))

    took = await drive(world, triaged)
    # A poll cycle right after: it takes only the room the handlers left, waiting for it.
    poll = asyncio.create_task(services.poller.poll_once())

    async def polled() -> bool:
        return poll.done()

    await drive(world, polled)
    assert (await poll).errors == 0

    for advisory in advisories:
        bodies = [c["body"] for c in fake.comments[("python/cpython", advisory["ghsa_id"])]]
        assert sum(body.startswith(ACK_MARKER) for body in bodies) == 1
        assert advisory["collaborating_teams"], advisory["ghsa_id"]
        record = await services.advisories.get("python/cpython", advisory["ghsa_id"])
        assert record is not None and record.acknowledged_at is not None
    worst = worst_minute(fake)
    assert worst <= BUDGET
    assert worst > BUDGET * 0.8  # the budget was what held the burst back
    assert services.github.budget.waits > 0
    total = sum(1 if r.method in ("GET", "HEAD") else 5 for r in fake.requests)
    assert took >= (total - BUDGET) / BUDGET * 60  # it took the minutes the points need
    async with bot.session.get(f"{bot.url}/metrics") as response:
        text = await response.text()
    assert "ghsa_bot_github_budget_waits_total" in text
