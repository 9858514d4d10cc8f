"""PEP 811 governance commands: /nominate, /vote, /veto, /leave and /back.

Fires on `issue_comment` (created, edited) and `issues` (opened) in the
configured governance repository (intake drops these events from every other
repository): runs the commands a comment or a new issue's body adds, once,
through the command loop (bot/commands/loop.py) with this module's venue.
The caller is the comment's author, and only while GitHub says the author is
who wrote this version; roles come from the canonical roster (member; admin =
`Admin`). Every step of a nomination is in the audit log under `nomination-N`
(`ghsa-bot nominations show N`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gidgethub import routing, sansio

from bot.advisories.comments import post_once_at
from bot.commands.dispatch import ReplyPlace, line_keys
from bot.commands.loop import run_commands, set_aside
from bot.commands.parser import CommandLine, login, parse_commands
from bot.commands.permissions import Roles
from bot.commands.registry import CommandError, Registry
from bot.context import HandlerContext
from bot.github.client import GitHubClient
from bot.governance.store import (
    OPEN,
    VETO_WINDOW,
    VETOED,
    BallotRefused,
    GovernanceStore,
    Nomination,
    utc_minutes,
)
from bot.governance.votes import CHOICES
from bot.team.formats import RosterEntry

router = routing.Router()
COMMANDS = Registry()


@dataclass
class GovernanceCall:
    """What a governance command receives."""

    context: HandlerContext
    client: GitHubClient
    repository: str
    issue_number: int
    source_id: int  # the comment (or issue) the command is in
    caller: str
    roster: Sequence[RosterEntry]
    arguments: list[str] = field(default_factory=list)
    venue = "governance"

    @property
    def governance(self) -> GovernanceStore:
        store = self.context.governance
        return store

    async def audit(self, nomination: Nomination, action: str, reason: str) -> None:
        await self.context.audit(self.repository, nomination.subject, action, reason)


def _is_governance_repository(context: HandlerContext, repository: str) -> bool:
    configured = context.config.governance.repository
    return configured is not None and configured.lower() == repository.lower()


def governance_roles(caller: str, roster: Sequence[RosterEntry]) -> frozenset[str]:
    entry = next((e for e in roster if e.login.lower() == caller.lower()), None)
    if entry is None:
        return frozenset()
    return frozenset({"member", "admin"} if "Admin" in entry.roles else {"member"})


def ballot_url(context: HandlerContext, nomination: Nomination) -> str:
    base = context.public_url or ""
    return f"{base}/vote/{nomination.id}"


# -- commands written in the governance repository -------------------------------------


@router.register("issue_comment", action="created")
@router.register("issue_comment", action="edited")
async def governance_comment(event: sansio.Event, context: HandlerContext) -> None:
    """Fires for a comment in the governance repository; runs the commands it adds.

    The caller is the comment's author, and only while GitHub says the author is
    who wrote this version (the delivery's `sender`): an edit by anyone else (an
    admin can edit others' comments) runs nothing, and the bot says so once. The
    command lines such an edit added (GitHub's `changes.body.from` says what was
    there before) never run as the author: a later edit by the author runs only
    the lines that edit adds, and the author's new comment runs all of its own,
    even when handled after someone else's edit of it.
    """
    data = event.data["comment"]
    await _run_commands(event, context, int(data["id"]), data)


@router.register("issues", action="opened")
async def governance_issue_opened(event: sansio.Event, context: HandlerContext) -> None:
    """Fires for a new issue in the governance repository; its body may hold `/nominate`."""
    data = event.data["issue"]
    await _run_commands(event, context, int(data["id"]), data)


def _sender(event: sansio.Event) -> str | None:
    sender = event.data.get("sender")
    login = sender.get("login") if isinstance(sender, dict) else None
    return str(login) if login else None


async def _run_commands(
    event: sansio.Event, context: HandlerContext, source_id: int, data: dict[str, Any]
) -> None:
    repository = str(event.data["repository"]["full_name"])
    if not _is_governance_repository(context, repository):
        return
    author = str(data["user"]["login"])
    if data["user"].get("type") == "Bot":
        return
    lines = await parse_commands(str(data.get("body") or ""))
    if not lines:
        return
    number = int(event.data["issue"]["number"])
    place = ReplyPlace(
        f"/repos/{repository}/issues/{number}/comments",
        repository,
        f"issue-{number}",
        "governance-reply",
    )
    roster = context.team.roster()
    editor = _sender(event)
    venue = GovernanceIssue(context, place, number, source_id, author, roster)
    keys = line_keys(lines, context.advisories.digester, prefix=venue.key_prefix)
    added = await _added_keys(event, context, venue, keys)
    if editor is None or editor.lower() != author.lower():
        # What this edit added never runs as the author, even after their own edits.
        await set_aside(context, venue, lines, source_id=source_id, only=added)
        kept = await context.command_log.set_aside_keys(source_id)
        told = sorted(kept & (set(keys) if added is None else added))
        if told:
            await _edited_by_someone_else(context, place, source_id, author, editor, roster, told)
        return
    # Only what this version added runs: an author's edit whose `from` GitHub did
    # not send runs nothing (the lines may be someone else's, their edit not seen yet).
    await run_commands(
        context, venue, lines, source_id=source_id, caller=author, written=added or set()
    )


async def _added_keys(
    event: sansio.Event, context: HandlerContext, venue: GovernanceIssue, keys: list[str]
) -> set[str] | None:
    """The keys of the lines this version added: every line of a new comment or issue;
    for an edit, those not in the version before (GitHub's `changes.body.from`), or
    None when GitHub did not say what the edit changed."""
    if event.data.get("action") != "edited":
        return set(keys)
    changes = event.data.get("changes")
    body = changes.get("body") if isinstance(changes, dict) else None
    before = body.get("from") if isinstance(body, dict) else None
    if not isinstance(before, str):
        return None
    earlier = await parse_commands(before)
    digester = context.advisories.digester
    return set(keys) - set(line_keys(earlier, digester, prefix=venue.key_prefix))


@dataclass(frozen=True)
class GovernanceIssue:
    """The governance venue: roles from the canonical roster only; nothing to refresh."""

    context: HandlerContext
    place: ReplyPlace
    issue_number: int
    source_id: int
    author: str
    roster: Sequence[RosterEntry]
    name = "governance"
    key_prefix = "governance:"

    async def caller_roles(self) -> Roles:
        failed = None if self.roster else "the roster is not loaded"
        return Roles(governance_roles(self.author, self.roster), failed)

    def call(self) -> GovernanceCall:
        return GovernanceCall(
            self.context,
            self.context.github,
            self.place.repository,
            self.issue_number,
            self.source_id,
            self.author,
            self.roster,
        )

    async def finished(self, call: GovernanceCall | None, line: CommandLine, outcome: str) -> None:
        """Nothing: a governance command writes its own audit entries."""


async def _edited_by_someone_else(
    context: HandlerContext,
    place: ReplyPlace,
    source_id: int,
    author: str,
    editor: str | None,
    roster: Sequence[RosterEntry],
    kept: Sequence[str],
) -> None:
    """Say once per edit's command lines (`kept`: their keys) that they will not run."""
    if not governance_roles(author, roster) and not (editor and governance_roles(editor, roster)):
        return  # strangers get silence
    who = f"@{editor}" if editor else "someone GitHub does not name"
    digest = hashlib.sha256("\n".join(kept).encode()).hexdigest()[:12]
    name = f"governance-edited:{source_id}:{(editor or '').lower()}:{digest}"
    await post_once_at(
        context.github,
        context.advisories,
        url=place.url,
        key=name,
        name=name,
        body=f"{who} changed @{author}'s words here, so the bot ran nothing new from them, "
        f"and will not run the command lines that edit left as @{author}'s, even after "
        f"@{author} edits the comment: a command acts as the person who wrote it, and "
        "only the author's own writing runs commands. Write the commands in a comment "
        "of your own.",
        now=context.clock.now(),
    )


@COMMANDS.command(
    "nominate",
    usage="/nominate @USER REASON",
    description="Nominates someone for the team and opens a vote of the members "
    "(secret ballot unless the team votes in comments).",
    roles=("member",),
    examples=("/nominate @octocat maintains the ssl module and has fixed three CVEs",),
    venues=("governance",),
)
async def nominate(call: GovernanceCall) -> str:
    if len(call.arguments) < 2:
        raise CommandError("name one person and say why")
    nominee = login(call.arguments[0])
    reason = " ".join(call.arguments[1:])
    if governance_roles(nominee, call.roster):
        raise CommandError(f"@{nominee} is already a member")
    for other in await call.governance.nominations(states=(OPEN, VETO_WINDOW)):
        if other.nominee.lower() == nominee.lower():
            raise CommandError(
                f"@{nominee} already has a nomination in progress "
                f"({other.repository}#{other.issue_number})"
            )
    config = call.context.config.governance
    now = call.context.clock.now()
    nomination, is_new = await call.governance.open_nomination(
        repository=call.repository,
        issue_number=call.issue_number,
        nominee=nominee,
        nominator=call.caller,
        reason=reason,
        mode=config.votes,
        source_comment=call.source_id,
        opened_at=now,
        closes_at=now + config.vote_days * 86400,
    )
    if is_new:
        await call.audit(
            nomination, "nominated", f"@{call.caller} nominated @{nominee}: {reason[:200]}"
        )
    how = (
        "Members vote yes, no or abstain on the ballot page: "
        f"{ballot_url(call.context, nomination)} "
        "(sign in with GitHub). Ballots are secret: nobody sees the tally or who voted what "
        "before the close, and you may change your vote until then."
        if nomination.mode == "ballot"
        else "Members vote in this issue with `/vote yes`, `/vote no` or `/vote abstain`; "
        "a later `/vote` replaces your earlier one."
    )
    quorum = f" A result needs at least {config.quorum} ballots." if config.quorum else ""
    return (
        f"Nomination {nomination.id}: @{nominee}, nominated by @{call.caller}. The vote is open "
        f"until {utc_minutes(nomination.closes_at)}. {how} It passes with at least two-thirds "
        f"yes of the votes cast (abstentions do not count).{quorum}"
    )


async def _nomination_here(
    call: GovernanceCall, states: tuple[str, ...], *, free_text: bool = False
) -> Nomination:
    """This issue's one nomination in `states`; a trailing `@login` picks the nominee.

    With `free_text` (a note, which may end with anyone's login), the trailing
    login is read as the nominee only when the issue has several to choose from.
    """
    found = [n for n in await call.governance.in_issue(call.repository, call.issue_number)]
    matching = [n for n in found if n.state in states]
    names_nominee = not free_text or len(matching) > 1
    if names_nominee and call.arguments and call.arguments[-1].startswith("@"):
        wanted = login(call.arguments[-1]).lower()
        matching = [n for n in matching if n.nominee.lower() == wanted]
    if not matching:
        raise CommandError(f"this issue has no nomination that is {' or '.join(states)}")
    if len(matching) > 1:
        raise CommandError("this issue has several; name the nominee last, e.g. `@octocat`")
    return matching[0]


@COMMANDS.command(
    "vote",
    usage="/vote yes|no|abstain [@NOMINEE]",
    description="Votes on this issue's open nomination (teams that vote in comments).",
    roles=("member",),
    examples=("/vote yes",),
    venues=("governance",),
)
async def vote(call: GovernanceCall) -> str:
    if not call.arguments or call.arguments[0].lower() not in CHOICES:
        raise CommandError("say yes, no or abstain")
    nomination = await _nomination_here(call, (OPEN,))
    if nomination.mode == "ballot":
        raise CommandError(
            f"this vote is by secret ballot: vote at {ballot_url(call.context, nomination)}. "
            "Your comment is visible to everyone who can read this issue; you may delete it"
        )
    choice = call.arguments[0].lower()
    try:
        changed = await call.governance.cast(
            nomination.id, call.caller, choice, now=call.context.clock.now()
        )
    except BallotRefused as error:
        raise CommandError(str(error)) from None
    await call.audit(
        nomination, "vote changed" if changed else "vote", f"@{call.caller} voted {choice}"
    )
    verb = "changed their vote to" if changed else "voted"
    return f"@{call.caller} {verb} {choice} on nomination {nomination.id} (@{nomination.nominee})."


@COMMANDS.command(
    "veto",
    usage="/veto NOTE",
    description="Records the steering council's veto of a nomination that passed, "
    "during its veto window (an admin, on the council's behalf).",
    roles=("admin",),
    examples=("/veto The Steering Council vetoed this nomination by email on 2026-05-02",),
    venues=("governance",),
)
async def veto(call: GovernanceCall) -> str:
    if not call.arguments:
        raise CommandError("say what the council decided, and where")
    nomination = await _nomination_here(call, (VETO_WINDOW,), free_text=True)
    note = " ".join(call.arguments)
    if not await call.governance.finish(
        nomination.id, from_state=VETO_WINDOW, to_state=VETOED, note=note
    ):
        raise CommandError("the veto window has just ended")
    await call.audit(nomination, "vetoed", f"@{call.caller} on the council's behalf: {note[:200]}")
    return (
        f"Nomination {nomination.id} is vetoed by the steering council (recorded by "
        f"@{call.caller}: {note}). @{nomination.nominee} does not join the team."
    )


@COMMANDS.command(
    "leave",
    usage="/leave until YYYY-MM-DD",
    roles=("member",),
    description="Marks you unavailable: you are not assigned as coordinator until then. "
    "Written in the governance repository, which reporters do not read.",
    venues=("governance",),
)
async def leave(call: GovernanceCall) -> str:
    words = [w.lower() for w in call.arguments]
    if len(words) != 2 or words[0] != "until" or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", words[1]):
        raise CommandError("say until when", show_usage=True)
    await call.context.member_leave.set_leave(call.caller, words[1])
    return f"Noted: @{call.caller} is on leave until {words[1]} and is not assigned until then."


@COMMANDS.command(
    "back",
    usage="/back",
    roles=("member",),
    description="Ends your leave: you can be assigned as coordinator again. Written in the "
    "governance repository.",
    venues=("governance",),
)
async def back(call: GovernanceCall) -> str:
    await call.context.member_leave.set_leave(call.caller, None)
    return f"Welcome back, @{call.caller}: you can be assigned again."
