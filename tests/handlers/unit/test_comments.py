"""handlers/comments.py: advisory comments through the command loop, on a whole HandlerContext
(any command may run there), with GitHub scripted and the bot's own stores."""

from __future__ import annotations

from dataclasses import replace
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from gidgethub import BadRequest, GitHubBroken, sansio

from bot.context import HandlerContext
from bot.core.config import BotConfig
from handlers import comments
from tests.handlers.unit.doors import (
    CPYTHON,
    ScriptedGitHub,
    Stores,
    clock_at,
    event,
    open_stores,
    whole_context,
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
COMMENTS = f"/repos/{REPO}/security-advisories/{GHSA}/comments"
EDITED = "this comment was edited, so the bot ran nothing in it"


def _context(
    stores: Stores, github: ScriptedGitHub, clock: SteppedClock, config: BotConfig = CPYTHON
) -> HandlerContext:
    return whole_context(stores, github, clock, config, team=RosterTeam(config))


def _github() -> tuple[ScriptedGitHub, dict[str, Any]]:
    """GitHub with a report from quinn (credited, a collaborator) and its comments."""
    github = ScriptedGitHub()
    advisory = repository_advisory(
        REPO,
        GHSA,
        credits=[{"login": "quinn", "type": "reporter"}],
        credits_detailed=[credit("quinn", "reporter")],
        collaborating_users=[github_user("quinn")],
    )
    script_advisory(github, REPO, advisory)
    github.answer(
        "POST",
        COMMENTS,
        lambda data: {"id": 7000 + len(github.sent("POST", COMMENTS)), "body": data["body"]},
    )
    return github, advisory


def _comment(
    login: str, body: str, *, comment_id: int = 9001, action: str = "created"
) -> sansio.Event:
    """An `advisory_comment` event as the poller raises it (bot/advisories/poller.py)."""
    updated = "2026-10-02T10:00:00Z" if action == "created" else "2026-10-02T11:00:00Z"
    payload = {
        "action": action,
        "installation": {"id": 7},
        "repository": {"full_name": REPO},
        "repository_advisory": {"ghsa_id": GHSA},
        "comment": {
            "id": comment_id,
            "body": body,
            "user": {"login": login, "type": "User"},
            "created_at": "2026-10-02T10:00:00Z",
            "updated_at": updated,
        },
    }
    return event("advisory_comment", payload, f"comment:{REPO}:{GHSA}:{comment_id}:{updated}")


def _replies(github: ScriptedGitHub) -> list[str]:
    return [str(r.data["body"]) for r in github.sent("POST", COMMENTS)]


async def _reported(stores: Stores, clock: SteppedClock) -> None:
    await stores.advisories.save(
        advisory_record(REPO, GHSA, received_at=clock.now(), reporter="quinn")
    )


async def test_a_members_commands_run_in_order_on_what_the_last_left_and_get_one_reply(
    tmp_path: Path,
) -> None:
    github, advisory = _github()
    clock = clock_at()
    body = "Looks real.\n/accept\n/coordinate\n/credit @alice remediation_developer"
    async with open_stores(tmp_path) as stores:
        await _reported(stores, clock)
        context = _context(stores, github, clock)
        await comments.comment(_comment("gpshead", body), context)
        assert [r.data for r in github.sent("PATCH")] == [
            {"state": "draft"},
            {
                "credits": [
                    {"login": "quinn", "type": "reporter"},
                    {"login": "gpshead", "type": "coordinator"},
                ],
                "collaborating_users": ["quinn", "gpshead"],
            },
            {
                "credits": [
                    {"login": "quinn", "type": "reporter"},
                    {"login": "gpshead", "type": "coordinator"},
                    {"login": "alice", "type": "remediation_developer"},
                ]
            },
        ]
        assert advisory["state"] == "draft"
        [reply] = _replies(github)
        assert reply.startswith("<!-- ghsa-bot:reply:9001:")
        assert "\n@gpshead:\n\n> /accept\n\nAccepted: the advisory is now a draft." in reply
        assert "> /coordinate\n\n@gpshead is now the coordinator; they took it." in reply
        assert "> /credit @alice remediation_developer\n\nCredited @alice" in reply
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.coordinator == "gpshead"
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [e.reason for e in log if e.action == "command"] == [
            "@gpshead: /accept → done",
            "@gpshead: /coordinate → done",
            "@gpshead: /credit @alice remediation_developer → done",
        ]
        assert await stores.command_log.unreplied_runs(9001) == []  # the text is forgotten

        # The same comment handled again (a second poll, a redelivery): nothing at all.
        requests = len(github.requests)
        await comments.comment(_comment("gpshead", body), context)
        assert len(github.requests) == requests


async def test_an_edited_comment_runs_nothing_and_says_so_once(tmp_path: Path) -> None:
    github, _ = _github()
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await _reported(stores, clock)
        context = _context(stores, github, clock)
        for body in ("/assign @gpshead", "/assign @gpshead\n/accept"):
            await comments.comment(_comment("gpshead", body, action="edited"), context)
        assert github.sent("PATCH") == []
        [notice] = _replies(github)
        assert notice.startswith("<!-- ghsa-bot:edited:9001 -->\n@gpshead: " + EDITED)
        assert "Write the commands in a new comment." in notice
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.coordinator is None
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [(e.action, e.reason) for e in log] == [
            ("edited-comment", "comment 9001: ran nothing")
        ]
        # An edit with no line that could be a command is not even read.
        requests = len(github.requests)
        await comments.comment(_comment("gpshead", "typo fixed", action="edited"), context)
        assert len(github.requests) == requests


async def test_with_the_unsafe_option_an_edit_runs_only_its_new_commands(tmp_path: Path) -> None:
    github, _ = _github()
    clock = clock_at()
    unsafe = replace(CPYTHON.unsafe, comment_editors_run_commands_as_the_author=True)
    async with open_stores(tmp_path) as stores:
        context = _context(stores, github, clock, replace(CPYTHON, unsafe=unsafe))
        await comments.comment(_comment("gpshead", "/cwe CWE-22"), context)
        edit = _comment("gpshead", "/cwe CWE-59\n/cwe CWE-22", action="edited")
        await comments.comment(edit, context)
        assert [r.data for r in github.sent("PATCH")] == [
            {"cwe_ids": ["CWE-22"]},
            {"cwe_ids": ["CWE-22", "CWE-59"]},
        ]
        first, second = _replies(github)
        assert "> /cwe CWE-22\n\nAdded CWE-22." in first
        assert "> /cwe CWE-59\n\nAdded CWE-59." in second and "CWE-22" not in second


async def test_strangers_get_silence_and_members_a_suggestion_for_unknown_commands(
    tmp_path: Path,
) -> None:
    github, _ = _github()
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await _reported(stores, clock)
        context = _context(stores, github, clock)
        # mallory is on no roster, and GitHub's team answers 404 for them.
        await comments.comment(_comment("mallory", "/acept\n/frobnicate", comment_id=1), context)
        await comments.comment(
            _comment("mallory", "/accept", comment_id=2, action="edited"), context
        )
        assert _replies(github) == []
        assert len(github.sent("GET", "/orgs/python/teams/psrt/memberships/mallory")) == 2
        await comments.comment(_comment("gpshead", "/acept", comment_id=3), context)
        [reply] = _replies(github)
        assert "> /acept\n\nUnknown command `/acept`. Did you mean `/accept`? See `/help`." in (
            reply
        )
        assert github.sent("PATCH") == []


async def test_who_may_run_what_outsiders_the_reporter_and_a_failed_membership_check(
    tmp_path: Path,
) -> None:
    github, advisory = _github()
    github.answer(
        "GET",
        "/orgs/python/teams/psrt/memberships/newcomer",
        BadRequest(HTTPStatus.FORBIDDEN, "Resource not accessible by integration"),
    )
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await _reported(stores, clock)
        context = _context(stores, github, clock)
        await comments.comment(_comment("mallory", "/accept", comment_id=1), context)
        await comments.comment(_comment("newcomer", "/accept", comment_id=2), context)
        body = "/status\n/accept\n/leave until 2099-01-01"
        await comments.comment(_comment("quinn", body, comment_id=3), context)
        outsider, unchecked, reporter = _replies(github)
        assert (
            "Denied: @mallory may not use `/accept`; it is for team members, admins, "
            "the coordinator." in outsider
        )
        assert (
            "Denied: could not check whether @newcomer may use `/accept` (GitHub answered "
            "403). Try again later." in unchecked
        )
        assert "> /status\n\n**State:** triage\n**Coordinator:** none yet" in reporter
        assert "Denied: @quinn may not use `/accept`" in reporter
        assert "`/leave` is not written here: it is written in the governance repository" in (
            reporter
        )
        assert advisory["state"] == "triage" and github.sent("PATCH") == []
        assert await stores.member_leave.leaves() == {}
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert "@quinn: /leave until 2099-01-01 → not written here" in [e.reason for e in log]


async def test_a_reply_that_failed_to_post_is_posted_by_the_retry_and_nothing_runs_twice(
    tmp_path: Path,
) -> None:
    github, _ = _github()
    posted: list[str] = []

    def flaky(data: dict[str, Any]) -> dict[str, Any]:
        posted.append(data["body"])
        if len(posted) == 1:
            raise GitHubBroken(HTTPStatus.BAD_GATEWAY)
        return {"id": 7001, "body": data["body"]}

    github.answer("POST", COMMENTS, flaky)
    github.answer("GET", COMMENTS, [])  # the failed POST left no comment behind
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        context = _context(stores, github, clock)
        with pytest.raises(GitHubBroken):  # the delivery fails, and is retried
            await comments.comment(_comment("gpshead", "/cwe CWE-22"), context)
        await comments.comment(_comment("gpshead", "/cwe CWE-22"), context)
        assert [r.data for r in github.sent("PATCH")] == [{"cwe_ids": ["CWE-22"]}]
        assert len(posted) == 2 and posted[0] == posted[1]
        assert "> /cwe CWE-22\n\nAdded CWE-22." in posted[1]
        await comments.comment(_comment("gpshead", "/cwe CWE-22"), context)
        assert len(posted) == 2
