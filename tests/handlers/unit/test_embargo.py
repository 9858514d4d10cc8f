"""handlers/embargo.py with its doors: /embargo on one advisory, and its reminders.

A linked group's /embargo and a member published alone need several
installations; tests/handlers/end_to_end/test_links.py drives those through the
fake GitHub.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from gidgethub import sansio

from bot.commands.dispatch import run_command
from bot.context import CommandCall
from bot.core.config import load_config
from handlers import embargo
from tests.handlers.unit.doors import (
    ScriptedGitHub,
    Stores,
    UnitDoors,
    advisory_event,
    clock_at,
    handle_on,
    open_stores,
)
from tests.handlers.unit.fakes import advisory_record
from tests.handlers.unit.github_answers import repository_advisory, script_advisory, script_comments
from tests.harness import ROOT, SteppedClock

REPO = "python/cpython"
GHSA = "GHSA-3vq8-x2mh-7rfc"
COMMENTS = f"/repos/{REPO}/security-advisories/{GHSA}/comments"
CPYTHON = load_config(ROOT / "config")  # response_days = 90
DAY = 86400.0


def doors(github: ScriptedGitHub, stores: Stores, clock: SteppedClock) -> UnitDoors:
    return UnitDoors(github=github, advisories=stores.advisories, clock=clock, config=CPYTHON)


async def slash_embargo(unit: UnitDoors, advisory: dict[str, Any], arguments: str) -> str:
    """`/embargo ARGUMENTS` written by gpshead on `advisory`, as the command loop runs it."""
    handle = handle_on(unit.github, unit.advisories, unit.clock, REPO, advisory)
    record = await unit.advisories.get(REPO, GHSA)
    declared = embargo.COMMANDS.find("embargo")
    assert declared is not None
    return await run_command(declared, arguments, CommandCall(unit, handle, record, "gpshead", []))


def day_after(clock: SteppedClock, days: int) -> str:
    moment = datetime.datetime.fromtimestamp(clock.now() + days * DAY, datetime.UTC)
    return moment.date().isoformat()


def reminder(tier: int, date: str) -> sansio.Event:
    """The deadline scanner's `advisory.disclosure_reminder` (bot/advisories/deadlines.py)."""
    return advisory_event(
        "disclosure_reminder",
        REPO,
        GHSA,
        tier=tier,
        date=date,
        installation={"id": 7},
    )


async def test_embargo_sets_moves_and_clears_the_date_and_refuses_bad_ones(
    tmp_path: Path,
) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    advisory = repository_advisory(REPO, GHSA, state="draft")
    script_advisory(github, REPO, advisory)
    async with open_stores(tmp_path) as stores:
        await stores.advisories.save(advisory_record(REPO, GHSA, received_at=clock.now()))
        unit = doors(github, stores, clock)
        soon, later = day_after(clock, 30), day_after(clock, 120)
        assert await slash_embargo(unit, advisory, soon) == (
            f"Planned disclosure date set to {soon}; reminders go out 7, 1 days before and on "
            "the day."
        )
        assert await stores.advisories.planned_disclosure(REPO, GHSA) == (
            datetime.date.fromisoformat(soon)
        )
        assert await slash_embargo(unit, advisory, soon) == (
            f"The planned disclosure date is already {soon}; nothing changed."
        )
        # Past the 90-day deadline: set, and said.
        moved = await slash_embargo(unit, advisory, later)
        assert moved.startswith(f"Planned disclosure date set to {later};")
        assert moved.endswith(f"It is after the group's 90-day deadline ({day_after(clock, 90)}).")
        assert await slash_embargo(unit, advisory, "NONE") == "Planned disclosure date cleared."
        assert await stores.advisories.planned_disclosure(REPO, GHSA) is None
        for word, refusal in (
            ("2001-01-01", "Not done: 2001-01-01 has passed."),
            ("2026-02-30", "Not done: give the date as YYYY-MM-DD, or `none`."),
            ("next-week", "Not done: give the date as YYYY-MM-DD, or `none`."),
        ):
            assert (await slash_embargo(unit, advisory, word)).startswith(refusal), word
        assert (await slash_embargo(unit, advisory, "")).startswith("Not done: give one date.")
        audit = await stores.advisories.audit_log(REPO, GHSA)
        assert [entry.reason for entry in audit] == [
            f"@gpshead /embargo {soon}",
            f"@gpshead /embargo {later}",
            "@gpshead /embargo none",
        ]
        assert github.requests == []  # nothing linked: nobody else to tell


async def test_reminders_go_to_the_coordinator_once_per_tier_and_not_for_an_old_date(
    tmp_path: Path,
) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    advisory = repository_advisory(REPO, GHSA, state="draft")
    script_advisory(github, REPO, advisory)
    thread = script_comments(github, COMMENTS)
    async with open_stores(tmp_path) as stores:
        await stores.advisories.save(
            advisory_record(REPO, GHSA, received_at=clock.now(), coordinator="gpshead")
        )
        unit = doors(github, stores, clock)
        date = day_after(clock, 7)
        await slash_embargo(unit, advisory, date)

        await embargo.disclosure_reminder(reminder(7, date), unit)
        await embargo.disclosure_reminder(reminder(7, date), unit)  # a second replica's scan
        [seven] = [comment["body"] for comment in thread]
        assert f"@gpshead: the planned disclosure of this advisory is in 7 days ({date})." in seven
        # A reminder for a date /embargo has moved since reminds nothing.
        await embargo.disclosure_reminder(reminder(1, day_after(clock, 1)), unit)
        assert len(thread) == 1
        await embargo.disclosure_reminder(reminder(0, date), unit)
        assert len(thread) == 2 and "is today" in thread[1]["body"]
        # A later tier was sent: an earlier one arriving late is not sent after it.
        await embargo.disclosure_reminder(reminder(1, date), unit)
        assert len(thread) == 2
        audit = [entry.action for entry in await stores.advisories.audit_log(REPO, GHSA)]
        assert audit[-2:] == ["disclosure-reminder-7d", "disclosure-reminder-0d"]
