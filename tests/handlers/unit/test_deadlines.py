"""handlers/deadlines.py with its doors (GitHub, advisories, clock, config, team) and nothing else."""

from __future__ import annotations

import datetime
from dataclasses import replace
from pathlib import Path

import pytest
from gidgethub import sansio

from bot.advisories.deadlines import DAY
from bot.core.config import BotConfig
from handlers import deadlines
from tests.handlers.unit.doors import (
    CPYTHON,
    ScriptedGitHub,
    Stores,
    UnitDoors,
    advisory_event,
    clock_at,
    open_stores,
)
from tests.handlers.unit.fakes import RosterTeam, advisory_record
from tests.handlers.unit.github_answers import BOT_LOGIN, script_comments, thread_comment
from tests.harness import SteppedClock

REPO = "python/cpython"
GHSA = "GHSA-3hx8-v6c2-q9jm"
COMMENTS = f"/repos/{REPO}/security-advisories/{GHSA}/comments"
ADMINS = "@warsaw @ewdurbin @ned-deily @sethmlarson @StanFromIreland"  # roster.toml's order


def due(action: str, tier: int) -> sansio.Event:
    """An event of the deadline scanner (bot/advisories/deadlines.py)."""
    return advisory_event(
        action,
        REPO,
        GHSA,
        tier=tier,
        installation={"id": 7},
        repository_advisory={"ghsa_id": GHSA, "state": "triage"},
    )


def doors(
    github: ScriptedGitHub, stores: Stores, clock: SteppedClock, config: BotConfig = CPYTHON
) -> UnitDoors:
    return UnitDoors(
        github=github,
        advisories=stores.advisories,
        clock=clock,
        config=config,
        team=RosterTeam(config),
    )


def deadline_of(received_at: float) -> str:
    return f"{datetime.datetime.fromtimestamp(received_at + 90 * DAY, datetime.UTC):%Y-%m-%d}"


async def test_a_reminder_names_the_coordinator_and_each_tier_is_posted_once(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    thread = script_comments(github, COMMENTS)
    clock = clock_at()
    received = clock.now() - 76 * DAY
    async with open_stores(tmp_path) as stores:
        record = advisory_record(REPO, GHSA, received_at=received, coordinator="gpshead")
        await stores.advisories.save(record)
        unit = doors(github, stores, clock)
        await deadlines.deadline_reminder(due("deadline_reminder", 14), unit)
        [reminder] = [c["body"] for c in thread]
        assert reminder == (
            "<!-- ghsa-bot:reminder-14d -->\n@gpshead: 14 days left until the 90-day deadline "
            f"for this report ({deadline_of(received)}).\n"
        )
        reminded = await stores.advisories.get(REPO, GHSA)
        assert reminded is not None and reminded.last_reminder_at == clock.now()

        clock.advance(3600)  # the same tier again (a redelivery): not posted twice
        await deadlines.deadline_reminder(due("deadline_reminder", 14), unit)
        assert len(thread) == 1

        clock.advance(7 * DAY)
        await deadlines.deadline_reminder(due("deadline_reminder", 7), unit)
        assert (
            thread[-1]["body"]
            .split("\n")[1]
            .startswith("Urgent: @gpshead: 7 days left until the 90-day deadline")
        )
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [(e.action, e.reason) for e in log] == [
            ("reminder-14d", "reminded @gpshead"),
            ("reminder-14d", "reminder already posted"),
            ("reminder-7d", "reminded @gpshead"),
        ]


@pytest.mark.parametrize(
    ("github_team", "who"),
    [
        ("python/psrt", "@python/psrt"),
        # No GitHub team configured: the team is named, nobody is mentioned (not @None).
        (None, "Python Security Response Team"),
    ],
)
async def test_without_a_coordinator_the_team_hears_that_the_deadline_passed(
    tmp_path: Path, github_team: str | None, who: str
) -> None:
    github = ScriptedGitHub()
    thread = script_comments(github, COMMENTS)
    clock = clock_at()
    received = clock.now() - 90 * DAY - 60
    config = replace(CPYTHON, team=replace(CPYTHON.team, github_team=github_team))
    async with open_stores(tmp_path) as stores:
        await stores.advisories.save(advisory_record(REPO, GHSA, received_at=received))
        unit = doors(github, stores, clock, config)
        await deadlines.deadline_reminder(due("deadline_reminder", 0), unit)
        [passed] = [c["body"] for c in thread]
        assert passed.startswith(
            f"<!-- ghsa-bot:reminder-0d -->\n{who}: the 90-day deadline for this report "
            f"passed on {deadline_of(received)}. Please bring it to a finished state"
        )
        assert "@None" not in passed
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [(e.action, e.reason) for e in log] == [("reminder-0d", f"reminded {who}")]


async def test_a_completed_or_unknown_advisory_gets_no_reminder_or_escalation(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        unit = doors(github, stores, clock)
        await deadlines.deadline_reminder(due("deadline_reminder", 7), unit)  # unknown
        await deadlines.unacknowledged(due("unacknowledged", 48), unit)
        done = advisory_record(
            REPO, GHSA, received_at=clock.now() - 85 * DAY, completed_at=clock.now() - DAY
        )
        await stores.advisories.save(done)
        await deadlines.deadline_reminder(due("deadline_reminder", 7), unit)
        assert github.requests == []
        assert await stores.advisories.get(REPO, GHSA) == done  # not even a reminder time
        assert await stores.advisories.audit_log(REPO, GHSA) == []


async def test_a_report_nobody_on_the_team_answered_is_escalated_to_the_admins_once(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    thread = script_comments(
        github,
        COMMENTS,
        thread_comment(COMMENTS, BOT_LOGIN, "<!-- ghsa-bot:acknowledgement -->\nHi @leo"),
        thread_comment(COMMENTS, "leo", "Any news?"),  # the reporter is not the team
    )
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await stores.advisories.save(
            advisory_record(REPO, GHSA, received_at=clock.now() - 49 * 3600, reporter="leo")
        )
        unit = doors(github, stores, clock)
        await deadlines.unacknowledged(due("unacknowledged", 48), unit)
        clock.advance(DAY)
        await deadlines.unacknowledged(due("unacknowledged", 48), unit)
        escalations = [c["body"] for c in thread[2:]]
        assert escalations == [
            "<!-- ghsa-bot:escalation-unacknowledged -->\n"
            f"{ADMINS}: no one from the team has responded to this report in 48 hours. "
            "Please acknowledge it or assign a coordinator.\n"
        ]
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.human_acknowledged_at is None
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [(e.action, e.reason) for e in log] == [
            ("escalated", f"no team comment after 48 hours; told {ADMINS}"),
            ("escalated", "already told"),
        ]


async def test_a_team_members_comment_counts_as_the_acknowledgement(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    thread = script_comments(
        github,
        COMMENTS,
        thread_comment(COMMENTS, "mia", "Here is more detail."),
        thread_comment(COMMENTS, "SethMLarson", "On it.", at="2026-09-22T10:30:00Z"),
    )
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await stores.advisories.save(
            advisory_record(REPO, GHSA, received_at=clock.now() - 49 * 3600, reporter="mia")
        )
        unit = doors(github, stores, clock)
        await deadlines.unacknowledged(due("unacknowledged", 48), unit)
        assert len(thread) == 2 and github.sent("POST") == []  # no escalation
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None
        assert (
            record.human_acknowledged_at
            == datetime.datetime(2026, 9, 22, 10, 30, tzinfo=datetime.UTC).timestamp()
        )
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [(e.action, e.reason) for e in log] == [
            ("acknowledged-by-team", "@sethmlarson commented")
        ]
        reads = len(github.requests)
        await deadlines.unacknowledged(due("unacknowledged", 48), unit)  # known now
        assert len(github.requests) == reads
