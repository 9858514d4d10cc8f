"""handlers/coordinators.py with its doors (GitHub, advisories, clock, config, member leave,
team) and nothing else.

A coordinator is only ever a team member: a coordinator credit on GitHub for
anyone else (any collaborator can edit credits) is ignored and said once.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from gidgethub import sansio

from bot.core.config import BotConfig
from handlers import coordinators
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
from tests.handlers.unit.github_answers import (
    credit,
    github_user,
    repository_advisory,
    script_advisory,
    script_comments,
)
from tests.harness import SteppedClock

REPO = "python/cpython"
GHSA = "GHSA-6jv2-p8r4-c3xq"
ADVISORY = f"/repos/{REPO}/security-advisories/{GHSA}"
COMMENTS = f"{ADVISORY}/comments"
DAY = 86400.0


def due() -> sansio.Event:
    """The deadline scanner's `advisory.coordinator_due` (bot/advisories/deadlines.py)."""
    return advisory_event(
        "coordinator_due",
        REPO,
        GHSA,
        tier=0,
        installation={"id": 7},
        repository_advisory={"ghsa_id": GHSA, "state": "triage"},
    )


def doors(
    github: ScriptedGitHub,
    stores: Stores,
    clock: SteppedClock,
    team: RosterTeam,
    config: BotConfig = CPYTHON,
) -> UnitDoors:
    return UnitDoors(
        github=github,
        advisories=stores.advisories,
        clock=clock,
        config=config,
        member_leave=stores.member_leave,
        team=team,
    )


def reported_by(reporter: str, *credits: dict[str, Any]) -> dict[str, Any]:
    """A report as GitHub has it after triage: the reporter credited, the team added."""
    detailed = [credit(reporter, "reporter", "accepted"), *credits]
    return repository_advisory(
        REPO,
        GHSA,
        author=github_user(reporter),
        credits=[{"login": c["user"]["login"], "type": c["type"]} for c in detailed],
        credits_detailed=detailed,
        collaborating_users=[github_user("hugovk"), github_user("sethmlarson")],
    )


async def open_report(stores: Stores, clock: SteppedClock, reporter: str) -> None:
    record = advisory_record(REPO, GHSA, received_at=clock.now() - 3 * DAY - 60, reporter=reporter)
    await stores.advisories.save(record)


async def test_a_report_without_one_gets_the_eligible_member_with_the_fewest(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    advisory = reported_by("nina")
    script_advisory(github, REPO, advisory)
    thread = script_comments(github, COMMENTS)
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await open_report(stores, clock, "nina")
        # AA-Turner already coordinates an open report; release managers are never chosen.
        other = advisory_record(
            REPO, "GHSA-22cc-33dd-44ff", received_at=clock.now(), coordinator="AA-Turner"
        )
        await stores.advisories.save(other)
        unit = doors(github, stores, clock, RosterTeam(CPYTHON))
        await coordinators.coordinator_due(due(), unit)

        [patch] = github.sent("PATCH", ADVISORY)
        assert patch.data == {
            "credits": [
                {"login": "nina", "type": "reporter"},  # kept
                {"login": "benjaminp", "type": "coordinator"},
            ],
            "collaborating_users": ["hugovk", "sethmlarson", "benjaminp"],
        }
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None
        assert (record.coordinator, record.coordinator_since) == ("benjaminp", clock.now())
        [said] = [c["body"] for c in thread]
        assert said.startswith(
            "<!-- ghsa-bot:coordinator -->\n@benjaminp is now the coordinator for this report, "
            "assigned automatically after 3 days without one."
        )
        # The reporter reads the comment: the reasoning goes to the audit log only.
        assert "fewest" not in said and "eligible" not in said
        [(action, reason)] = [
            (e.action, e.reason) for e in await stores.advisories.audit_log(REPO, GHSA)
        ]
        assert action == "coordinator-assigned" and reason.startswith(
            "@benjaminp: of 24 eligible members"
        )
        assert "fewest open advisories (0); of the 23 with that load" in reason

        asked = len(github.requests)  # GET, PATCH and the comment's POST
        await coordinators.coordinator_due(due(), unit)  # it has one now
        assert len(github.requests) == asked == 3 and len(thread) == 1


async def test_members_on_leave_and_the_reporter_are_not_chosen(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    advisory = reported_by("AA-Turner")  # a member may report too
    script_advisory(github, REPO, advisory)
    script_comments(github, COMMENTS)
    clock = clock_at()  # 2026-09-21
    async with open_stores(tmp_path) as stores:
        await open_report(stores, clock, "AA-Turner")
        await stores.member_leave.set_leave("benjaminp", "2026-10-01")  # their own /leave
        await stores.member_leave.set_leave("di", "2026-09-20")  # back already
        await coordinators.coordinator_due(due(), doors(github, stores, clock, RosterTeam(CPYTHON)))
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.coordinator == "di"
        assert [c["user"]["login"] for c in advisory["credits_detailed"]] == ["AA-Turner", "di"]


async def test_a_member_credited_as_coordinator_on_github_is_recorded_not_replaced(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    # octo-member is in the GitHub team, not in roster.toml: still a member.
    script_advisory(github, REPO, reported_by("pia", credit("octo-member", "coordinator")))
    thread = script_comments(github, COMMENTS)
    team = RosterTeam(CPYTHON, github_team=["octo-member"])
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await open_report(stores, clock, "pia")
        await coordinators.coordinator_due(due(), doors(github, stores, clock, team))
        assert github.sent("PATCH") == [] and thread == []
        assert team.asked == ["octo-member"]
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.coordinator == "octo-member"
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [(e.action, e.reason) for e in log] == [
            ("coordinator-found", "@octo-member is credited as coordinator")
        ]


async def test_a_coordinator_credit_for_a_non_member_is_ignored_and_said_once(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    # The reporter credits themselves, and a friend, as coordinator.
    advisory = reported_by("nina", credit("nina", "coordinator"), credit("mallory", "coordinator"))
    script_advisory(github, REPO, advisory)
    thread = script_comments(github, COMMENTS)
    team = RosterTeam(CPYTHON)
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await open_report(stores, clock, "nina")
        await coordinators.coordinator_due(due(), doors(github, stores, clock, team))
        assert team.asked == ["nina", "mallory"]
        ignored, assigned = (c["body"] for c in thread)
        assert ignored.startswith(
            "<!-- ghsa-bot:coordinator-credit-ignored -->\n@nina, @mallory: credited as "
            "coordinator here but not on the Python Security Response Team, so the bot does "
            "not treat them as the coordinator"
        )
        assert "@AA-Turner is now the coordinator" in assigned
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.coordinator == "AA-Turner"
        [patch] = github.sent("PATCH", ADVISORY)
        assert patch.data["credits"][-1] == {"login": "AA-Turner", "type": "coordinator"}
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [(e.action, e.reason) for e in log] == [
            ("coordinator-credit-ignored", "@nina, @mallory: not members"),
            ("coordinator-assigned", log[1].reason),
        ]


async def test_with_the_unsafe_option_a_credited_coordinator_is_taken_as_is(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    script_advisory(github, REPO, reported_by("nina", credit("mallory", "coordinator")))
    thread = script_comments(github, COMMENTS)
    team = RosterTeam(CPYTHON)
    unsafe = replace(
        CPYTHON,
        unsafe=replace(CPYTHON.unsafe, collaborators_name_the_coordinator_with_credits=True),
    )
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await open_report(stores, clock, "nina")
        await coordinators.coordinator_due(due(), doors(github, stores, clock, team, unsafe))
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.coordinator == "mallory"
        assert team.asked == [] and github.sent("PATCH") == [] and thread == []


async def test_with_no_eligible_member_the_admins_are_asked_to_pick_one(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    script_advisory(github, REPO, reported_by("omar"))
    thread = script_comments(github, COMMENTS)
    team = RosterTeam(CPYTHON)
    roster = CPYTHON.coordinators.roster
    everyone = frozenset(entry.login.lower() for entry in team.roster())
    council = replace(  # everyone on the steering council: none may be assigned
        CPYTHON,
        coordinators=replace(
            CPYTHON.coordinators, roster=replace(roster, steering_council=everyone)
        ),
    )
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await open_report(stores, clock, "omar")
        unit = doors(github, stores, clock, team, council)
        await coordinators.coordinator_due(due(), unit)
        await coordinators.coordinator_due(due(), unit)  # a retry says nothing more
        assert github.sent("PATCH") == []
        assert [c["body"] for c in thread] == [
            "<!-- ghsa-bot:coordinator-none -->\n@warsaw @ewdurbin @ned-deily @sethmlarson "
            "@StanFromIreland: this report needs a coordinator. Please pick one "
            "(`/assign @member`).\n"
        ]
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.coordinator is None
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert {(e.action, e.reason) for e in log} == {
            ("coordinator-none", "no eligible member (exempt, on leave, inactive or the reporter)")
        }
