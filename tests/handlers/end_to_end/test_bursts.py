"""Work that arrives together comes out as if it had arrived one piece after another.

Coordinators chosen in one scan (one bot, and two replicas on one database),
a coordinator whose PATCH GitHub refuses, a backlog of reminders for one
advisory, and CVE IDs asked for at once (by several comments, and by two
replicas for the same advisory), all over HTTP against the fake GitHub and the
fake CVE Services.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.advisories.deadlines import DAY
from bot.advisories.handle import AdvisoryHandle
from bot.app import close_services
from bot.context import cve_desk
from bot.records.cve_ids import assign_cve
from tests.fakecve import FakeCveServices
from tests.fakegithub import FakeGitHub
from tests.harness import (
    BotUnderTest,
    SteppedClock,
    World,
    file_report,
    scan,
    start_with_team,
    world_with,
)
from tests.scenarios import commented, replies

REPORTERS = ("r1", "r2", "r3", "r4")


def coordinator_of(advisory: dict[str, Any]) -> list[str]:
    return [c["user"]["login"] for c in advisory["credits_detailed"] if c["type"] == "coordinator"]


async def replica(start_bot: Any, clock: SteppedClock, **env: str) -> BotUnderTest:
    """Another bot on the same database (a second replica): it is not the leader, so it
    runs no poll or scan of its own; its worker takes its share of the queue."""
    bot: BotUnderTest = await start_bot(clock=clock, **env)
    deadline = time.monotonic() + 10
    while bot.services.team_data.roster() is None:
        assert time.monotonic() < deadline, "the replica did not read the roster"
        await asyncio.sleep(0.02)
    return bot


def handled(bot: BotUnderTest) -> float:
    return bot.services.metrics.handled.get(event="advisory", outcome="done")


async def test_four_reports_due_in_one_scan_go_to_four_members(world: World) -> None:
    bot, fake, clock = world.bot, world.fake, world.clock
    reports = [await file_report(bot, fake, reporter) for reporter in REPORTERS]
    clock.advance(3 * DAY + 60)  # a quiet weekend, then Monday
    await scan(bot)
    chosen = [coordinator_of(advisory) for advisory in reports]
    assert all(len(one) == 1 for one in chosen), chosen
    assert len({one[0] for one in chosen}) == 4, chosen
    loads, _ = await bot.services.advisories.coordinator_loads()
    assert loads == {one[0].lower(): 1 for one in chosen}


async def test_reports_due_together_on_two_replicas_go_to_four_members(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    # One delivery at a time per replica, and a slow GitHub: the two replicas'
    # choices overlap, each between reading the loads and crediting on GitHub.
    world = await world_with(start_bot, fake_github, BOT_WORKER_CONCURRENCY="1")
    other = await replica(start_bot, world.clock, BOT_WORKER_CONCURRENCY="1")
    reports = [await file_report(world.bot, world.fake, reporter) for reporter in REPORTERS]
    world.clock.advance(3 * DAY + 60)
    world.fake.latency = 0.1
    before = handled(other)
    assert await world.bot.services.deadlines.scan_once() >= 4
    other.services.worker.notify()
    await world.bot.settle(limit_seconds=30)
    chosen = [coordinator_of(advisory) for advisory in reports]
    assert all(len(one) == 1 for one in chosen), chosen
    assert len({one[0] for one in chosen}) == 4, chosen
    assert handled(other) > before  # the second replica chose too


async def test_a_coordinator_github_refuses_is_not_counted_for_the_next_choice(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    world = await world_with(start_bot, fake_github, BOT_MAX_ATTEMPTS="1")
    bot, fake, clock = world.bot, world.fake, world.clock
    refused = await file_report(bot, fake, "r0")
    clock.advance(3 * DAY + 60)
    fake.inject(f"security-advisories/{refused['ghsa_id']}$", method="PATCH", status=422, times=5)
    await scan(bot)
    assert coordinator_of(refused) == []  # parked: GitHub refused the credit
    loads, _ = await bot.services.advisories.coordinator_loads()
    assert loads == {}  # its reservation was let go

    reports = [await file_report(bot, fake, reporter) for reporter in REPORTERS]
    clock.advance(3 * DAY + 60)
    await scan(bot)
    chosen = [coordinator_of(advisory)[0] for advisory in reports]
    assert len(set(chosen)) == 4, chosen
    loads, _ = await bot.services.advisories.coordinator_loads()
    assert sorted(loads.values()) == [1, 1, 1, 1]


def reminders(fake: FakeGitHub, advisory: dict[str, Any]) -> list[str]:
    bodies = [c["body"] for c in fake.comments[("python/cpython", advisory["ghsa_id"])]]
    return [body for body in bodies if "<!-- ghsa-bot:reminder-" in body]


async def test_a_backlog_of_reminders_keeps_their_spacing(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    clock = SteppedClock()
    bot = await start_with_team(start_bot, fake, clock)
    advisory = await file_report(bot, fake, "ivan")
    fake.add_advisory_comment("python/cpython", advisory["ghsa_id"], "gpshead", "Looking.")
    record = await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    assert record is not None
    received = record.received_at

    # The worker is down while two scans find the 14- and then the 7-day reminder due.
    await bot.services.worker.stop()
    clock.current = received + 76 * DAY + 60
    assert await bot.services.deadlines.scan_once() >= 1
    clock.current = received + 83 * DAY + 60
    assert await bot.services.deadlines.scan_once() >= 1
    await close_services(bot.services)

    # Back up: the backlog is handled at once, as if one at a time: one reminder now...
    bot = await start_with_team(start_bot, fake, clock)
    await bot.settle()
    assert len(reminders(fake, advisory)) == 1
    assert "14 days left" in reminders(fake, advisory)[0]
    clock.advance(3600)
    await scan(bot)
    assert len(reminders(fake, advisory)) == 1  # within 23 hours
    # ...and the held one a day later, once.
    clock.advance(23 * 3600)
    await scan(bot)
    assert len(reminders(fake, advisory)) == 2
    assert "Urgent:" in reminders(fake, advisory)[1]
    assert "7 days left" in reminders(fake, advisory)[1]
    clock.advance(24 * 3600)
    await scan(bot)
    assert len(reminders(fake, advisory)) == 2


async def test_cve_commands_in_a_burst_reserve_one_id_per_advisory(
    cna_world: tuple[World, FakeCveServices],
) -> None:
    world, cna = cna_world
    reports = [await file_report(world.bot, world.fake, reporter) for reporter in REPORTERS[:3]]
    # Three advisories, each asked twice in one poll (one comment with /cve twice on the
    # first, two comments on the others).
    world.fake.add_advisory_comment(
        "python/cpython", reports[0]["ghsa_id"], "gpshead", "/cve\n/cve"
    )
    for advisory in reports[1:]:
        for login in ("gpshead", "sethmlarson"):
            world.fake.add_advisory_comment("python/cpython", advisory["ghsa_id"], login, "/cve")
    await commented(world, reports[0], "gpshead", "Thanks.")
    assert len(cna.ids) == 3
    assert {advisory["cve_id"] for advisory in reports} == set(cna.ids)
    for advisory in reports:
        text = "\n".join(str(reply["body"]) for reply in replies(world, advisory))
        assert text.count("Reserved ") == 1, text
        assert text.count("already has") == 1, text


async def test_two_replicas_asking_for_one_advisorys_cve_at_once_reserve_one(
    start_bot: Any,
    fake_github: tuple[FakeGitHub, str],
    fake_cve: tuple[FakeCveServices, dict[str, str]],
) -> None:
    cna, env = fake_cve
    world = await world_with(start_bot, fake_github, **env)
    other = await replica(start_bot, world.clock, **env)
    advisory = await file_report(world.bot, world.fake, "bea")
    world.fake.latency = 0.05  # both replicas read the advisory before either answers

    async def ask(bot: BotUnderTest) -> str:
        services = bot.services
        client = services.github.installation(bot.installation_id)
        path = f"/repos/python/cpython/security-advisories/{advisory['ghsa_id']}"
        handle = AdvisoryHandle(
            client,
            services.advisories,
            services.clock,
            "python/cpython",
            advisory["ghsa_id"],
            await client.getitem(path),
        )
        return await assign_cve(handle, cve_desk(services))

    answers = await asyncio.gather(ask(world.bot), ask(other))
    assert len(cna.ids) == 1, answers
    [cve_id] = cna.ids
    assert advisory["cve_id"] == cve_id
    assert all(cve_id in answer for answer in answers), answers
    log = await world.bot.services.advisories.audit_log("python/cpython", advisory["ghsa_id"])
    assert [entry.action for entry in log].count("cve-reserved") == 1
