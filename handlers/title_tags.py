"""The PSRT's title tags, so the team can switch to the bot without retraining.

Only repository admins can accept or close an advisory in GitHub's UI;
members put a tag in the advisory's title instead, anywhere and in any case:

| tag | effect |
|---|---|
| `[ACCEPTED]` | `triage` → `draft` (accepted as a vulnerability) |
| `[CLOSED]`, `[INVALID]`, `[DUPLICATE]` | `triage` or `draft` → `closed` |
| `[COMPLETED]` | the bot's record is completed: its timers stop; GitHub's state is unchanged |

Fires when the poller sees an advisory's title change. A tag whose change is
already made, or that GitHub would refuse (a published advisory cannot go back
to draft), does nothing. When `[ACCEPTED]` and a closing tag both appear, the
closing tag wins: closing is the safer mistake with embargoed reports.
"""

from __future__ import annotations

import re
from dataclasses import replace

from gidgethub import routing, sansio

from bot.comments import post_once
from bot.context import HandlerContext
from bot.poller import encoded_fingerprint
from handlers.cve import after_accept

router = routing.Router()

TAG = re.compile(r"\[(ACCEPTED|CLOSED|INVALID|DUPLICATE|COMPLETED)\]", re.IGNORECASE)
CLOSING = {"CLOSED", "INVALID", "DUPLICATE"}


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
async def title_changed(event: sansio.Event, context: HandlerContext) -> None:
    """Fires on a change the poller saw; acts only when the title (summary) changed.

    Applies the state change the tags ask for, and marks `[COMPLETED]`
    advisories completed in the bot's record. Each change is audited with the tag.
    """
    if "summary" not in (event.data.get("changes") or []):
        return
    found = await context.fetch_advisory(event)
    client, repository, ghsa_id, path = found.client, found.repository, found.ghsa_id, found.path
    advisory = found.advisory
    tags = tags_in(str(advisory.get("summary") or ""))
    if not tags:
        return
    now = context.clock.now()
    store = context.advisories
    target = state_for(tags, advisory["state"])
    if target is not None:
        advisory = await client.patch(path, data={"state": target})
        await store.set_fingerprint(repository, ghsa_id, advisory, encoded_fingerprint(advisory))
        named = sorted(tags & (CLOSING | {"ACCEPTED"}))
        await context.audit(
            repository,
            ghsa_id,
            f"state-{target}",
            f"title tag {', '.join(f'[{t}]' for t in named)}",
        )
    record = await store.get(repository, ghsa_id)
    if target == "draft":
        cve_step = await after_accept(context, client, repository, ghsa_id, advisory, record)
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
    if record is None:
        return
    completed = record.completed_at
    if "COMPLETED" in tags and completed is None:
        completed = now
        await context.audit(repository, ghsa_id, "completed", "title tag [COMPLETED]")
    await store.save(
        replace(record, state=advisory["state"], completed_at=completed, last_activity_at=now)
    )
