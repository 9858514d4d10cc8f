"""Commands that drive an advisory: accept, reject, duplicate, coordinate, assign,
credit, uncredit, invite. Each changes the advisory through one PATCH that keeps
what it does not touch (GitHub replaces arrays whole), and says what it did."""

from __future__ import annotations

import re
import string
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from gidgethub import routing

from bot.advisories.coordinators import coordinator_patch
from bot.commands.call import CommandCall
from bot.commands.parser import login
from bot.commands.registry import TEAM, CommandError, command
from bot.records.cve_ids import reserve_on_accept
from bot.records.documents import CREDIT_TYPES

router = routing.Router()  # commands are dispatched by handlers/comments.py

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
    cve_step = await reserve_on_accept(call.handle, call.cve_desk)
    return "Accepted: the advisory is now a draft." + (f" {cve_step}" if cve_step else "")


@command(
    "reject",
    usage="/reject [not-a-vulnerability|bug|out-of-scope] [note]",
    roles=TEAM,
    description="Closes the report and tells the reporter why (from "
    "config/templates/reject-REASON.md).",
    examples=('/reject bug "crash only with a debug build"',),
)
async def reject(call: CommandCall) -> str:
    reason = call.arguments[0].lower() if call.arguments else "not-a-vulnerability"
    if reason not in REJECT_REASONS:
        raise CommandError(f"unknown reason {reason!r}", show_usage=True)
    note = " ".join(call.arguments[1:])
    await _set_state(call, "closed", ("triage", "draft"))
    reporter = call.record.reporter if call.record else None
    return f"Closed ({reason}). " + reject_text(call, reason, reporter, note)


def reject_text(call: CommandCall, reason: str, reporter: str | None, note: str) -> str:
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
    # The reporter reads this reply: the other advisory's id stays in the audit log.
    await call.context.audit(
        call.repository, call.ghsa_id, "duplicate", f"@{call.caller}: duplicates {original}"
    )
    return (
        "Closed: this report duplicates one the team is already handling. Thank you for "
        "reporting it."
    )


@command(
    "complete",
    usage="/complete",
    roles=TEAM,
    description="Marks the bot's record of the advisory completed: its reminders, escalation "
    "and coordinator assignment stop. GitHub's state is unchanged (what the `[COMPLETED]` "
    "title tag asks for).",
)
async def complete(call: CommandCall) -> str:
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
    return await _assign_member(call, login(call.arguments[0]))


async def _assign_member(call: CommandCall, target: str) -> str:
    """Make `target` the coordinator if the roster or the GitHub team says they are a member."""
    team = call.context.team
    roster = {e.login.lower(): e.login for e in (team.roster() if team else [])}
    member = await team.is_member(
        call.client, target, now=call.context.clock.now()
    )
    if not member:
        raise CommandError(
            f"@{target} is not a team member, so cannot coordinate (the target, "
            f"not @{call.caller}, is the problem)"
        )
    name = roster.get(target.lower(), target)
    return await _make_coordinator(call, name, f"assigned by @{call.caller}")


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


@command(
    "handoff",
    usage="/handoff @user [reason]",
    roles=("coordinator", "admin"),
    description="Hands the coordination to another member (PEP 811: a stuck "
    "coordinator must delegate); the earlier credit stays.",
    examples=('/handoff @gpshead "travelling until March"',),
)
async def handoff(call: CommandCall) -> str:
    if not call.arguments:
        raise CommandError("name who takes over", show_usage=True)
    # The same call: the advisory it leaves is what the next command in the comment sees.
    outcome = await _assign_member(call, login(call.arguments[0]))
    reason = " ".join(call.arguments[1:])
    return outcome + (f" Reason: {reason}" if reason else "")


SEVERITIES = ("low", "medium", "high", "critical")
CVSS_31 = re.compile(
    r"CVSS:3\.1/AV:[NALP]/AC:[LH]/PR:[NLH]/UI:[NR]/S:[UC]/C:[NLH]/I:[NLH]/A:[NLH](/[A-Za-z]+:[A-Za-z])*"
)
CVSS_40 = re.compile(
    r"CVSS:4\.0/AV:[NALP]/AC:[LH]/AT:[NP]/PR:[NLH]/UI:[NPA]/VC:[HLN]/VI:[HLN]/VA:[HLN]"
    r"/SC:[HLN]/SI:[HLN]/SA:[HLN](/[A-Za-z]+:[A-Za-z])*"
)


@command(
    "severity",
    usage="/severity low|medium|high|critical",
    roles=TEAM,
    description="Sets the severity (GitHub refuses it while a CVSS vector is set).",
)
async def severity(call: CommandCall) -> str:
    if len(call.arguments) != 1 or call.arguments[0].lower() not in SEVERITIES:
        raise CommandError("give one severity", show_usage=True)
    if (call.advisory.get("cvss") or {}).get("vector_string"):
        raise CommandError(
            "GitHub refuses a severity while a CVSS vector is set (the severity comes from "
            "the vector); change the vector with /cvss instead"
        )
    await call.patch({"severity": call.arguments[0].lower()})
    return f"Severity set to {call.arguments[0].lower()}."


@command(
    "cvss",
    usage="/cvss VECTOR",
    roles=TEAM,
    description="Sets the CVSS vector (3.1 or 4.0, validated; the devguide asks for 4.0).",
    examples=("/cvss CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",),
)
async def cvss(call: CommandCall) -> str:
    if len(call.arguments) != 1:
        raise CommandError("give one vector", show_usage=True)
    vector = call.arguments[0]
    if not (CVSS_31.fullmatch(vector) or CVSS_40.fullmatch(vector)):
        raise CommandError(
            f"{vector!r} is not a valid CVSS 3.1 or 4.0 base vector", show_usage=True
        )
    await call.patch({"cvss_vector_string": vector})
    note = "" if vector.startswith("CVSS:4.0") else " The devguide asks for CVSS 4.0."
    return f"CVSS vector set.{note}"


@command(
    "cwe",
    usage="/cwe CWE-n...",
    roles=TEAM,
    description="Adds CWE identifiers (keeping the ones already set).",
    examples=("/cwe CWE-22 CWE-59",),
)
async def cwe(call: CommandCall) -> str:
    wanted = [word.upper() for word in call.arguments]
    if not wanted or not all(re.fullmatch(r"CWE-[1-9][0-9]*", word) for word in wanted):
        raise CommandError("give CWE identifiers like CWE-22", show_usage=True)
    current = [str(c) for c in call.advisory.get("cwe_ids") or []]
    new = [c for c in wanted if c not in current]
    if not new:
        return "Those CWEs are already set; nothing changed."
    await call.patch({"cwe_ids": [*current, *new]})
    return "Added " + ", ".join(new) + "."


@command(
    "leave",
    usage="/leave until YYYY-MM-DD",
    roles=("member",),
    description="Marks you unavailable: you are not assigned as coordinator until then. "
    "Written in the governance repository, which reporters do not read.",
    venues=("governance",),
)
async def leave(call: Any) -> str:
    words = [w.lower() for w in call.arguments]
    if len(words) != 2 or words[0] != "until" or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", words[1]):
        raise CommandError("say until when", show_usage=True)
    await call.context.member_leave.set_leave(call.caller, words[1])
    return f"Noted: @{call.caller} is on leave until {words[1]} and is not assigned until then."


@command(
    "back",
    usage="/back",
    roles=("member",),
    description="Ends your leave: you can be assigned as coordinator again. Written in the "
    "governance repository.",
    venues=("governance",),
)
async def back(call: Any) -> str:
    await call.context.member_leave.set_leave(call.caller, None)
    return f"Welcome back, @{call.caller}: you can be assigned again."


@command(
    "fork",
    usage="/fork",
    roles=TEAM,
    description="Starts a temporary private fork to develop the fix in; the bot says "
    "here when GitHub has created it (up to 5 minutes).",
)
async def fork(call: CommandCall) -> str:
    existing = call.advisory.get("private_fork")
    if existing:
        return f"The temporary private fork already exists: {existing['html_url']}"
    created = await call.client.post(f"{call.path}/forks", data=b"")
    return (
        f"Requested the temporary private fork `{created['full_name']}`. GitHub creates it "
        "asynchronously (up to 5 minutes); the bot will say here when it exists. "
        "CI does not run in temporary private forks."
    )


# GitHub's own name rules: an owner is 1-39 letters, digits and inner hyphens; a
# repository name is letters, digits, `.`, `_` and `-` (not `.` or `..`).
OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"
REPOSITORY_NAME = r"(?!\.\.?(?:[/#]|$))[A-Za-z0-9._-]{1,100}"
PULL_PATH = re.compile(rf"/({OWNER}/{REPOSITORY_NAME})/pull/([1-9][0-9]{{0,9}})/?")
PULL_SHORT = re.compile(rf"({OWNER}/{REPOSITORY_NAME})#([1-9][0-9]{{0,9}})")
MAX_PULL_NUMBER = 2**31 - 1


def pull_request(word: str, web_url: str) -> tuple[str, int] | None:
    """(OWNER/REPO, number) for a pull request URL on `web_url`'s host or `OWNER/REPO#N`."""
    match = PULL_SHORT.fullmatch(word)
    if match is None:
        parts = urlsplit(word)
        expected = urlsplit(web_url)
        if (parts.scheme, parts.netloc.lower()) != (expected.scheme, expected.netloc.lower()):
            return None
        if parts.query or parts.fragment:
            return None
        match = PULL_PATH.fullmatch(parts.path)
        if match is None:
            return None
    number = int(match.group(2))
    return (match.group(1), number) if number <= MAX_PULL_NUMBER else None


@command(
    "fix",
    usage="/fix PR-URL...",
    roles=TEAM,
    description="Links the public fix pull request (and its backports): when one merges, "
    "its author is credited as remediation developer and its approving reviewers as "
    "remediation reviewers.",
    examples=("/fix https://github.com/python/cpython/pull/12345 python/cpython#12346",),
)
async def fix(call: CommandCall) -> str:
    if not call.arguments:
        raise CommandError("give the fix's pull request", show_usage=True)
    pulls = []
    web_url = call.context.web_url
    for word in call.arguments:
        found = pull_request(word, web_url)
        if found is None:
            raise CommandError(
                f"{word[:100]!r} is not a pull request on {web_url} (give its URL, or "
                "OWNER/REPO#NUMBER)",
                show_usage=True,
            )
        pulls.append(found)
    linked = []
    for repository, number in pulls:
        if await call.context.fix_links.link_fix(
            call.repository, call.ghsa_id, repository, number
        ):
            linked.append(f"{repository}#{number}")
    if not linked:
        return "Those pull requests are already linked; nothing changed."
    return (
        "Linked " + ", ".join(linked) + ". When they merge, the author is credited as "
        "remediation developer and approving reviewers as remediation reviewers."
    )
