"""Commands that inform: /help, /status, /experts and /ping."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Protocol

from bot.advisories.experts import suggest_for_team, suggestion_comment
from bot.advisories.groups import GroupReader, group_received_at
from bot.commands.registry import CommandError, Registry
from bot.context import (
    ChecklistDoors,
    CommandCall,
    HasAdvisoryStore,
    HasApp,
    HasClock,
    HasCommands,
    HasInstallations,
    HasTeam,
    checklist_facts_for,
    cve_desk,
)
from bot.records.checklist import run_checklist
from bot.records.linked import group_checks, group_status_lines

COMMANDS = Registry()


class Doors(
    HasClock,
    HasCommands,
    HasTeam,
    HasApp,
    HasInstallations,
    HasAdvisoryStore,
    ChecklistDoors,
    Protocol,
):
    """What these commands use."""


EVERYONE = ("member", "admin", "coordinator", "reporter", "collaborator")
# Lists in /status stop here ("and N more"): a reply must fit in one GitHub comment.
LISTED = 50


def listed(items: Iterable[str]) -> str:
    """Up to LISTED items, comma-separated, then how many more there are."""
    shown = list(items)
    more = f" and {len(shown) - LISTED} more" if len(shown) > LISTED else ""
    return ", ".join(shown[:LISTED]) + more


@COMMANDS.command(
    "help",
    usage="/help",
    description="Lists every command, who may use it, and how.",
    roles=EVERYONE,
    venues=("advisory", "governance"),
)
async def help_command(call: CommandCall[Doors]) -> str:
    return call.context.commands.help_text(call.venue)


@COMMANDS.command(
    "status",
    usage="/status",
    description="State, coordinator, age and deadline, credits, CVE, collaborators, "
    "and what is missing before publication; for a linked advisory also the planned "
    "disclosure date and every linked advisory's state and what it lacks.",
    roles=EVERYONE,
)
async def status(call: CommandCall[Doors]) -> str:
    advisory, record = call.advisory, call.record
    days = call.context.config.policy.response_days
    now = call.context.clock.now()
    lines = [f"**State:** {advisory['state']}"]
    if record is not None:
        # A linked group shares one clock: its earliest report's (bot/advisories/groups.py).
        deadline = await group_received_at(call.context.advisories, record) + days * 86400
        due = datetime.datetime.fromtimestamp(deadline, datetime.UTC)
        left = int((deadline - now) // 86400)
        age = int((now - record.received_at) // 86400)
        lines.append(
            f"**Coordinator:** {('@' + record.coordinator) if record.coordinator else 'none yet'}"
        )
        lines.append(
            f"**Age:** {age} days; **deadline** {due:%Y-%m-%d} "
            + (f"({left} days left)" if left >= 0 else "(passed)")
        )
    credits = advisory.get("credits_detailed") or []
    shown = listed(f"@{c['user']['login']} {c['type']} ({c['state']})" for c in credits)
    lines.append(f"**Credits:** {shown or 'none'}")
    lines.append(f"**CVE:** {advisory.get('cve_id') or 'none yet'}")
    fixes = await call.context.fix_links.fixes(call.repository, call.ghsa_id)
    shown_fixes = listed(
        f"{repo}#{number} ({'merged ' + commit[:10] if commit else 'not merged yet'})"
        for repo, number, commit in fixes
    )
    lines.append(f"**Fixes:** {shown_fixes or 'none linked (use /fix)'}")
    users = listed("@" + u["login"] for u in advisory.get("collaborating_users") or [])
    teams = listed(t["slug"] for t in advisory.get("collaborating_teams") or [])
    lines.append(f"**Collaborators:** {users or 'none'}; **teams:** {teams or 'none'}")
    config = call.context.config
    facts = await checklist_facts_for(call)
    checks = run_checklist(advisory, facts, config.publish)
    missing = [check.detail for check in checks if not check.passed]
    lines.append("**Missing before publication:** " + ("; ".join(missing) or "nothing"))
    return "\n".join(lines + await _group_lines(call))


async def _group_lines(call: CommandCall[Doors]) -> list[str]:
    """The planned disclosure date, and each linked advisory with what it lacks."""
    doors = call.context
    planned = await doors.advisories.planned_disclosure(call.repository, call.ghsa_id)
    lines = [f"**Planned disclosure:** {planned.isoformat()}"] if planned else []
    if len(await doors.advisories.linked_group(call.repository, call.ghsa_id)) < 2:
        return lines
    reader = GroupReader(
        doors.app,
        doors.installations,
        doors.advisories,
        call.handle.clock,
        delivery=call.handle.delivery,
    )
    results = await group_checks(
        await reader.members(call.handle, call.record),
        doors.fix_links,
        cve_desk(doors),
        doors.config.publish,
        any_coordinator_credit=doors.config.unsafe.collaborators_name_the_coordinator_with_credits,
    )
    return lines + group_status_lines(results)


@COMMANDS.command(
    "experts",
    usage="/experts",
    roles=("member", "coordinator", "admin"),
    description="Suggests the experts for what the report is about, again.",
)
async def experts(call: CommandCall[Doors]) -> str:
    reporter = call.record.reporter if call.record else None
    exclude = {reporter} if reporter else set()
    modules, people = suggest_for_team(call.context.team, call.advisory, exclude=exclude)
    if not people:
        return "No experts found for the modules this report names."
    return suggestion_comment(modules, people)


@COMMANDS.command(
    "ping",
    usage="/ping MODULE",
    roles=("member", "coordinator", "admin"),
    description="Mentions the experts of one module (they see the advisory only if invited).",
    examples=("/ping zipfile",),
)
async def ping(call: CommandCall[Doors]) -> str:
    if len(call.arguments) != 1:
        raise CommandError("name one module", show_usage=True)
    module = call.arguments[0]
    _, people = suggest_for_team(call.context.team, {"summary": module})
    if not people:
        raise CommandError(f"no experts are listed for {module!r}")
    mentions = " ".join(f"@{p.login}" for p in people)
    return f"{mentions}: your knowledge of `{module}` is asked for here."
