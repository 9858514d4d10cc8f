"""Reminders before the 90-day deadline and escalation, on a clock the test moves."""

from __future__ import annotations

from typing import Any

from bot.advisories.deadlines import DAY
from bot.app import close_services
from tests.fakegithub import FakeGitHub
from tests.harness import SteppedClock, World, file_report, scan, start_with_team

FIRST_COMMENTS = (
    "<!-- ghsa-bot:acknowledgement -->",
    "<!-- ghsa-bot:experts -->",
    "<!-- ghsa-bot:coordinator -->",
)


def comments(fake: FakeGitHub, advisory: dict[str, Any]) -> list[str]:
    """The comments after the bot's first ones (acknowledgement, experts, coordinator)."""
    bodies = [c["body"] for c in fake.comments[("python/cpython", advisory["ghsa_id"])]]
    return [body for body in bodies if not body.startswith(FIRST_COMMENTS)]


async def test_reminders_at_14_7_and_0_days_never_repeated_after_a_restart(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    clock = SteppedClock()
    bot = await start_with_team(start_bot, fake, clock)
    advisory = await file_report(bot, fake, "ivan")
    received = (
        await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    ).received_at
    # A team member answered, so only the deadline speaks.
    fake.add_advisory_comment("python/cpython", advisory["ghsa_id"], "gpshead", "Looking.")

    clock.current = received + 75 * DAY
    await scan(bot)
    assert comments(fake, advisory) == ["Looking."]

    clock.current = received + 76 * DAY + 60
    await scan(bot)
    record = await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    assert record is not None and record.coordinator  # assigned on day 3
    assert "14 days left" in comments(fake, advisory)[-1]
    assert f"@{record.coordinator}:" in comments(fake, advisory)[-1]
    clock.advance(3600)
    assert await scan(bot) == 0  # already sent, and within 23 hours

    clock.current = received + 83 * DAY + 60
    await scan(bot)
    assert (
        comments(fake, advisory)[-1]
        .split("\n", 1)[1]
        .startswith(f"Urgent: @{record.coordinator}: 7 days left")
    )

    # A restart on the same database: nothing is sent again.
    await close_services(bot.services)
    bot = await start_with_team(start_bot, fake, clock)
    assert await scan(bot) == 0
    assert len(comments(fake, advisory)) == 3

    clock.current = received + 90 * DAY + 60
    await scan(bot)
    assert "deadline for this report passed on" in comments(fake, advisory)[-1]
    clock.advance(30 * DAY)
    assert await scan(bot) == 0
    assert len(comments(fake, advisory)) == 4
    log = await bot.services.advisories.audit_log("python/cpython", advisory["ghsa_id"])
    assert [e.action for e in log if e.action.startswith("reminder")] == [
        "reminder-14d",
        "reminder-7d",
        "reminder-0d",
    ]


async def test_a_late_discovery_gets_only_the_most_urgent_reminder(world: World) -> None:
    bot, fake, clock = world.bot, world.fake, world.clock
    advisory = await file_report(bot, fake, "judy")
    record = await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    fake.add_advisory_comment("python/cpython", advisory["ghsa_id"], "gpshead", "Looking.")
    clock.current = record.received_at + 85 * DAY
    await scan(bot)
    reminders = [c for c in comments(fake, advisory) if "days left" in c]
    assert len(reminders) == 1 and "7 days left" in reminders[0]


async def test_no_reminders_once_published_or_completed(world: World) -> None:
    bot, fake, clock = world.bot, world.fake, world.clock
    advisory = await file_report(bot, fake, "kim")
    # A title tag alone (anyone collaborating can write one) stops nothing...
    advisory["summary"] = "[COMPLETED] s"
    advisory["updated_at"] = "2099-01-01T00:00:00Z"
    await bot.services.poller.poll_once()
    await bot.settle()
    record = await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    assert record is not None and record.completed_at is None
    # ...a team member's /complete does.
    fake.add_advisory_comment("python/cpython", advisory["ghsa_id"], "gpshead", "/complete")
    await bot.services.poller.poll_comments()
    await bot.settle()
    clock.advance(100 * DAY)
    assert await scan(bot) == 0


async def test_a_report_nobody_answered_is_escalated_to_the_admins_once(world: World) -> None:
    bot, fake, clock = world.bot, world.fake, world.clock
    advisory = await file_report(bot, fake, "leo")
    clock.advance(47 * 3600)
    await scan(bot)
    assert comments(fake, advisory) == []
    clock.advance(2 * 3600)
    await scan(bot)
    escalation = comments(fake, advisory)[-1]
    roster = bot.services.team_data.roster()
    admins = [entry.login for entry in roster if "Admin" in entry.roles]
    assert all(f"@{admin}" in escalation for admin in admins)
    assert "no one from the team has responded to this report in 48 hours" in escalation
    clock.advance(DAY)
    await scan(bot)
    assert len(comments(fake, advisory)) == 1


async def test_a_team_comment_counts_as_acknowledgement(world: World) -> None:
    bot, fake, clock = world.bot, world.fake, world.clock
    advisory = await file_report(bot, fake, "mia")
    fake.add_advisory_comment("python/cpython", advisory["ghsa_id"], "sethmlarson", "On it.")
    clock.advance(49 * 3600)
    await scan(bot)
    assert comments(fake, advisory) == ["On it."]  # no escalation
    record = await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    assert record is not None and record.human_acknowledged_at is not None
