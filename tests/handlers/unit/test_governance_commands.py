"""handlers/governance_commands.py: commands in the governance repository's issues, on a whole
HandlerContext (any command may run there), with GitHub scripted and the bot's own stores."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from gidgethub import sansio

from bot.context import HandlerContext
from bot.core.config import BotConfig
from handlers import governance_commands
from tests.handlers.unit.doors import (
    CPYTHON,
    ScriptedGitHub,
    Stores,
    clock_at,
    event,
    open_stores,
    whole_context,
)
from tests.handlers.unit.fakes import RosterTeam
from tests.harness import SteppedClock, load_payload

GOVERNANCE = "python/psrt-governance"
ISSUE = 12
REPLIES = f"/repos/{GOVERNANCE}/issues/{ISSUE}/comments"
PUBLIC_URL = "https://ghsa-bot.python.org"
DAY = 86400
IN_COMMENTS = replace(CPYTHON, governance=replace(CPYTHON.governance, votes="comments"))


def _context(
    stores: Stores, github: ScriptedGitHub, clock: SteppedClock, config: BotConfig = CPYTHON
) -> HandlerContext:
    return whole_context(
        stores, github, clock, config, team=RosterTeam(config), public_url=PUBLIC_URL
    )


def _github() -> ScriptedGitHub:
    github = ScriptedGitHub()
    github.answer(
        "POST",
        REPLIES,
        lambda data: {"id": 8000 + len(github.sent("POST", REPLIES)), "body": data["body"]},
    )
    return github


def _comment(
    author: str,
    body: str,
    *,
    comment_id: int = 501,
    sender: str | None = None,
    action: str = "created",
    repository: str = GOVERNANCE,
    author_type: str = "User",
    before: str = "(the earlier text)",
) -> sansio.Event:
    """An `issue_comment` webhook as GitHub sends it (the fixture, readdressed)."""
    payload: dict[str, Any] = load_payload("issue_comment/created.with-installation.payload.json")
    payload["action"] = action
    payload["repository"].update(full_name=repository, name=repository.split("/")[1])
    payload["issue"]["number"] = ISSUE
    user = dict(payload["comment"]["user"], login=author, type=author_type)
    payload["comment"].update(id=comment_id, body=body, user=user)
    if action == "edited":
        payload["changes"] = {"body": {"from": before}}
    editor = sender or author
    payload["sender"] = dict(payload["sender"], login=editor, type="User")
    version = hashlib.sha256(body.encode()).hexdigest()[:8]
    return event("issue_comment", payload, f"delivery-{comment_id}-{action}-{editor}-{version}")


def _replies(github: ScriptedGitHub) -> list[str]:
    return [str(r.data["body"]) for r in github.sent("POST", REPLIES)]


async def _audit(stores: Stores, nomination: int) -> list[str]:
    log = await stores.advisories.audit_log(GOVERNANCE, f"nomination-{nomination}")
    return [f"{e.action}: {e.reason}" for e in log]


async def test_a_members_nomination_opens_a_vote_once_and_is_answered_once(
    tmp_path: Path,
) -> None:
    github, clock = _github(), clock_at()
    body = "Let us grow the team.\n/nominate @octo-newcomer fixed three CVEs in ssl"
    async with open_stores(tmp_path) as stores:
        context = _context(stores, github, clock)
        for _ in range(2):  # a redelivery
            await governance_commands.governance_comment(_comment("warsaw", body), context)
        [nomination] = await stores.governance.nominations()
        assert (nomination.nominee, nomination.nominator, nomination.mode) == (
            "octo-newcomer",
            "warsaw",
            "ballot",
        )
        assert (nomination.repository, nomination.issue_number) == (GOVERNANCE, ISSUE)
        assert nomination.closes_at == clock.now() + 7 * DAY
        [reply] = _replies(github)
        assert "@warsaw:\n\n> /nominate @octo-newcomer fixed three CVEs in ssl" in reply
        assert f"Nomination {nomination.id}: @octo-newcomer, nominated by @warsaw." in reply
        assert f"{PUBLIC_URL}/vote/{nomination.id} (sign in with GitHub)" in reply
        assert await _audit(stores, nomination.id) == [
            "nominated: @warsaw nominated @octo-newcomer: fixed three CVEs in ssl"
        ]


async def test_a_nomination_is_refused_for_a_member_a_nominee_in_progress_or_without_a_reason(
    tmp_path: Path,
) -> None:
    github, clock = _github(), clock_at()
    async with open_stores(tmp_path) as stores:
        context = _context(stores, github, clock)
        comment = governance_commands.governance_comment
        await comment(_comment("warsaw", "/nominate @octo-newcomer ssl", comment_id=1), context)
        await comment(
            _comment("gpshead", "/nominate @Octo-Newcomer zipfile", comment_id=2), context
        )
        await comment(_comment("gpshead", "/nominate @GPSHEAD myself", comment_id=3), context)
        await comment(_comment("gpshead", "/nominate @someone", comment_id=4), context)
        _, in_progress, member, no_reason = _replies(github)
        assert (
            "Not done: @Octo-Newcomer already has a nomination in progress "
            f"({GOVERNANCE}#{ISSUE})." in in_progress
        )
        assert "Not done: @GPSHEAD is already a member." in member
        assert "Not done: name one person and say why." in no_reason
        assert len(await stores.governance.nominations()) == 1


async def test_votes_in_comments_count_the_last_choice_and_non_members_are_denied(
    tmp_path: Path,
) -> None:
    github, clock = _github(), clock_at()
    async with open_stores(tmp_path) as stores:
        context = _context(stores, github, clock, IN_COMMENTS)
        comment = governance_commands.governance_comment
        await comment(_comment("warsaw", "/nominate @octo-newcomer ssl", comment_id=1), context)
        [nomination] = await stores.governance.nominations()
        await comment(_comment("gpshead", "/vote yes", comment_id=2), context)
        await comment(_comment("gpshead", "/vote NO @octo-newcomer", comment_id=3), context)
        await comment(_comment("stranger", "/vote yes", comment_id=4), context)
        await comment(_comment("tiran", "/vote maybe", comment_id=5), context)  # emeritus
        opened, voted, changed, stranger, emeritus = _replies(github)
        assert "Members vote in this issue with `/vote yes`" in opened
        assert "@gpshead voted yes on nomination 1 (@octo-newcomer)." in voted
        assert "@gpshead changed their vote to no on nomination 1 (@octo-newcomer)." in changed
        assert "Denied: @stranger may not use `/vote`; it is for team members." in stranger
        assert "Denied: @tiran may not use `/vote`" in emeritus
        assert await stores.governance.own_ballot(nomination.id, "gpshead") == "no"
        assert await stores.governance.own_ballot(nomination.id, "stranger") is None
        assert await _audit(stores, nomination.id) == [
            "nominated: @warsaw nominated @octo-newcomer: ssl",
            "vote: @gpshead voted yes",
            "vote changed: @gpshead voted no",
        ]


async def test_a_vote_by_secret_ballot_is_not_taken_from_a_comment(tmp_path: Path) -> None:
    github, clock = _github(), clock_at()
    async with open_stores(tmp_path) as stores:
        context = _context(stores, github, clock)
        comment = governance_commands.governance_comment
        await comment(_comment("warsaw", "/nominate @octo-newcomer ssl", comment_id=1), context)
        await comment(_comment("gpshead", "/vote yes", comment_id=2), context)
        refused = _replies(github)[-1]
        assert f"Not done: this vote is by secret ballot: vote at {PUBLIC_URL}/vote/1." in refused
        assert await stores.governance.own_ballot(1, "gpshead") is None


async def test_an_admin_records_the_councils_veto_only_in_the_veto_window(tmp_path: Path) -> None:
    github, clock = _github(), clock_at()
    async with open_stores(tmp_path) as stores:
        context = _context(stores, github, clock)
        comment = governance_commands.governance_comment
        await comment(_comment("warsaw", "/nominate @octo-newcomer ssl", comment_id=1), context)
        await comment(_comment("ewdurbin", "/veto too early", comment_id=2), context)
        # The ballot page takes a vote; the governance scan closes the week.
        await stores.governance.cast(1, "gpshead", "yes", now=clock.now())
        clock.advance(7 * DAY + 1)
        assert await stores.governance.close(1, now=clock.now(), quorum=0, veto_days=7)
        await comment(_comment("gpshead", "/veto I do not like it", comment_id=3), context)
        # A note may end with a login: it names who decided, not a nominee.
        note = "The council vetoed it by email on 2026-12-01, signed @gvanrossum"
        await comment(_comment("ewdurbin", f"/veto {note}", comment_id=4), context)
        _, early, member, vetoed = _replies(github)
        assert "Not done: this issue has no nomination that is veto_window." in early
        assert "Denied: @gpshead may not use `/veto`; it is for admins." in member
        assert (
            f"Nomination 1 is vetoed by the steering council (recorded by @ewdurbin: {note}). "
            "@octo-newcomer does not join the team." in vetoed
        )
        nomination = await stores.governance.get(1)
        assert nomination is not None
        assert (nomination.state, nomination.outcome_note) == ("vetoed", note)
        assert (await _audit(stores, 1))[-1] == f"vetoed: @ewdurbin on the council's behalf: {note}"


async def test_leave_and_back_set_the_callers_own_leave(tmp_path: Path) -> None:
    github, clock = _github(), clock_at()
    async with open_stores(tmp_path) as stores:
        context = _context(stores, github, clock)
        comment = governance_commands.governance_comment
        await comment(_comment("gpshead", "/leave until 2099-01-01", comment_id=1), context)
        assert await stores.member_leave.leaves() == {"gpshead": "2099-01-01"}
        await comment(_comment("gpshead", "/leave for a while", comment_id=2), context)
        await comment(_comment("gpshead", "/back", comment_id=3), context)
        assert await stores.member_leave.leaves() == {}
        noted, refused, back = _replies(github)
        assert (
            "Noted: @gpshead is on leave until 2099-01-01 and is not assigned until then." in noted
        )
        assert "Not done: say until when. Usage: `/leave until YYYY-MM-DD`" in refused
        assert "Welcome back, @gpshead: you can be assigned again." in back


async def test_an_edit_by_someone_other_than_the_author_runs_nothing_and_says_so_once(
    tmp_path: Path,
) -> None:
    github, clock = _github(), clock_at()
    first = "I will think about it."
    edited = first + "\n/leave until 2099-01-01\n/nominate @octo-newcomer ssl"
    async with open_stores(tmp_path) as stores:
        context = _context(stores, github, clock)
        comment = governance_commands.governance_comment
        await comment(_comment("gpshead", first), context)
        for _ in range(2):  # a redelivery, or a retry after a crash
            await comment(
                _comment("gpshead", edited, sender="warsaw", action="edited", before=first),
                context,
            )
        # A stranger's comment edited by another stranger: silence.
        await comment(
            _comment("mallory", edited, comment_id=9, sender="eve", action="edited"), context
        )
        [notice] = _replies(github)
        assert notice.startswith("<!-- ghsa-bot:governance-edited:501:warsaw:")
        assert "@warsaw changed @gpshead's words here, so the bot ran nothing new" in notice
        assert await stores.member_leave.leaves() == {}
        assert await stores.governance.nominations() == []
        # The author edits the comment again (a typo elsewhere): what the admin put
        # there still does not run as the author.
        mine = edited + "\nthanks"
        await comment(_comment("gpshead", mine, action="edited", before=edited), context)
        assert await stores.member_leave.leaves() == {}
        # The author's own edit runs what it adds.
        again = mine + "\n/leave until 2098-01-01"
        await comment(_comment("gpshead", again, action="edited", before=mine), context)
        assert await stores.member_leave.leaves() == {"gpshead": "2098-01-01"}
        assert await stores.governance.nominations() == []
        # The admin adds `/back`, then takes it out: the author writing `/back` later runs it.
        back = again + "\n/back"
        await comment(
            _comment("gpshead", back, sender="warsaw", action="edited", before=again), context
        )
        await comment(
            _comment("gpshead", again, sender="warsaw", action="edited", before=back), context
        )
        assert await stores.member_leave.leaves() == {"gpshead": "2098-01-01"}
        await comment(_comment("gpshead", back, action="edited", before=again), context)
        assert await stores.member_leave.leaves() == {}
        assert len([r for r in _replies(github) if "ran nothing new" in r]) == 2

        # The author's new comment, handled only after an admin's edit of it (a
        # redelivery, a retry): the author's own lines run, the admin's do not.
        own = "/leave until 2097-01-01"
        inserted = own + "\n/nominate @octo-newcomer ssl"
        await comment(
            _comment(
                "gpshead", inserted, comment_id=777, sender="warsaw", action="edited", before=own
            ),
            context,
        )
        await comment(_comment("gpshead", own, comment_id=777), context)
        assert await stores.member_leave.leaves() == {"gpshead": "2097-01-01"}
        assert await stores.governance.nominations() == []

        # An admin's edit not seen yet (lost, or arriving late), then the author fixes
        # a typo: the admin's line was already there, so it does not run as the author.
        plain = "thinking"
        planted = "/back\nthinking"
        await comment(_comment("gpshead", plain, comment_id=888), context)
        await comment(
            _comment("gpshead", planted + ".", comment_id=888, action="edited", before=planted),
            context,
        )
        assert await stores.member_leave.leaves() == {"gpshead": "2097-01-01"}
        # The admin's edit, handled at last: set aside, still not run.
        await comment(
            _comment(
                "gpshead", planted, comment_id=888, sender="warsaw", action="edited", before=plain
            ),
            context,
        )
        assert await stores.member_leave.leaves() == {"gpshead": "2097-01-01"}


async def test_elsewhere_from_bots_and_in_a_new_issue_only_the_governance_venue_runs(
    tmp_path: Path,
) -> None:
    github, clock = _github(), clock_at()
    async with open_stores(tmp_path) as stores:
        context = _context(stores, github, clock)
        comment = governance_commands.governance_comment
        body = "/leave until 2099-01-01"
        await comment(_comment("gpshead", body, repository="python/cpython"), context)
        await comment(_comment("ghsa-bot[bot]", body, author_type="Bot"), context)
        assert github.requests == [] and await stores.member_leave.leaves() == {}

        # A new issue's body may nominate; the reply goes to that issue.
        payload = load_payload("issues/opened.payload.json")
        payload["repository"]["full_name"] = GOVERNANCE
        payload["issue"].update(
            number=ISSUE,
            id=444500041,
            body="Nomination\n\n/nominate @octo-newcomer maintains ssl",
            user=dict(payload["issue"]["user"], login="warsaw", type="User"),
        )
        payload["sender"] = dict(payload["sender"], login="warsaw")
        opened = event("issues", payload, "delivery-issue")
        await governance_commands.governance_issue_opened(opened, context)
        [nomination] = await stores.governance.nominations()
        assert (nomination.nominee, nomination.nominator) == ("octo-newcomer", "warsaw")
        [reply] = _replies(github)
        assert "Nomination 1: @octo-newcomer, nominated by @warsaw." in reply
