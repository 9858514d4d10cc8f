"""handlers/command_decisions.py with its doors (advisories, clock, config, the CVE parts)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.commands.dispatch import run_command
from bot.context import CommandCall
from bot.queue.followups import FollowUps
from bot.queue.store import Store
from handlers import command_decisions
from tests.handlers.unit.doors import (
    CPYTHON,
    ScriptedGitHub,
    Stores,
    UnitDoors,
    clock_at,
    handle_on,
    open_stores,
)
from tests.handlers.unit.fakes import advisory_record
from tests.handlers.unit.github_answers import repository_advisory, script_advisory
from tests.harness import SteppedClock

REPO = "python/cpython"
GHSA = "GHSA-2c5p-9m8q-vh4x"


def _doors(stores: Stores, clock: SteppedClock, config: Any = CPYTHON) -> UnitDoors:
    return UnitDoors(
        advisories=stores.advisories,
        clock=clock,
        config=config,
        cve_bindings=stores.cve_bindings,
        cve_services=None,
        followups=FollowUps(Store(stores.database), clock.now),  # /accept: `advisory.accepted`
    )


async def _call(
    stores: Stores, github: ScriptedGitHub, doors: UnitDoors, advisory: dict[str, Any]
) -> CommandCall[Any]:
    script_advisory(github, REPO, advisory)
    handle = handle_on(github, stores.advisories, doors.clock, REPO, advisory)
    record = await stores.advisories.get(REPO, GHSA)
    return CommandCall(doors, handle, record, "gpshead", [])


async def _run(name: str, arguments: str, call: CommandCall[Any]) -> str:
    declared = command_decisions.COMMANDS.find(name)
    assert declared is not None
    return await run_command(declared, arguments, call)


async def test_accept_moves_a_report_to_draft_and_asks_github_for_a_cve_by_policy(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    github.answer("POST", f"/repos/{REPO}/security-advisories/{GHSA}/cve", {})  # 202 Accepted
    clock = clock_at()
    config = replace(CPYTHON, cve=replace(CPYTHON.cve, provider="github"))
    async with open_stores(tmp_path) as stores:
        await stores.advisories.save(advisory_record(REPO, GHSA, received_at=clock.now()))
        doors = _doors(stores, clock, config)
        call = await _call(stores, github, doors, repository_advisory(REPO, GHSA))
        outcome = await command_decisions.accept(call)
        assert outcome.startswith("Accepted: the advisory is now a draft. Requested a CVE ID")
        assert [r.data for r in github.sent("PATCH")] == [{"state": "draft"}]
        assert len(github.sent("POST", "/cve")) == 1
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.state == "draft"  # no echo from the poller
        actions = [e.action for e in await stores.advisories.audit_log(REPO, GHSA)]
        assert actions == ["cve-requested"]


async def test_accept_says_why_no_cve_was_reserved_when_the_cna_has_no_credentials(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    async with open_stores(tmp_path) as stores:
        doors = _doors(stores, clock_at())  # CPython: cve-services, reserve on accept
        call = await _call(stores, github, doors, repository_advisory(REPO, GHSA))
        outcome = await command_decisions.accept(call)
        assert "Accepted: the advisory is now a draft." in outcome
        assert "No CVE ID yet: cve.provider is cve-services, but CVE_SERVICES_ORG" in outcome
        assert outcome.endswith("Use `/cve` to try again.")
        assert [r.data for r in github.sent("PATCH")] == [{"state": "draft"}]


async def test_accept_refuses_what_is_already_a_draft_or_closed_and_changes_nothing(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    async with open_stores(tmp_path) as stores:
        doors = _doors(stores, clock_at())
        draft = await _call(stores, github, doors, repository_advisory(REPO, GHSA, state="draft"))
        assert await _run("accept", "", draft) == "Not done: the advisory is already draft."
        closed = await _call(stores, github, doors, repository_advisory(REPO, GHSA, state="closed"))
        assert await _run("accept", "", closed) == (
            "Not done: an advisory in state closed cannot move to draft."
        )
        assert github.sent("PATCH") == [] and github.sent("POST") == []


async def test_reject_closes_and_answers_the_reporter_from_the_teams_template(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        record = advisory_record(REPO, GHSA, received_at=clock.now(), reporter="eli")
        await stores.advisories.save(record)
        call = await _call(stores, github, _doors(stores, clock), repository_advisory(REPO, GHSA))
        outcome = await _run("reject", 'bug "Debug builds only."', call)
        assert outcome.startswith(
            "Closed (bug). @eli: thank you for reporting this. It is a bug, but not a security"
        )
        assert outcome.endswith("so it can be fixed in the open. Debug builds only.")
        assert [r.data for r in github.sent("PATCH")] == [{"state": "closed"}]


async def test_reject_without_a_template_uses_the_default_words_and_the_policy_link(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    config = replace(CPYTHON, directory=tmp_path)  # a team with no templates/
    async with open_stores(tmp_path) as stores:
        doors = _doors(stores, clock_at(), config)
        call = await _call(stores, github, doors, repository_advisory(REPO, GHSA, state="draft"))
        outcome = await _run("reject", "out-of-scope", call)
        assert outcome == (
            "Closed (out-of-scope). This is outside the scope of the security policy "
            "(https://devguide.python.org/security/policy/). Thank you for reporting it."
        )


async def test_reject_refuses_an_unknown_reason_with_the_usage(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    async with open_stores(tmp_path) as stores:
        call = await _call(
            stores, github, _doors(stores, clock_at()), repository_advisory(REPO, GHSA)
        )
        outcome = await _run("reject", "wontfix", call)
        assert outcome == (
            "Not done: unknown reason 'wontfix'. Usage: "
            "`/reject [not-a-vulnerability|bug|out-of-scope] [note]`"
        )
        assert github.sent("PATCH") == []


async def test_duplicate_closes_and_keeps_the_original_for_the_audit_log_only(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    async with open_stores(tmp_path) as stores:
        call = await _call(
            stores, github, _doors(stores, clock_at()), repository_advisory(REPO, GHSA)
        )
        assert await _run("duplicate", "GHSA-4f7g-x9rw-zz", call) == (
            "Not done: name the original advisory. Usage: `/duplicate GHSA-xxxx-xxxx-xxxx`"
        )
        outcome = await _run("duplicate", "GHSA-4F7G-X9RW-3HJC", call)
        assert "duplicates one the team is already handling" in outcome
        assert "4f7g" not in outcome.lower()  # the reporter does not learn the other id
        assert [r.data for r in github.sent("PATCH")] == [{"state": "closed"}]
        [entry] = await stores.advisories.audit_log(REPO, GHSA)
        assert (entry.action, entry.reason) == (
            "duplicate",
            "@gpshead: duplicates GHSA-4f7g-x9rw-3hjc",
        )


async def test_complete_stops_the_timers_once_and_leaves_github_alone(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        doors = _doors(stores, clock)
        advisory = repository_advisory(REPO, GHSA, state="draft")
        nothing = await _call(stores, github, doors, advisory)
        assert await _run("complete", "", nothing) == (
            "Not done: the bot has no record of this advisory yet."
        )
        await stores.advisories.save(advisory_record(REPO, GHSA, received_at=clock.now()))
        clock.advance(3600)
        call = await _call(stores, github, doors, advisory)
        assert (await command_decisions.complete(call)).startswith("Completed: reminders")
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.completed_at == clock.now()
        assert record.last_activity_at == clock.now()
        again = await _call(stores, github, doors, advisory)
        assert await command_decisions.complete(again) == (
            "The bot's record is already completed; nothing changed."
        )
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [(e.action, e.reason) for e in log] == [("completed", "@gpshead: /complete")]
        assert github.requests == []
