"""Reminders before the 90-day deadline and escalation, on a clock the test moves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from bot.deadlines import DAY
from bot.service import close_services
from tests.fakegithub import FakeGitHub
from tests.harness import BotUnderTest, SteppedClock
from tests.test_triage import REPORT, reported_payload

OUTSIDE_TEAM = {"sethmlarson"}


async def start(start_bot: Any, fake: FakeGitHub, clock: SteppedClock) -> BotUnderTest:
    bot: BotUnderTest = await start_bot(clock=clock)
    await bot.started()
    roster = bot.services.team_data.get("roster")  # type: ignore[union-attr]
    fake.team_members[("python", "psrt")] = {
        entry.login: "active" for entry in roster if entry.login not in OUTSIDE_TEAM
    }
    return bot


@dataclass
class World:
    bot: BotUnderTest
    fake: FakeGitHub
    clock: SteppedClock


@pytest.fixture
async def world(start_bot: Any, fake_github: tuple[FakeGitHub, str]) -> World:
    """The bot on a clock the test moves, and the fake with the PSRT team."""
    fake, _ = fake_github
    clock = SteppedClock()
    return World(await start(start_bot, fake, clock), fake, clock)


async def report(bot: BotUnderTest, fake: FakeGitHub, reporter: str) -> dict[str, Any]:
    advisory = fake.new_advisory(
        "python/cpython", summary="s", description=REPORT, reporter=reporter
    )
    await bot.send("repository_advisory", reported_payload(bot, advisory, reporter))
    await bot.settle()
    return advisory


FIRST_COMMENTS = ("<!-- ghsa-bot:acknowledgement -->", "<!-- ghsa-bot:experts -->")


def comments(fake: FakeGitHub, advisory: dict[str, Any]) -> list[str]:
    """The comments after the bot's first two (acknowledgement, experts)."""
    bodies = [c["body"] for c in fake.comments[("python/cpython", advisory["ghsa_id"])]]
    return [body for body in bodies if not body.startswith(FIRST_COMMENTS)]


async def scan(bot: BotUnderTest) -> int:
    added = await bot.services.deadlines.scan_once()  # type: ignore[union-attr]
    await bot.settle()
    return added


async def test_reminders_at_14_7_and_0_days_never_repeated_after_a_restart(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    clock = SteppedClock()
    bot = await start(start_bot, fake, clock)
    advisory = await report(bot, fake, "ivan")
    received = (
        await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    ).received_at  # type: ignore[union-attr]
    # A team member answered, so only the deadline speaks.
    fake.add_advisory_comment("python/cpython", advisory["ghsa_id"], "gpshead", "Looking.")

    clock.current = received + 75 * DAY
    await scan(bot)
    assert comments(fake, advisory) == ["Looking."]

    clock.current = received + 76 * DAY + 60
    await scan(bot)
    assert "14 days left" in comments(fake, advisory)[-1]
    assert "@python/psrt" in comments(fake, advisory)[-1]  # no coordinator yet: the team
    clock.advance(3600)
    assert await scan(bot) == 0  # already sent, and within 23 hours

    clock.current = received + 83 * DAY + 60
    await scan(bot)
    assert (
        comments(fake, advisory)[-1]
        .split("\n", 1)[1]
        .startswith("Urgent: @python/psrt: 7 days left")
    )

    # A restart on the same database: nothing is sent again.
    await close_services(bot.services)
    bot = await start(start_bot, fake, clock)
    assert await scan(bot) == 0
    assert len(comments(fake, advisory)) == 3

    clock.current = received + 90 * DAY + 60
    await scan(bot)
    assert "deadline for this report passed on" in comments(fake, advisory)[-1]
    clock.advance(30 * DAY)
    assert await scan(bot) == 0
    assert len(comments(fake, advisory)) == 4
    log = await bot.services.advisories.audit_log("python/cpython", advisory["ghsa_id"])  # type: ignore[union-attr]
    assert [e.action for e in log if e.action.startswith("reminder")] == [
        "reminder-14d",
        "reminder-7d",
        "reminder-0d",
    ]


async def test_a_late_discovery_gets_only_the_most_urgent_reminder(world: World) -> None:
    bot, fake, clock = world.bot, world.fake, world.clock
    advisory = await report(bot, fake, "judy")
    record = await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])  # type: ignore[union-attr]
    fake.add_advisory_comment("python/cpython", advisory["ghsa_id"], "gpshead", "Looking.")
    clock.current = record.received_at + 85 * DAY  # type: ignore[union-attr]
    await scan(bot)
    reminders = [c for c in comments(fake, advisory) if "days left" in c]
    assert len(reminders) == 1 and "7 days left" in reminders[0]


async def test_no_reminders_once_published_or_completed(world: World) -> None:
    bot, fake, clock = world.bot, world.fake, world.clock
    advisory = await report(bot, fake, "kim")
    fake.add_advisory_comment("python/cpython", advisory["ghsa_id"], "gpshead", "Looking.")
    advisory["summary"] = "[COMPLETED] s"
    advisory["updated_at"] = "2099-01-01T00:00:00Z"
    await bot.services.poller.poll_once()  # type: ignore[union-attr]
    await bot.settle()
    clock.advance(100 * DAY)
    assert await scan(bot) == 0


async def test_a_report_nobody_answered_is_escalated_to_the_admins_once(world: World) -> None:
    bot, fake, clock = world.bot, world.fake, world.clock
    advisory = await report(bot, fake, "leo")
    clock.advance(47 * 3600)
    await scan(bot)
    assert comments(fake, advisory) == []
    clock.advance(2 * 3600)
    await scan(bot)
    escalation = comments(fake, advisory)[-1]
    roster = bot.services.team_data.get("roster")  # type: ignore[union-attr]
    admins = [entry.login for entry in roster if "Admin" in entry.roles]
    assert all(f"@{admin}" in escalation for admin in admins)
    assert "no one from the team has responded to this report in 48 hours" in escalation
    clock.advance(DAY)
    await scan(bot)
    assert len(comments(fake, advisory)) == 1


async def test_a_team_comment_counts_as_acknowledgement(world: World) -> None:
    bot, fake, clock = world.bot, world.fake, world.clock
    advisory = await report(bot, fake, "mia")
    fake.add_advisory_comment("python/cpython", advisory["ghsa_id"], "sethmlarson", "On it.")
    clock.advance(49 * 3600)
    await scan(bot)
    assert comments(fake, advisory) == ["On it."]  # no escalation
    record = await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])  # type: ignore[union-attr]
    assert record is not None and record.human_acknowledged_at is not None
