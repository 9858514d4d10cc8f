"""The PSRT's title tags, so the team can switch to the bot without retraining.

Members put a tag in the advisory's title, anywhere and in any case:

| tag | asks for |
|---|---|
| `[ACCEPTED]` | `triage` → `draft` (`/accept`) |
| `[CLOSED]`, `[INVALID]`, `[DUPLICATE]` | closing it (`/reject`, `/duplicate`) |
| `[COMPLETED]` | the bot's record completed, its timers stopped (`/complete`) |

GitHub never says who edited a title, and the reporter of a private report is
a collaborator who may edit it. So a tag never changes state, reserves a CVE
ID or stops anything by itself: with `title_tags.mode = "suggest"` (the
default) the bot answers once per tag with the command a team member runs to
confirm it, and `"off"` ignores tags (the unsafe option too). Only
`unsafe.collaborators_change_state_with_title_tags` brings back tags that act
(the closing tag wins over `[ACCEPTED]`: closing is the safer mistake; an
acting `[ACCEPTED]` tags the maintainers once, as `/accept` does).

Fires when the poller sees an advisory's title (summary) change.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Protocol

from gidgethub import routing, sansio

from bot.advisories.comments import post_once
from bot.advisories.expert_tags import accepted
from bot.advisories.handle import AdvisoryHandle
from bot.context import CveDoors, HasAdvisoryHandles, HasFollowUps, cve_desk
from bot.records.cve_ids import reserve_on_accept

router = routing.Router()


class Doors(HasAdvisoryHandles, HasFollowUps, CveDoors, Protocol):
    """What the title-tag handler uses."""


TAG = re.compile(r"\[(ACCEPTED|CLOSED|INVALID|DUPLICATE|COMPLETED)\]", re.IGNORECASE)
CLOSING = {"CLOSED", "INVALID", "DUPLICATE"}
CONFIRM_WITH = {
    "ACCEPTED": "`/accept`",
    "CLOSED": "`/reject [not-a-vulnerability|bug|out-of-scope]`",
    "INVALID": "`/reject not-a-vulnerability`",
    "DUPLICATE": "`/duplicate GHSA-…`",
    "COMPLETED": "`/complete`",
}


def tags_in(summary: str) -> set[str]:
    return {match.upper() for match in TAG.findall(summary)}


def state_for(tags: set[str], current: str) -> str | None:
    """The state the tags ask for from `current`, or None when nothing is to change."""
    if tags & CLOSING and current in ("triage", "draft"):
        return "closed"
    if "ACCEPTED" in tags and not tags & CLOSING and current == "triage":
        return "draft"
    return None


@router.register("advisory", action="updated")
async def title_changed(event: sansio.Event, context: Doors) -> None:
    """Fires on a change the poller saw; acts only when the title (summary) changed.

    Suggests the confirming command for each new tag (once per tag and advisory),
    or, with the unsafe option, applies what the tags ask for.
    """
    if "summary" not in (event.data.get("changes") or []):
        return
    if context.config.title_tags == "off":  # even with the unsafe option: off is off
        return
    found = await context.fetch_advisory(event)
    tags = tags_in(str(found.advisory.get("summary") or ""))
    if not tags:
        return
    if _tags_act(context):
        await _act_on_tags(context, found, tags)
        return
    record = await context.advisories.get(found.repository, found.ghsa_id)
    if record is not None and record.completed_at is not None:
        tags.discard("COMPLETED")
    wanted = [tag for tag in sorted(tags) if _still_wanted(tag, found.advisory["state"])]
    for tag in wanted:
        posted = await post_once(
            found.client,
            context.advisories,
            repository=found.repository,
            ghsa_id=found.ghsa_id,
            name=f"title-tag:{tag.lower()}",
            body=f"The title now carries `[{tag}]`. GitHub does not say who edits a title "
            "(every collaborator on this advisory may), so the bot does not act on tags by "
            f"itself: a team member confirms with {CONFIRM_WITH[tag]}.",
            now=context.clock.now(),
        )
        if posted:
            await context.audit(
                found.repository, found.ghsa_id, "title-tag-seen", f"[{tag}]: asked to confirm"
            )


def _tags_act(context: Doors) -> bool:
    return context.config.unsafe.collaborators_change_state_with_title_tags


def _still_wanted(tag: str, state: str) -> bool:
    if tag == "ACCEPTED":
        return state == "triage"
    if tag in CLOSING:
        return state in ("triage", "draft")
    return True


async def _act_on_tags(context: Doors, found: AdvisoryHandle, tags: set[str]) -> None:
    """The old behaviour (unsafe): the tags change state and stop timers themselves."""
    client, repository, ghsa_id, advisory = found.as_tuple()
    now = context.clock.now()
    store = context.advisories
    target = state_for(tags, advisory["state"])
    if target is not None:
        advisory = await found.patch({"state": target})
        named = sorted(tags & (CLOSING | {"ACCEPTED"}))
        await context.audit(
            repository,
            ghsa_id,
            f"state-{target}",
            f"title tag {', '.join(f'[{t}]' for t in named)} (unsafe option)",
        )
    record = await store.get(repository, ghsa_id)
    if target == "draft":
        cve_step = await reserve_on_accept(found, cve_desk(context))
        if cve_step:
            await post_once(
                client,
                store,
                repository=repository,
                ghsa_id=ghsa_id,
                name="cve-on-accept",
                body=f"Accepted (title tag), so by policy: {cve_step}",
                now=now,
            )
        if record is not None:  # its maintainers are tagged once (`[experts] tag`)
            installation_id = record.installation_id
            await accepted(
                context.followups, found, installation_id=installation_id, by="title tag"
            )
    if record is None:
        return
    completed = record.completed_at
    if "COMPLETED" in tags and completed is None:
        completed = now
        await context.audit(repository, ghsa_id, "completed", "title tag [COMPLETED]")
    await store.save(
        replace(record, state=advisory["state"], completed_at=completed, last_activity_at=now)
    )
