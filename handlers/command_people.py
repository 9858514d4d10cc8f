"""Commands about the people on an advisory: coordinate, assign, handoff, credit,
uncredit, invite.

Each changes the advisory through one PATCH that keeps what it does not touch
(GitHub replaces arrays whole), and says what it did. A coordinator is always
a team member the bot checked (the roster or the GitHub team)."""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from bot.advisories.coordinators import coordinator_patch
from bot.advisories.groups import (
    GroupReader,
    access_patch,
    coordinator_credit_patch,
    failure,
    member_name,
)
from bot.commands.parser import login
from bot.commands.registry import TEAM, CommandError, Registry
from bot.context import (
    CommandCall,
    HasAdvisoryStore,
    HasApp,
    HasClock,
    HasConfig,
    HasInstallations,
    HasTeam,
)
from bot.records.documents import CREDIT_TYPES

COMMANDS = Registry()


class Doors(HasAdvisoryStore, HasApp, HasClock, HasConfig, HasInstallations, HasTeam, Protocol):
    """What these commands use (the App and installations: a linked group's advisories)."""


async def _make_coordinator(call: CommandCall[Doors], target: str, why: str) -> str:
    record = call.record
    if record is None:
        raise CommandError("the bot has no record of this advisory yet")
    previous = record.coordinator
    patch = coordinator_patch(call.advisory, target)
    if patch:
        await call.patch(patch)
    now = call.context.clock.now()
    await call.context.advisories.save(replace(record, coordinator=target, coordinator_since=now))
    before = f" (was @{previous}, whose credit stays)" if previous and previous != target else ""
    shared = await _share_with_group(call, target)
    return f"@{target} is now the coordinator{before}; {why}.{shared}"


async def _share_with_group(call: CommandCall[Doors], target: str) -> str:
    """A linked group shares its coordinator: `target` is credited (once) on every
    other advisory of the group, gets access there (as a user in another
    organization), and coordinates those that had no coordinator."""
    doors = call.context
    group = await doors.advisories.linked_group(call.repository, call.ghsa_id)
    others = [member for member in group if member != (call.repository, call.ghsa_id)]
    if not others:
        return ""
    reader = GroupReader(
        doors.app, doors.installations, doors.advisories, doors.clock, delivery=call.handle.delivery
    )
    done, problems = [], []
    for repository, ghsa_id in others:
        member = await reader.read(repository, ghsa_id)
        if member.handle is None:
            problems.append(f"{member_name(member.key)} ({member.problem})")
            continue
        patch = coordinator_credit_patch(member.handle.advisory, target)
        patch.update(
            access_patch(
                member.handle.advisory,
                repository,
                github_team=doors.config.team.github_team,
                working_members=[target],
                team_logins={target.lower()},  # checked a member: the team gives access
            )
        )
        if patch:
            try:
                await member.handle.patch(patch)
            except Exception as error:  # said in the reply; this advisory's change stands
                problems.append(f"{member_name(member.key)} ({failure(error)})")
                continue
            await member.handle.audit("group-coordinator", f"credited @{target} (linked)")
        if member.record is not None and member.record.coordinator is None:
            now = doors.clock.now()
            await doors.advisories.save(
                replace(member.record, coordinator=target, coordinator_since=now)
            )
        done.append(member_name(member.key))
    said = f" Credited on the linked {', '.join(done)} too." if done else ""
    if problems:
        said += f" Not updated: {'; '.join(problems)}."
    return said


@COMMANDS.command(
    "coordinate",
    usage="/coordinate",
    roles=("member",),
    description="Makes you the coordinator (credit and collaborator).",
)
async def coordinate(call: CommandCall[Doors]) -> str:
    record = call.record
    if (
        record is not None
        and record.coordinator
        and record.coordinator.lower() != call.caller.lower()
    ):
        raise CommandError(
            f"@{record.coordinator} coordinates this; they can hand it over with /assign"
        )
    return await _make_coordinator(call, call.caller, "they took it")


@COMMANDS.command(
    "assign",
    usage="/assign @user",
    roles=TEAM,
    description="Makes a team member the coordinator (credit and collaborator).",
    examples=("/assign @gpshead",),
)
async def assign(call: CommandCall[Doors]) -> str:
    if len(call.arguments) != 1:
        raise CommandError("name one person", show_usage=True)
    return await _assign_member(call, login(call.arguments[0]))


async def _assign_member(call: CommandCall[Doors], target: str) -> str:
    """Make `target` the coordinator if the roster or the GitHub team says they are a member."""
    team = call.context.team
    roster = {e.login.lower(): e.login for e in team.roster()}
    member = await team.is_member(call.client, target, now=call.context.clock.now())
    if not member:
        raise CommandError(
            f"@{target} is not a team member, so cannot coordinate (the target, "
            f"not @{call.caller}, is the problem)"
        )
    name = roster.get(target.lower(), target)
    return await _make_coordinator(call, name, f"assigned by @{call.caller}")


def _credits(call: CommandCall[Doors]) -> list[dict[str, str]]:
    return [
        {"login": str(c["user"]["login"]), "type": str(c["type"])}
        for c in call.advisory.get("credits_detailed") or []
    ]


@COMMANDS.command(
    "credit",
    usage="/credit @user TYPE",
    roles=TEAM,
    description="Credits someone; TYPE is one of GitHub's ten credit types.",
    examples=("/credit @alice remediation_developer",),
)
async def credit(call: CommandCall[Doors]) -> str:
    if len(call.arguments) != 2:
        raise CommandError("name a person and a credit type", show_usage=True)
    target, kind = login(call.arguments[0]), call.arguments[1].lower()
    if kind not in CREDIT_TYPES:
        raise CommandError(f"{kind!r} is not a credit type (one of {', '.join(CREDIT_TYPES)})")
    credits = _credits(call)
    if any(c["login"].lower() == target.lower() and c["type"] == kind for c in credits):
        return f"@{target} is already credited as {kind}; nothing changed."
    await call.patch({"credits": [*credits, {"login": target, "type": kind}]})
    return f"Credited @{target} as {kind} (they are asked to accept it)."


@COMMANDS.command(
    "uncredit",
    usage="/uncredit @user [TYPE]",
    roles=TEAM,
    description="Removes someone's credit (one type, or all of theirs).",
)
async def uncredit(call: CommandCall[Doors]) -> str:
    if not 1 <= len(call.arguments) <= 2:
        raise CommandError("name a person, and optionally a credit type", show_usage=True)
    target = login(call.arguments[0])
    kind = call.arguments[1].lower() if len(call.arguments) == 2 else None
    credits = _credits(call)
    kept = [
        c
        for c in credits
        if not (c["login"].lower() == target.lower() and kind in (None, c["type"]))
    ]
    if len(kept) == len(credits):
        return f"@{target} has no such credit; nothing changed."
    await call.patch({"credits": kept})
    return f"Removed {len(credits) - len(kept)} credit(s) of @{target}."


@COMMANDS.command(
    "invite",
    usage="/invite @user...",
    roles=TEAM,
    description="Adds people as advisory collaborators (they can then see it).",
    examples=("/invite @ethanfurman @serhiy-storchaka",),
)
async def invite(call: CommandCall[Doors]) -> str:
    if not call.arguments:
        raise CommandError("name at least one person", show_usage=True)
    targets = [login(word) for word in call.arguments]
    users = [str(u["login"]) for u in call.advisory.get("collaborating_users") or []]
    known = {u.lower() for u in users}
    new = [t for t in targets if t.lower() not in known]
    if not new:
        return "Everyone named is already a collaborator; nothing changed."
    await call.patch({"collaborating_users": [*users, *new]})
    return "Invited " + ", ".join(f"@{t}" for t in new) + "."


@COMMANDS.command(
    "handoff",
    usage="/handoff @user [reason]",
    roles=("coordinator", "admin"),
    description="Hands the coordination to another member (PEP 811: a stuck "
    "coordinator must delegate); the earlier credit stays.",
    examples=('/handoff @gpshead "travelling until March"',),
)
async def handoff(call: CommandCall[Doors]) -> str:
    if not call.arguments:
        raise CommandError("name who takes over", show_usage=True)
    # The same call: the advisory it leaves is what the next command in the comment sees.
    outcome = await _assign_member(call, login(call.arguments[0]))
    reason = " ".join(call.arguments[1:])
    return outcome + (f" Reason: {reason}" if reason else "")
