"""Publishing: the /publish checklist and publication, and the /announce email draft.

`/publish` runs the configured checklist (bot/records/checklist.py) and answers
with it. When every item passes it publishes the advisory if
`publish.bot_may_publish` allows, and queues the publication event so the
publication handlers (thanks, final credits, OSV and CVE records) run at once
rather than when GitHub's webhook or the poller reports it. `/announce` drafts
the security-announce email from `publish.announce_template` as a reply, for
a human to send.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any, Protocol

from bot.advisories.groups import GroupReader
from bot.commands.registry import TEAM, CommandError, Registry
from bot.context import (
    ChecklistDoors,
    CommandCall,
    HasAdvisoryStore,
    HasApp,
    HasFollowUps,
    HasInstallations,
    HasUrls,
    checklist_facts_for,
    cve_desk,
)
from bot.records.checklist import checklist_text, run_checklist
from bot.records.cve_ids import Binding, handle_binding, unbound_note
from bot.records.documents import cvss_severity
from bot.records.linked import publish_linked

COMMANDS = Registry()


class Doors(
    HasAdvisoryStore, HasFollowUps, HasApp, HasInstallations, HasUrls, ChecklistDoors, Protocol
):
    """What /publish and /announce use."""


@COMMANDS.command(
    "publish",
    usage="/publish [--waive-credits]",
    roles=TEAM,
    description="Runs the publication checklist (CVSS v4, CWE, coordinator credit, merged "
    "public fix, description, CVE, accepted credits) and publishes when it passes, if "
    "policy lets the bot publish. On a linked advisory: the whole linked group's checklist, "
    "and the group published (or declared ready) together.",
    examples=("/publish", "/publish --waive-credits"),
)
async def publish(call: CommandCall[Doors]) -> str:
    unknown = [word for word in call.arguments if word != "--waive-credits"]
    if unknown:
        raise CommandError(f"unknown option {unknown[0]!r}", show_usage=True)
    waive = "--waive-credits" in call.arguments
    if len(await call.context.advisories.linked_group(call.repository, call.ghsa_id)) > 1:
        return await _publish_linked(call, waive)
    state = call.advisory["state"]
    if state == "published":
        return "The advisory is already published."
    if state != "draft":
        raise CommandError(f"only a draft can be published (this one is {state}); /accept it")
    policy = call.context.config.publish
    facts = await checklist_facts_for(call)
    checks = run_checklist(call.advisory, facts, policy, waive_credits=waive)
    listing = checklist_text(checks)
    if not all(check.passed for check in checks):
        return f"Not ready to publish:\n\n{listing}"
    if not policy.bot_may_publish:
        return (
            f"Ready to publish:\n\n{listing}\n\nPolicy leaves publishing to a person: a "
            "repository admin can use 'Publish advisory' on this page."
        )
    await call.patch({"state": "published"})
    await call.context.audit(
        call.repository, call.ghsa_id, "state-published", f"@{call.caller}: /publish"
    )
    if waive:  # only once it is published: a refused PATCH waived nothing
        await call.context.audit(
            call.repository, call.ghsa_id, "credits-waived", f"@{call.caller}: /publish"
        )
    if call.record is not None:
        # What the change means, through the one door for the bot's own events: the
        # publication handlers run now, not when GitHub's webhook or the poller says so.
        await call.context.followups.advisory_published(
            installation_id=call.record.installation_id,
            repository=call.repository,
            ghsa_id=call.ghsa_id,
        )
    return f"Published.\n\n{listing}"


async def _publish_linked(call: CommandCall[Doors], waive: bool) -> str:
    """The advisory is linked (bot/advisories/links.py): the group is checked and
    published together (bot/records/linked.py)."""
    doors = call.context
    reader = GroupReader(
        doors.app,
        doors.installations,
        doors.advisories,
        call.handle.clock,
        delivery=call.handle.delivery,
    )
    return await publish_linked(
        await reader.members(call.handle, call.record),
        doors.fix_links,
        cve_desk(doors),
        doors.config.publish,
        doors.followups,
        caller=call.caller,
        waive_credits=waive,
        any_coordinator_credit=doors.config.unsafe.collaborators_name_the_coordinator_with_credits,
    )


DEFAULT_ANNOUNCEMENT = """\
Subject: [$cve_id] $title

There is a $severity severity vulnerability affecting $project.

$description

Please see the linked CVE ID for the latest information on affected versions:

* https://www.cve.org/CVERecord?id=$cve_id
$fix_links

Advisory: $advisory_url
$credit_lines"""


@COMMANDS.command(
    "announce",
    usage="/announce",
    roles=TEAM,
    description="Drafts the security-announce email (`[CVE-YYYY-NNNN] title`, the severity "
    "sentence, links) from the configured template, for a person to send.",
)
async def announce(call: CommandCall[Doors]) -> str:
    advisory = call.advisory
    cve_id = advisory.get("cve_id")
    if not cve_id:
        raise CommandError("the announcement is titled by its CVE ID, and there is none: /cve")
    if await handle_binding(call.handle, cve_desk(call.context)) is not Binding.OURS:
        raise CommandError(unbound_note(cve_id))
    policy = call.context.config.publish
    template = DEFAULT_ANNOUNCEMENT
    if policy.announce_template is not None:
        template = policy.announce_template.read_text(encoding="utf-8")
    fixes = await call.context.fix_links.fixes(call.repository, call.ghsa_id)
    accepted = [
        f"{c['user']['login']} ({c['type'].replace('_', ' ')})"
        for c in advisory.get("credits_detailed") or []
        if c.get("state") == "accepted"
    ]
    text = string.Template(template).safe_substitute(
        cve_id=cve_id,
        title=str(advisory.get("summary") or "").strip(),
        severity=_severity_word(advisory),
        project=policy.project or call.repository,
        description=str(advisory.get("description") or "").strip(),
        fix_links="\n".join(
            f"* {call.context.web_url}/{repo}/pull/{number}" for repo, number, _ in fixes
        ),
        advisory_url=advisory.get("html_url") or "",
        credit_lines=("\nThanks to " + ", ".join(accepted) + ".") if accepted else "",
    )
    fence = "`" * max(3, longest_backtick_run(text) + 1)  # the text cannot close it
    return (
        "Draft for security-announce (check it, then send it yourself; the bot sends no "
        f"email):\n\n{fence}text\n{text.strip()}\n{fence}"
    )


def longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def _severity_word(advisory: Mapping[str, Any]) -> str:
    """LOW, MEDIUM, HIGH or CRITICAL: from the CVSS v4 score, else GitHub's severity."""
    severities = advisory.get("cvss_severities") or {}
    for key in ("cvss_v4", "cvss_v3"):
        score = (severities.get(key) or {}).get("score")
        if score is not None:
            return cvss_severity(float(score))
    return str(advisory.get("severity") or "unknown").upper()
