"""The publication checklist and publication for a linked group (bot/advisories/groups.py).

`/publish` on one advisory of a group runs the checklist on every member and
answers per advisory; `/status` lists every member with what it lacks. GitHub
publishes one advisory per request and a published advisory cannot go back to
draft, so a group is published member after member, only once every member
passes, and a failure part-way is said plainly (which are public, which are not).

A reply is read by everyone on the advisory it is posted on, the reporter too.
So another member is named by repository, GHSA id and state, and what it lacks
by the checklist items' names only: never its title, its text, or the logins
its credits name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.advisories.comments import post_once
from bot.advisories.fixes import FixLinks
from bot.advisories.groups import GroupMember, failure, member_name
from bot.core.config import PublishConfig
from bot.queue.followups import FollowUps
from bot.records.checklist import Check, checklist_facts, checklist_text, run_checklist
from bot.records.cve_ids import CveDesk

# What each checklist item is called when another advisory of the group lacks it.
ITEM_NAMES = {
    "cvss_v4": "a CVSS v4 vector",
    "cwe": "a CWE",
    "coordinator_credit": "the coordinator's credit",
    "merged_fix": "a merged public fix",
    "description_sections": "the description's sections",
    "cve": "a CVE ID the bot got for it",
    "credits_accepted": "accepted credits",
}


@dataclass
class MemberChecks:
    member: GroupMember
    checks: list[Check] = field(default_factory=list)
    blocker: str = ""  # why the checklist does not apply: unreadable, not a draft

    @property
    def published(self) -> bool:
        return self.member.state == "published"

    @property
    def ready(self) -> bool:
        return self.published or (not self.blocker and all(c.passed for c in self.checks))

    def lacks(self) -> str:
        """What it lacks, in words safe on another advisory of the group."""
        if self.published:
            return "published"
        if self.blocker:
            return self.blocker
        missing = [ITEM_NAMES.get(c.item, c.item) for c in self.checks if not c.passed]
        return "lacks " + ", ".join(missing) if missing else "ready"


async def group_checks(
    members: Sequence[GroupMember],
    fix_links: FixLinks,
    desk: CveDesk,
    policy: PublishConfig,
    *,
    any_coordinator_credit: bool,
    waive_credits: bool = False,
) -> list[MemberChecks]:
    """The checklist of each member (the first is the advisory the command is on)."""
    results = []
    for member in members:
        handle = member.handle
        if handle is None:
            results.append(MemberChecks(member, blocker=f"cannot be read ({member.problem})"))
            continue
        state = str(handle.advisory.get("state"))
        if state == "published":
            results.append(MemberChecks(member))
            continue
        blocker = "" if state == "draft" else f"is {state}: only a draft can be published"
        facts = await checklist_facts(
            handle, member.record, fix_links, desk, any_coordinator_credit=any_coordinator_credit
        )
        checks = run_checklist(handle.advisory, facts, policy, waive_credits=waive_credits)
        results.append(MemberChecks(member, checks, blocker))
    return results


def group_report(results: Sequence[MemberChecks]) -> str:
    """Per advisory: the full checklist for this one, item names for the others."""
    here, *others = results
    lines = [f"**This advisory** ({member_name(here.member.key)}):"]
    if here.published:
        lines.append("- published")
    else:
        if here.blocker:
            lines.append(f"- {here.blocker}")
        if here.checks:
            lines.append(checklist_text(here.checks))
    lines += ["", f"**Linked advisories** ({len(others)}):"]
    lines += [
        f"- {'[x]' if r.ready else '[ ]'} {member_name(r.member.key)}: {r.lacks()}" for r in others
    ]
    return "\n".join(lines)


async def publish_group(
    results: Sequence[MemberChecks], followups: FollowUps, *, caller: str
) -> tuple[list[str], list[str]]:
    """Publish every member not yet published, one after another (all passed).

    Each is marked first (`group-publish:` effect) so the warning for an advisory
    published alone (handlers/links.py) does not fire for these. Returns the
    names published now, and what failed (the rest are left as they are).
    """
    done: list[str] = []
    failed: list[str] = []
    published = []
    for result in results:
        handle = result.member.handle
        if result.published or handle is None:
            continue
        now = handle.clock.now()
        await handle.store.record_effect(
            f"group-publish:{handle.repository}:{handle.ghsa_id}", at=now
        )
        try:
            await handle.patch({"state": "published"})
        except Exception as error:  # the rest stay drafts: said, not hidden
            failed.append(f"{member_name(result.member.key)} ({failure(error)})")
            break
        await handle.audit("state-published", f"@{caller}: /publish of the linked group")
        done.append(member_name(result.member.key))
        published.append(result.member)
    # The publication handlers (records naming each other) run once all are public.
    for member in published:
        if member.record is not None:
            await followups.advisory_published(
                installation_id=member.record.installation_id,
                repository=member.repository,
                ghsa_id=member.ghsa_id,
            )
    return done, failed


async def publish_linked(
    members: Sequence[GroupMember],
    fix_links: FixLinks,
    desk: CveDesk,
    policy: PublishConfig,
    followups: FollowUps,
    *,
    caller: str,
    waive_credits: bool,
    any_coordinator_credit: bool,
) -> str:
    """`/publish` on a member of a linked group: the whole group's checklist, then the
    whole group published (policy allowing) or declared ready for the admins."""
    results = await group_checks(
        members,
        fix_links,
        desk,
        policy,
        any_coordinator_credit=any_coordinator_credit,
        waive_credits=waive_credits,
    )
    report = group_report(results)
    if not all(r.ready for r in results):
        return (
            f"Not ready to publish: this advisory is linked with {len(results) - 1} other(s), "
            "and the group is published together once every one passes.\n\n" + report
        )
    if all(r.published for r in results):
        return "Every advisory of the linked group is already published."
    if not policy.bot_may_publish:
        await _declare_ready(results, caller)
        return (
            f"The linked group is ready to publish together:\n\n{report}\n\nPolicy leaves "
            "publishing to people: an admin of each repository uses 'Publish advisory' on "
            "each advisory's page. GitHub cannot publish several advisories in one step, so "
            "publish them within minutes of each other; each linked advisory was told so."
        )
    done, failed = await publish_group(results, followups, caller=caller)
    if waive_credits:  # on each this call published: a refused PATCH waived nothing
        for result in results:
            if result.member.handle is not None and member_name(result.member.key) in done:
                await result.member.handle.audit("credits-waived", f"@{caller}: /publish")
    if not failed:
        return "Published the linked group: " + ", ".join(done) + ".\n\n" + report
    left = [
        member_name(r.member.key)
        for r in results
        if not r.published and member_name(r.member.key) not in done
    ]
    return (
        "Published only part of the linked group: GitHub publishes one advisory per request "
        "and cannot take a publication back. Public now: "
        + (", ".join(done) or "none")
        + ". Failed: "
        + "; ".join(failed)
        + ". Still drafts: "
        + ", ".join(left)
        + ". Publish those now (`/publish` again, or 'Publish advisory' on their pages)."
    )


async def _declare_ready(results: Sequence[MemberChecks], caller: str) -> None:
    """Tell each other member's page that the group is ready, once per group."""
    names = sorted(member_name(r.member.key) for r in results)
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]
    here = member_name(results[0].member.key)
    for result in results[1:]:
        handle = result.member.handle
        if handle is None or result.published:
            continue
        await post_once(
            handle.client,
            handle.store,
            repository=handle.repository,
            ghsa_id=handle.ghsa_id,
            name=f"group-ready:{digest}",
            body=(
                f"The linked group ({', '.join(names)}) passed the publication checklist "
                f"(`/publish` by @{caller} on {here}). Admins: publish these advisories "
                "together, within minutes of each other ('Publish advisory' on each page): "
                "publishing one alone makes the vulnerability public while the others "
                "are still private."
            ),
            now=handle.clock.now(),
        )


def group_status_lines(results: Sequence[MemberChecks]) -> list[str]:
    """`/status` lines for the other members: repository, GHSA id, state, what it lacks."""
    others = results[1:]
    if not others:
        return []
    lines = [f"**Linked advisories** ({len(others)}; they are published together):"]
    for result in others:
        lacks = result.lacks()
        shown = "" if lacks in ("published", result.member.state) else f"; {lacks}"
        lines.append(f"- {member_name(result.member.key)}: {result.member.state}{shown}")
    return lines
