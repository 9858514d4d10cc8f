"""Slash commands in advisory comments: parse, check who may, run each once, reply once.

Fires on `advisory_comment` events from the comment poller (GitHub sends no
webhook for advisory comments). The comment is parsed (bot/commands/parser.py);
each line whose word is a registered command (bot/commands/registry.py) runs in
order, after a role check, and each gets its own outcome: one failing does not
stop the others. A command already run from this comment (same words, same
occurrence) never runs again, so an edit runs only what it added.

One reply per comment quotes each command with `>` (a quoted copy can never
trigger anything) and its outcome. The reply carries a hidden marker naming
the comment; when an edit adds commands, that reply is edited, not repeated.
Unknown commands from someone with a role get the nearest command and a
pointer to `/help`; from anyone else, silence.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from gidgethub import routing, sansio

from bot.commands.call import CommandCall
from bot.commands.dispatch import MAX_COMMANDS_PER_COMMENT, TOO_MANY, refusal, run_command
from bot.commands.parser import parse_commands
from bot.commands.permissions import roles_of
from bot.commands.registry import REGISTRY
from bot.comments import comments_url, marker
from bot.context import HandlerContext
from bot.github import GitHubClient

router = routing.Router()


@router.register("advisory_comment")
async def comment(event: sansio.Event, context: HandlerContext) -> None:
    """Fires for each new or edited advisory comment; runs the commands it adds."""
    client = context.github
    assert client is not None
    data = event.data["comment"]
    comment_id = int(data["id"])
    caller = str(data["user"]["login"])
    repository = str(event.data["repository"]["full_name"])
    ghsa_id = str(event.data["repository_advisory"]["ghsa_id"])
    lines = await parse_commands(str(data.get("body") or ""))
    if not lines:
        return
    store = context.advisories
    done = {key for key, _, _ in await store.command_runs(comment_id)}
    seen: Counter[str] = Counter()
    pending = []
    for line in lines:
        seen[line.key] += 1
        key = f"{line.key}#{seen[line.key]}"
        if key not in done:
            pending.append((key, line))
    if not pending:
        return
    advisory: dict[str, Any] = await client.getitem(
        f"/repos/{repository}/security-advisories/{ghsa_id}"
    )
    record = await store.get(repository, ghsa_id)
    roster = context.team.roster() if context.team is not None else []
    any_role = frozenset({"member", "admin", "coordinator", "reporter", "collaborator"})
    now = context.clock.now()
    replies = 0
    for key, line in pending:
        if line.position >= MAX_COMMANDS_PER_COMMENT:
            outcome = TOO_MANY
            await store.record_command(comment_id, key, line.position, line.text, outcome, at=now)
            replies += 1
            continue
        declared = REGISTRY.find(line.verb)
        needed = declared.roles if declared is not None else any_role
        roles = await roles_of(
            caller,
            needed=needed,
            client=client,
            github_team=context.config.team.github_team,
            roster=roster,
            record=record,
            advisory=advisory,
        )
        refused = refusal(
            line.verb,
            declared,
            venue="advisory",
            caller=caller,
            roles=roles.roles,
            check_failed=roles.check_failed,
        )
        if refused == "":
            await store.record_command(comment_id, key, line.position, line.text, "", at=now)
            continue  # strangers get silence
        if refused is not None:
            outcome = refused
        else:
            assert declared is not None
            call = CommandCall(context, client, repository, ghsa_id, advisory, record, caller, [])
            outcome = await run_command(declared, line.arguments, call)
            advisory = call.advisory  # what GitHub answered to the command's PATCH, if any
            record = await store.get(repository, ghsa_id)
        await store.record_command(comment_id, key, line.position, line.text, outcome, at=now)
        await context.audit(
            repository, ghsa_id, "command", f"@{caller}: {line.text} → {outcome[:200]}"
        )
        replies += 1
    if replies:
        await _reply(client, context, repository, ghsa_id, comment_id, caller)


async def _reply(
    client: GitHubClient,
    context: HandlerContext,
    repository: str,
    ghsa_id: str,
    comment_id: int,
    caller: str,
) -> None:
    """One reply per comment, edited when an edit of the comment adds commands."""
    store = context.advisories
    runs = [run for run in await store.command_runs(comment_id) if run[2]]
    parts = [marker(f"reply:{comment_id}"), f"@{caller}:"]
    for _, text, outcome in runs:
        parts += ["", f"> {text}", "", outcome]
    body = "\n".join(parts)
    reply_id = await store.reply_for(comment_id)
    url = comments_url(repository, ghsa_id)
    attempted = f"reply:{comment_id}:attempted"
    if reply_id is None and await store.effect_done(attempted):
        # An earlier attempt may have posted it and died before recording it.
        tag = marker(f"reply:{comment_id}")
        async for existing in client.getiter(url):
            if tag in str(existing.get("body") or ""):
                reply_id = int(existing["id"])
                await store.set_reply(comment_id, reply_id)
    if reply_id is not None:
        await client.patch(f"{url}/{reply_id}", data={"body": body})
        return
    await store.record_effect(attempted, at=context.clock.now())
    posted = await client.post(url, data={"body": body})
    await store.set_reply(comment_id, int(posted["id"]))
