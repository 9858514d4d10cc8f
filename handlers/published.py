"""When an advisory is published: record it, keep its final credits, thank the reporter.

Fires on the `repository_advisory.published` webhook, and on the poller seeing
an advisory's state become `published` (whichever comes first; the second
does nothing). The record is completed, so its timers stop; the credits as
GitHub has them then (with acceptance) are kept for the public records; the
reporter gets one thank-you comment that says whether their credit is accepted.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from gidgethub import routing, sansio

from bot.comments import post_once
from bot.context import HandlerContext

router = routing.Router()

THANKS = "published-thanks"


def final_credits(advisory: dict[str, Any]) -> str:
    return json.dumps(
        [
            {"login": c["user"]["login"], "type": c["type"], "state": c.get("state", "pending")}
            for c in advisory.get("credits_detailed") or []
        ]
    )


def thanks(advisory: dict[str, Any], reporter: str) -> str:
    credit = next(
        (c for c in advisory.get("credits_detailed") or [] if c["user"]["login"] == reporter),
        None,
    )
    if credit is None:
        credited = "You are not listed in the credits; tell us if you would like to be."
    elif credit.get("state") == "accepted":
        credited = f"You are credited as {credit['type'].replace('_', ' ')}."
    else:
        credited = (
            f"You are credited as {credit['type'].replace('_', ' ')}, but the credit is still "
            f"{credit.get('state', 'pending')}: accept it on the advisory page to be shown."
        )
    return (
        f"@{reporter}, this advisory is now public: {advisory['html_url']}. "
        f"Thank you for reporting it and for your patience. {credited}"
    )


async def record_publication(event: sansio.Event, context: HandlerContext) -> None:
    client = context.github
    assert client is not None
    repository = str(event.data["repository"]["full_name"])
    ghsa_id = str(event.data["repository_advisory"]["ghsa_id"])
    advisory: dict[str, Any] = await client.getitem(
        f"/repos/{repository}/security-advisories/{ghsa_id}"
    )
    if advisory["state"] != "published":
        return
    store = context.advisories
    record = await store.get(repository, ghsa_id)
    if record is None or record.final_credits is not None:
        return  # unknown to the bot, or already recorded
    now = context.clock.now()
    record = replace(
        record,
        state="published",
        completed_at=record.completed_at or now,
        final_credits=final_credits(advisory),
        last_activity_at=now,
    )
    await store.save(record)
    await context.audit(
        repository, ghsa_id, "published", "published; timers stopped, final credits kept"
    )
    if record.reporter:
        posted = await post_once(
            client,
            store,
            repository=repository,
            ghsa_id=ghsa_id,
            name=THANKS,
            body=thanks(advisory, record.reporter),
            now=now,
        )
        if posted:
            await context.audit(
                repository, ghsa_id, "thanked-reporter", f"thanked @{record.reporter}"
            )


@router.register("repository_advisory", action="published")
async def published_webhook(event: sansio.Event, context: HandlerContext) -> None:
    """Fires when GitHub announces the advisory's publication (webhook)."""
    await record_publication(event, context)


@router.register("advisory", action="updated")
async def published_seen(event: sansio.Event, context: HandlerContext) -> None:
    """Fires on a change the poller saw; acts when the state became `published`."""
    changes = event.data.get("changes") or []
    if "state" in changes and event.data["repository_advisory"].get("state") == "published":
        await record_publication(event, context)
