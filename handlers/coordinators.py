"""Coordinator assignment: every report gets someone who drives it (PEP 811).

Fires when the deadline scanner finds an advisory that has gone
`coordinators.idle_days` (default 3, as the devguide says) without a
coordinator. If someone was credited as coordinator on GitHub meanwhile,
that is recorded and nothing else happens. Otherwise the bot chooses (see
bot/coordinators.py), credits them as `coordinator` and adds them as a
collaborator in one PATCH (keeping what is there), and says who and why in a
comment. With no eligible member, it tells the admins instead.
"""

from __future__ import annotations

import datetime
from dataclasses import replace
from typing import Any

from gidgethub import routing, sansio

from bot.comments import post_once
from bot.context import HandlerContext
from bot.coordinators import choose_coordinator, coordinator_patch, with_leave
from bot.poller import encoded_fingerprint

router = routing.Router()


@router.register("advisory", action="coordinator_due")
async def coordinator_due(event: sansio.Event, context: HandlerContext) -> None:
    """Fires when an open advisory has had no coordinator for the configured idle time."""
    client = context.github
    assert client is not None
    repository = str(event.data["repository"]["full_name"])
    ghsa_id = str(event.data["repository_advisory"]["ghsa_id"])
    store = context.advisories
    record = await store.get(repository, ghsa_id)
    if record is None or record.coordinator is not None or record.completed_at is not None:
        return
    path = f"/repos/{repository}/security-advisories/{ghsa_id}"
    advisory: dict[str, Any] = await client.getitem(path)
    now = context.clock.now()
    credits = advisory.get("credits_detailed") or []
    credited = [c["user"]["login"] for c in credits if c["type"] == "coordinator"]
    if credited:
        await store.save(replace(record, coordinator=credited[0], coordinator_since=now))
        await context.audit(
            repository, ghsa_id, "coordinator-found", f"@{credited[0]} is credited as coordinator"
        )
        return
    roster = context.team.roster() if context.team is not None else None
    loads, last = await store.coordinator_loads()
    today = datetime.datetime.fromtimestamp(now, datetime.UTC).date()
    choice = choose_coordinator(
        list(roster or []),
        with_leave(context.config.coordinators.roster, await store.leaves()),
        reporter=record.reporter,
        today=today,
        open_load=loads,
        last_assigned=last,
    )
    if choice is None:
        admins = [e.login for e in roster or [] if "Admin" in e.roles]
        mention = " ".join(f"@{a}" for a in admins) or f"@{context.config.team.github_team}"
        await post_once(
            client,
            store,
            repository=repository,
            ghsa_id=ghsa_id,
            name="coordinator-none",
            body=f"{mention}: this report needs a coordinator and no member is eligible "
            "(everyone is exempt, on leave, inactive or the reporter). Please pick one.",
            now=now,
        )
        await context.audit(repository, ghsa_id, "coordinator-none", "no eligible member")
        return
    updated = await client.patch(path, data=coordinator_patch(advisory, choice.login))
    await store.set_fingerprint(repository, ghsa_id, updated, encoded_fingerprint(updated))
    await store.save(replace(record, coordinator=choice.login, coordinator_since=now))
    idle = context.config.coordinators.idle_days
    await post_once(
        client,
        store,
        repository=repository,
        ghsa_id=ghsa_id,
        name="coordinator",
        body=(
            f"@{choice.login} is now the coordinator for this report, assigned automatically "
            f"after {idle:g} days without one: {choice.reason} They are credited as "
            "coordinator. If you can't take it, hand it over to another member."
        ),
        now=now,
    )
    await context.audit(
        repository, ghsa_id, "coordinator-assigned", f"@{choice.login}: {choice.reason}"
    )
