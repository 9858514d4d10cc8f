"""Commands that decide what becomes of a report: accept, reject, duplicate, complete.

Each changes the advisory's state through one PATCH (or, for /complete, only the
bot's record) and says what it did; /reject's words to the reporter come from
the team's template when it has one."""

from __future__ import annotations

import re
import string
from dataclasses import replace
from typing import Protocol

from bot.advisories.expert_tags import accepted
from bot.commands.registry import TEAM, CommandError, Registry
from bot.context import CommandCall, CveDoors, HasAdvisoryStore, HasClock, HasFollowUps, cve_desk
from bot.records.cve_ids import reserve_on_accept

COMMANDS = Registry()


class Doors(HasAdvisoryStore, HasClock, HasFollowUps, CveDoors, Protocol):
    """What these commands use."""


REJECT_REASONS = {
    "not-a-vulnerability": "After review, the team concluded this is not a security "
    "vulnerability. Thank you for taking the time to report it.",
    "bug": "This is a bug, but not a security vulnerability. Please open a public issue "
    "for it (without exploit details). Thank you for reporting it.",
    "out-of-scope": "This is outside the scope of the security policy ({policy}). Thank you "
    "for reporting it.",
}


async def _set_state(call: CommandCall[Doors], target: str, allowed_from: tuple[str, ...]) -> None:
    state = call.advisory["state"]
    if state == target:
        raise CommandError(f"the advisory is already {target}")
    if state not in allowed_from:
        raise CommandError(f"an advisory in state {state} cannot move to {target}")
    await call.patch({"state": target})


@COMMANDS.command(
    "accept",
    usage="/accept",
    roles=TEAM,
    description="Accepts the report as a vulnerability: triage → draft (and, by "
    "`[experts] tag`, tags the maintainers of its modules once).",
)
async def accept(call: CommandCall[Doors]) -> str:
    await _set_state(call, "draft", ("triage",))
    cve_step = await reserve_on_accept(call.handle, cve_desk(call.context))
    if call.record is not None:  # its maintainers are tagged once (`[experts] tag`)
        installation_id = call.record.installation_id
        await accepted(
            call.context.followups, call.handle, installation_id=installation_id, by="/accept"
        )
    return "Accepted: the advisory is now a draft." + (f" {cve_step}" if cve_step else "")


@COMMANDS.command(
    "reject",
    usage="/reject [not-a-vulnerability|bug|out-of-scope] [note]",
    roles=TEAM,
    description="Closes the report and tells the reporter why (from "
    "config/templates/reject-REASON.md).",
    examples=('/reject bug "crash only with a debug build"',),
)
async def reject(call: CommandCall[Doors]) -> str:
    reason = call.arguments[0].lower() if call.arguments else "not-a-vulnerability"
    if reason not in REJECT_REASONS:
        raise CommandError(f"unknown reason {reason!r}", show_usage=True)
    note = " ".join(call.arguments[1:])
    await _set_state(call, "closed", ("triage", "draft"))
    reporter = call.record.reporter if call.record else None
    return f"Closed ({reason}). " + reject_text(call, reason, reporter, note)


def reject_text(call: CommandCall[Doors], reason: str, reporter: str | None, note: str) -> str:
    """The words to the reporter: the team's template if it has one, else a default."""
    template = call.context.config.directory / "templates" / f"reject-{reason}.md"
    policy = call.context.config.policy.url
    if template.is_file():
        text = string.Template(template.read_text(encoding="utf-8")).safe_substitute(
            reporter=f"@{reporter}" if reporter else "Reporter", policy_url=policy, note=note
        )
        return " ".join(text.split())
    greeting = f"@{reporter}: " if reporter else ""
    return greeting + REJECT_REASONS[reason].format(policy=policy) + (f" {note}" if note else "")


@COMMANDS.command(
    "duplicate",
    usage="/duplicate GHSA-xxxx-xxxx-xxxx",
    roles=TEAM,
    description="Closes the report as a duplicate of another advisory.",
)
async def duplicate(call: CommandCall[Doors]) -> str:
    if len(call.arguments) != 1 or not re.fullmatch(
        r"GHSA(-[23456789cfghjmpqrvwx]{4}){3}", call.arguments[0], re.IGNORECASE
    ):
        raise CommandError("name the original advisory", show_usage=True)
    original = "GHSA" + call.arguments[0][4:].lower()
    await _set_state(call, "closed", ("triage", "draft"))
    # The reporter reads this reply: the other advisory's id stays in the audit log.
    await call.context.audit(
        call.repository, call.ghsa_id, "duplicate", f"@{call.caller}: duplicates {original}"
    )
    return (
        "Closed: this report duplicates one the team is already handling. Thank you for "
        "reporting it."
    )


@COMMANDS.command(
    "complete",
    usage="/complete",
    roles=TEAM,
    description="Marks the bot's record of the advisory completed: its reminders, escalation "
    "and coordinator assignment stop. GitHub's state is unchanged (what the `[COMPLETED]` "
    "title tag asks for).",
)
async def complete(call: CommandCall[Doors]) -> str:
    record = call.record
    if record is None:
        raise CommandError("the bot has no record of this advisory yet")
    if record.completed_at is not None:
        return "The bot's record is already completed; nothing changed."
    now = call.context.clock.now()
    await call.context.advisories.save(replace(record, completed_at=now, last_activity_at=now))
    await call.context.audit(
        call.repository, call.ghsa_id, "completed", f"@{call.caller}: /complete"
    )
    return "Completed: reminders, escalation and coordinator assignment stop for this advisory."
