"""Slash commands in advisory comments: parse, check who may, run each once, reply once.

Fires on `advisory_comment` events from the comment poller (GitHub sends no
webhook for advisory comments). Only a comment's first version runs commands:
neither the advisory nor the comments API says who edited a comment, and every
collaborator (the reporter too) may edit any comment on the advisory, so an
edit could put words in a team member's mouth. A comment seen already edited,
and every later edit, runs nothing; the bot says so once per comment (unless
`unsafe.comment_editors_run_commands_as_the_author`).

The comment is parsed (bot/commands/parser.py); each line whose word is a
registered command (bot/commands/registry.py) runs in order, after a role check,
and each gets its own outcome: one failing does not stop the others, and each
sees the advisory as the one before left it. A command never runs twice from
the same comment (keys by occurrence, bot/commands/dispatch.py).

One reply per comment quotes each command with `>` (a quoted copy can never
trigger anything) and its outcome; it is posted once, also after a failed
POST, and fits GitHub's size limit. Unknown commands from someone with a role
get the nearest command and a pointer to `/help`; from anyone else, silence.
"""

from __future__ import annotations

from typing import Any

from gidgethub import routing, sansio

from bot.advisories.comments import comments_url
from bot.commands.call import CommandCall
from bot.commands.dispatch import (
    ReplyPlace,
    audit_summary,
    decide,
    pending_lines,
    post_limited,
    post_owed_reply,
    run_command,
)
from bot.commands.parser import CommandLine, could_have_commands, parse_commands
from bot.commands.permissions import Roles, roles_of
from bot.commands.registry import REGISTRY
from bot.context import HandlerContext
from bot.github.client import GitHubClient

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
    client = context.github
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
            await _edited(client, context, place, comment_id, caller)
        return
    lines = await parse_commands(body)
    if not lines:
        return
    store = context.advisories
    done = await context.command_log.command_keys(comment_id)
    pending = pending_lines(lines, done, store.digester, legacy="")
    if pending:
        await _run(client, context, repository, ghsa_id, comment_id, caller, pending)
    await post_owed_reply(
        client,
        store,
        context.command_log,
        place,
        source_id=comment_id,
        caller=caller,
        now=context.clock.now(),
    )


async def _edited(
    client: GitHubClient, context: HandlerContext, place: ReplyPlace, comment_id: int, caller: str
) -> None:
    """Say once per comment that edits run nothing; strangers get silence."""
    advisory: dict[str, Any] = await client.getitem(
        f"/repos/{place.repository}/security-advisories/{place.subject}"
    )
    record = await context.advisories.get(place.repository, place.subject)
    roles = await _roles(client, context, caller, MEMBER, record, advisory)
    if not roles.roles:
        return
    posted = await post_limited(
        client,
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
    client: GitHubClient,
    context: HandlerContext,
    caller: str,
    needed: frozenset[str],
    record: Any,
    advisory: dict[str, Any],
) -> Roles:
    return await roles_of(
        caller,
        needed=needed,
        client=client,
        github_team=context.config.team.github_team,
        roster=context.team.roster(),
        record=record,
        advisory=advisory,
    )


async def _run(
    client: GitHubClient,
    context: HandlerContext,
    repository: str,
    ghsa_id: str,
    comment_id: int,
    caller: str,
    pending: list[Any],
) -> None:
    store = context.advisories
    advisory: dict[str, Any] = await client.getitem(
        f"/repos/{repository}/security-advisories/{ghsa_id}"
    )
    record = await store.get(repository, ghsa_id)
    # Every role the caller has, asking GitHub's team API at most once per comment.
    found = await _roles(client, context, caller, MEMBER, record, advisory)
    now = context.clock.now()
    for item in pending:
        line: CommandLine = item.line
        declared = REGISTRY.find(line.verb)
        outcome = decide(
            item,
            declared,
            venue="advisory",
            caller=caller,
            caller_roles=found.roles,
            roles_for_line=found.roles,
            check_failed=found.check_failed,
        )
        if outcome is None:
            assert declared is not None
            handle = context.handle_for(repository, ghsa_id, advisory)
            call = CommandCall(context, handle, record, caller, [])
            outcome = await run_command(declared, line.arguments, call)
            advisory = call.advisory  # what GitHub answered to the command's PATCH, if any
            record = await store.get(repository, ghsa_id)
        await context.command_log.record_command(
            comment_id, item.key, line.position, line.text, outcome, at=now
        )
        if outcome:
            summary = audit_summary(caller, line, outcome)
            await context.audit(repository, ghsa_id, "command", summary)
