"""Commands that drive an advisory: accept, reject, duplicate, coordinate, assign,
credit, uncredit, invite. Each changes the advisory through one PATCH that keeps
what it does not touch (GitHub replaces arrays whole), and says what it did."""

from __future__ import annotations

import re
from dataclasses import replace

from gidgethub import routing

from bot.commands.call import CommandCall
from bot.commands.parser import login
from bot.commands.registry import CommandError, command
from bot.coordinators import coordinator_patch

router = routing.Router()  # commands are dispatched by handlers/comments.py

TEAM = ("member", "coordinator", "admin")
CREDIT_TYPES = (
    "analyst",
    "finder",
    "reporter",
    "coordinator",
    "remediation_developer",
    "remediation_reviewer",
    "remediation_verifier",
    "tool",
    "sponsor",
    "other",
)
REJECT_REASONS = {
    "not-a-vulnerability": "After review, the team concluded this is not a security "
    "vulnerability. Thank you for taking the time to report it.",
    "bug": "This is a bug, but not a security vulnerability. Please open a public issue "
    "for it (without exploit details). Thank you for reporting it.",
    "out-of-scope": "This is outside the scope of the security policy ({policy}). Thank you "
    "for reporting it.",
}


async def _set_state(call: CommandCall, target: str, allowed_from: tuple[str, ...]) -> None:
    state = call.advisory["state"]
    if state == target:
        raise CommandError(f"the advisory is already {target}")
    if state not in allowed_from:
        raise CommandError(f"an advisory in state {state} cannot move to {target}")
    await call.patch({"state": target})


@command(
    "accept",
    usage="/accept",
    roles=TEAM,
    description="Accepts the report as a vulnerability: triage → draft.",
)
async def accept(call: CommandCall) -> str:
    await _set_state(call, "draft", ("triage",))
    return "Accepted: the advisory is now a draft."


@command(
    "reject",
    usage="/reject [not-a-vulnerability|bug|out-of-scope] [note]",
    roles=TEAM,
    description="Closes the report and tells the reporter why.",
    examples=('/reject bug "crash only with a debug build"',),
)
async def reject(call: CommandCall) -> str:
    reason = call.arguments[0].lower() if call.arguments else "not-a-vulnerability"
    if reason not in REJECT_REASONS:
        raise CommandError(f"unknown reason {reason!r}", show_usage=True)
    note = " ".join(call.arguments[1:])
    await _set_state(call, "closed", ("triage", "draft"))
    reporter = call.record.reporter if call.record else None
    text = REJECT_REASONS[reason].format(policy=call.context.config.policy.url)
    greeting = f"@{reporter}: " if reporter else ""
    return f"Closed ({reason}). {greeting}{text}" + (f" {note}" if note else "")


@command(
    "duplicate",
    usage="/duplicate GHSA-xxxx-xxxx-xxxx",
    roles=TEAM,
    description="Closes the report as a duplicate of another advisory.",
)
async def duplicate(call: CommandCall) -> str:
    if len(call.arguments) != 1 or not re.fullmatch(
        r"GHSA(-[23456789cfghjmpqrvwx]{4}){3}", call.arguments[0], re.IGNORECASE
    ):
        raise CommandError("name the original advisory", show_usage=True)
    original = "GHSA" + call.arguments[0][4:].lower()
    await _set_state(call, "closed", ("triage", "draft"))
    return f"Closed as a duplicate of {original}."


async def _make_coordinator(call: CommandCall, target: str, why: str) -> str:
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
    return f"@{target} is now the coordinator{before}; {why}."


@command(
    "coordinate",
    usage="/coordinate",
    roles=("member",),
    description="Makes you the coordinator (credit and collaborator).",
)
async def coordinate(call: CommandCall) -> str:
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


@command(
    "assign",
    usage="/assign @user",
    roles=TEAM,
    description="Makes a team member the coordinator (credit and collaborator).",
    examples=("/assign @gpshead",),
)
async def assign(call: CommandCall) -> str:
    if len(call.arguments) != 1:
        raise CommandError("name one person", show_usage=True)
    target = login(call.arguments[0])
    roster = call.context.team.get("roster") if call.context.team else None
    members = {e.login.lower(): e.login for e in roster or []}
    if target.lower() not in members:
        raise CommandError(
            f"@{target} is not a team member, so cannot coordinate (the target, "
            f"not @{call.caller}, is the problem)"
        )
    return await _make_coordinator(call, members[target.lower()], f"assigned by @{call.caller}")


def _credits(call: CommandCall) -> list[dict[str, str]]:
    return [
        {"login": str(c["user"]["login"]), "type": str(c["type"])}
        for c in call.advisory.get("credits_detailed") or []
    ]


@command(
    "credit",
    usage="/credit @user TYPE",
    roles=TEAM,
    description="Credits someone; TYPE is one of GitHub's ten credit types.",
    examples=("/credit @alice remediation_developer",),
)
async def credit(call: CommandCall) -> str:
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


@command(
    "uncredit",
    usage="/uncredit @user [TYPE]",
    roles=TEAM,
    description="Removes someone's credit (one type, or all of theirs).",
)
async def uncredit(call: CommandCall) -> str:
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


@command(
    "invite",
    usage="/invite @user...",
    roles=TEAM,
    description="Adds people as advisory collaborators (they can then see it).",
    examples=("/invite @ethanfurman @serhiy-storchaka",),
)
async def invite(call: CommandCall) -> str:
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
