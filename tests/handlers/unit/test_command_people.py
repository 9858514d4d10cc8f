"""handlers/command_people.py with its doors (advisories, clock, team) and nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.commands.dispatch import run_command
from bot.context import CommandCall
from handlers import command_people
from tests.handlers.unit.doors import (
    CPYTHON,
    ScriptedGitHub,
    Stores,
    UnitDoors,
    clock_at,
    handle_on,
    open_stores,
)
from tests.handlers.unit.fakes import RosterTeam, advisory_record
from tests.handlers.unit.github_answers import (
    credit,
    github_user,
    repository_advisory,
    script_advisory,
)
from tests.harness import SteppedClock

REPO = "python/cpython"
GHSA = "GHSA-2c5p-9m8q-vh4x"


def _reported(**fields: Any) -> dict[str, Any]:
    """A report as GitHub keeps it: the reporter credited and a collaborator (unless
    `fields` say otherwise; `credits` always mirrors `credits_detailed`)."""
    detailed = fields.pop("credits_detailed", [credit("quinn", "reporter")])
    credits = [{"login": c["user"]["login"], "type": c["type"]} for c in detailed]
    fields.setdefault("collaborating_users", [github_user("quinn")])
    return repository_advisory(REPO, GHSA, credits=credits, credits_detailed=detailed, **fields)


async def _call(
    stores: Stores,
    github: ScriptedGitHub,
    doors: UnitDoors,
    advisory: dict[str, Any],
    caller: str = "gpshead",
) -> CommandCall[Any]:
    script_advisory(github, REPO, advisory)
    handle = handle_on(github, stores.advisories, doors.clock, REPO, advisory)
    return CommandCall(doors, handle, await stores.advisories.get(REPO, GHSA), caller, [])


async def _run(name: str, arguments: str, call: CommandCall[Any]) -> str:
    declared = command_people.COMMANDS.find(name)
    assert declared is not None
    return await run_command(declared, arguments, call)


async def _reported_to(stores: Stores, clock: SteppedClock, **fields: Any) -> None:
    await stores.advisories.save(
        advisory_record(REPO, GHSA, received_at=clock.now(), reporter="quinn", **fields)
    )


def _doors(stores: Stores, clock: SteppedClock, team: RosterTeam | None = None) -> UnitDoors:
    return UnitDoors(advisories=stores.advisories, clock=clock, team=team or RosterTeam(CPYTHON))


async def test_coordinate_credits_the_caller_and_gives_access_keeping_the_rest(
    tmp_path: Path,
) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    async with open_stores(tmp_path) as stores:
        await _reported_to(stores, clock)
        clock.advance(600)
        call = await _call(stores, github, _doors(stores, clock), _reported())
        assert await command_people.coordinate(call) == (
            "@gpshead is now the coordinator; they took it."
        )
        [patch] = github.sent("PATCH")
        assert patch.data == {
            "credits": [
                {"login": "quinn", "type": "reporter"},
                {"login": "gpshead", "type": "coordinator"},
            ],
            "collaborating_users": ["quinn", "gpshead"],
        }
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None
        assert (record.coordinator, record.coordinator_since) == ("gpshead", clock.now())


async def test_coordinate_is_refused_while_someone_else_coordinates_or_without_a_record(
    tmp_path: Path,
) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    async with open_stores(tmp_path) as stores:
        doors = _doors(stores, clock)
        unknown = await _call(stores, github, doors, _reported())
        assert await _run("coordinate", "", unknown) == (
            "Not done: the bot has no record of this advisory yet."
        )
        await _reported_to(stores, clock, coordinator="sethmlarson")
        taken = await _call(stores, github, doors, _reported())
        assert await _run("coordinate", "", taken) == (
            "Not done: @sethmlarson coordinates this; they can hand it over with /assign."
        )
        assert github.sent("PATCH") == []
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.coordinator == "sethmlarson"


async def test_assign_of_a_non_member_is_refused_naming_the_target(tmp_path: Path) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    team = RosterTeam(CPYTHON)
    async with open_stores(tmp_path) as stores:
        await _reported_to(stores, clock)
        call = await _call(stores, github, _doors(stores, clock, team), _reported())
        assert await _run("assign", "@nobody-here", call) == (
            "Not done: @nobody-here is not a team member, so cannot coordinate (the target, "
            "not @gpshead, is the problem)."
        )
        assert await _run("assign", "@gpshead @tiran", call) == (
            "Not done: name one person. Usage: `/assign @user`"
        )
        assert team.asked == ["nobody-here"]
        assert github.sent("PATCH") == []
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.coordinator is None


async def test_assign_takes_the_rosters_spelling_and_members_only_the_github_team_lists(
    tmp_path: Path,
) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    team = RosterTeam(CPYTHON, github_team=["newmember"])
    async with open_stores(tmp_path) as stores:
        await _reported_to(stores, clock)
        doors = _doors(stores, clock, team)
        call = await _call(stores, github, doors, _reported())
        assert await _run("assign", "@YHG1S", call) == (
            "@Yhg1s is now the coordinator; assigned by @gpshead."
        )
        assert {"login": "Yhg1s", "type": "coordinator"} in github.sent("PATCH")[0].data["credits"]
        again = await _call(stores, github, doors, _reported(), caller="Yhg1s")
        assert await _run("assign", "newmember", again) == (
            "@newmember is now the coordinator (was @Yhg1s, whose credit stays); "
            "assigned by @Yhg1s."
        )
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.coordinator == "newmember"


async def test_handoff_keeps_the_earlier_coordinators_credit_and_says_why(
    tmp_path: Path,
) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    advisory = _reported(
        credits_detailed=[
            credit("quinn", "reporter"),
            credit("gpshead", "coordinator", "accepted"),
        ],
        collaborating_users=[github_user("quinn"), github_user("gpshead")],
    )
    async with open_stores(tmp_path) as stores:
        await _reported_to(stores, clock, coordinator="gpshead")
        call = await _call(stores, github, _doors(stores, clock), advisory)
        outcome = await _run("handoff", '@sethmlarson "travelling until March"', call)
        assert outcome == (
            "@sethmlarson is now the coordinator (was @gpshead, whose credit stays); assigned "
            "by @gpshead. Reason: travelling until March"
        )
        [patch] = github.sent("PATCH")
        assert [c["login"] for c in patch.data["credits"] if c["type"] == "coordinator"] == [
            "gpshead",
            "sethmlarson",
        ]
        assert patch.data["collaborating_users"] == ["quinn", "gpshead", "sethmlarson"]
        assert await _run("handoff", "", call) == (
            "Not done: name who takes over. Usage: `/handoff @user [reason]`"
        )


async def test_credit_adds_one_of_githubs_types_once(tmp_path: Path) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    async with open_stores(tmp_path) as stores:
        call = await _call(stores, github, _doors(stores, clock), _reported())
        refused = await _run("credit", "@alice wizard", call)
        assert refused.startswith("Not done: 'wizard' is not a credit type (one of finder, ")
        assert await _run("credit", "@alice Remediation_Developer", call) == (
            "Credited @alice as remediation_developer (they are asked to accept it)."
        )
        # The next command sees what GitHub answered: the credit is there (pending).
        assert await _run("credit", "@ALICE remediation_developer", call) == (
            "@ALICE is already credited as remediation_developer; nothing changed."
        )
        assert [r.data for r in github.sent("PATCH")] == [
            {
                "credits": [
                    {"login": "quinn", "type": "reporter"},
                    {"login": "alice", "type": "remediation_developer"},
                ]
            }
        ]


async def test_uncredit_removes_one_type_or_all_of_a_persons_credits(tmp_path: Path) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    advisory = _reported(
        credits_detailed=[
            credit("quinn", "reporter"),
            credit("alice", "analyst", "accepted"),
            credit("alice", "finder"),
        ]
    )
    async with open_stores(tmp_path) as stores:
        call = await _call(stores, github, _doors(stores, clock), advisory)
        assert await _run("uncredit", "@alice analyst", call) == "Removed 1 credit(s) of @alice."
        assert await _run("uncredit", "@bob", call) == "@bob has no such credit; nothing changed."
        assert await _run("uncredit", "@Alice", call) == "Removed 1 credit(s) of @Alice."
        assert [r.data["credits"] for r in github.sent("PATCH")] == [
            [{"login": "quinn", "type": "reporter"}, {"login": "alice", "type": "finder"}],
            [{"login": "quinn", "type": "reporter"}],
        ]


async def test_invite_adds_only_people_not_yet_collaborating(tmp_path: Path) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    async with open_stores(tmp_path) as stores:
        call = await _call(stores, github, _doors(stores, clock), _reported())
        assert await _run("invite", "@Quinn @ethanfurman serhiy-storchaka", call) == (
            "Invited @ethanfurman, @serhiy-storchaka."
        )
        assert await _run("invite", "@ethanfurman", call) == (
            "Everyone named is already a collaborator; nothing changed."
        )
        assert await _run("invite", "@ethan;furman", call) == (
            "Not done: '@ethan;furman' is not a GitHub user. Usage: `/invite @user...`"
        )
        assert [r.data for r in github.sent("PATCH")] == [
            {"collaborating_users": ["quinn", "ethanfurman", "serhiy-storchaka"]}
        ]
