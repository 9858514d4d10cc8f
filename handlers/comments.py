"""Slash commands in advisory comments: parse, check who may, run each once, reply once.

Fires on `advisory_comment` events from the comment poller (GitHub sends no
webhook for advisory comments). Only a comment's first version runs commands:
neither the advisory nor the comments API says who edited a comment, and every
collaborator (the reporter too) may edit any comment on the advisory, so an
edit could put words in a team member's mouth. A comment seen already edited,
and every later edit, runs nothing; the bot says so once per comment (unless
`unsafe.comment_editors_run_commands_as_the_author`).

The comment is parsed (bot/commands/parser.py) and its lines go through the
command loop (bot/commands/loop.py) with this module's venue: each line whose
word is a registered command (`context.commands`) runs in order, after a role check,
and each gets its own outcome: one failing does not stop the others, and each
sees the advisory as the one before left it. A command never runs twice from
the same comment (keys by occurrence).

One reply per comment quotes each command with `>` (a quoted copy can never
trigger anything) and its outcome; it is posted once, also after a failed
POST, and fits GitHub's size limit. Unknown commands from someone with a role
get the nearest command and a pointer to `/help`; from anyone else, silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gidgethub import routing, sansio

from bot.advisories.comments import comments_url
from bot.advisories.store import AdvisoryRecord
from bot.commands.dispatch import ReplyPlace, audit_summary, post_limited
from bot.commands.loop import run_commands
from bot.commands.parser import CommandLine, could_have_commands, parse_commands
from bot.commands.permissions import Roles, roles_of
from bot.context import CommandCall, HandlerContext

router = routing.Router()

MEMBER = frozenset({"member"})  # asking for it makes roles_of consult the team when needed

# The budget edit notices share on one advisory: the editor is unknown, so they must
# not spend the comment author's own replies (a reporter editing a member's comments
# would silence the member's next answers).
EDIT_NOTICES = "(edited comments)"
EDITED_NOTICE = (
    "this comment was edited, so the bot ran nothing in it. GitHub does not say who "
    "edits a comment on an advisory (every collaborator, the reporter too, may edit any "
    "comment here), so only a comment's first version runs commands. Write the commands "
    "in a new comment."
)


@router.register("advisory_comment")
async def comment(event: sansio.Event, context: HandlerContext) -> None:
    """Fires for each new or edited advisory comment; runs the commands of a new one."""
    data = event.data["comment"]
    comment_id = int(data["id"])
    caller = str(data["user"]["login"])
    repository = str(event.data["repository"]["full_name"])
    ghsa_id = str(event.data["repository_advisory"]["ghsa_id"])
    body = str(data.get("body") or "")
    place = ReplyPlace(comments_url(repository, ghsa_id), repository, ghsa_id, "reply")
    edited = event.data.get("action") == "edited"
    if edited and not context.config.unsafe.comment_editors_run_commands_as_the_author:
        # Nothing in an edit runs, so it is never parsed (parsing costs CPU an editor
        # could spend at will): a line that could be a command is enough to say so.
        if could_have_commands(body):
            await _edited(context, place, comment_id, caller)
        return
    lines = await parse_commands(body)
    if not lines:
        return
    venue = AdvisoryComments(context, place, caller)
    await run_commands(context, venue, lines, source_id=comment_id, caller=caller)


@dataclass
class AdvisoryComments:
    """The advisory venue: roles from the roster, the team and the advisory; each
    command sees the advisory and the bot's record as the command before left them."""

    context: HandlerContext
    place: ReplyPlace
    caller: str
    advisory: dict[str, Any] | None = None
    record: AdvisoryRecord | None = None
    name = "advisory"
    key_prefix = ""

    async def caller_roles(self) -> Roles:
        self.advisory, self.record = await _read(self.context, self.place)
        return await _roles(self.context, self.caller, self.record, self.advisory)

    def call(self) -> CommandCall[HandlerContext]:
        if self.advisory is None:
            raise RuntimeError("the loop asks for the caller's roles (which reads it) first")
        handle = self.context.handle_for(self.place.repository, self.place.subject, self.advisory)
        return CommandCall(self.context, handle, self.record, self.caller, [])

    async def finished(
        self, call: CommandCall[HandlerContext] | None, line: CommandLine, outcome: str
    ) -> None:
        if call is not None:
            self.advisory = call.advisory  # what GitHub answered to the command's PATCH, if any
            self.record = await self.context.advisories.get(
                self.place.repository, self.place.subject
            )
        if outcome:
            summary = audit_summary(self.caller, line, outcome)
            await self.context.audit(self.place.repository, self.place.subject, "command", summary)


async def _read(
    context: HandlerContext, place: ReplyPlace
) -> tuple[dict[str, Any], AdvisoryRecord | None]:
    """The advisory as GitHub has it now, and the bot's record of it."""
    advisory: dict[str, Any] = await context.github.getitem(
        f"/repos/{place.repository}/security-advisories/{place.subject}"
    )
    return advisory, await context.advisories.get(place.repository, place.subject)


async def _edited(context: HandlerContext, place: ReplyPlace, comment_id: int, caller: str) -> None:
    """Say once per comment that edits run nothing; strangers get silence."""
    advisory, record = await _read(context, place)
    roles = await _roles(context, caller, record, advisory)
    if not roles.roles:
        return
    posted = await post_limited(
        context.github,
        context.advisories,
        context.command_log,
        place,
        caller=caller,
        name=f"edited:{comment_id}",
        body=f"@{caller}: {EDITED_NOTICE}",
        now=context.clock.now(),
        budget=EDIT_NOTICES,
    )
    if posted:
        await context.audit(
            place.repository, place.subject, "edited-comment", f"comment {comment_id}: ran nothing"
        )


async def _roles(
    context: HandlerContext,
    caller: str,
    record: AdvisoryRecord | None,
    advisory: dict[str, Any],
) -> Roles:
    """Every role the caller has, asking GitHub's team API at most once per comment."""
    return await roles_of(
        caller,
        needed=MEMBER,
        client=context.github,
        github_team=context.config.team.github_team,
        roster=context.team.roster(),
        record=record,
        advisory=advisory,
    )
