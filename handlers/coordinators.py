"""Coordinator assignment: every report gets someone who drives it (PEP 811).

Fires when the deadline scanner finds an advisory that has gone
`coordinators.idle_days` (default 3, as the devguide says) without a
coordinator. If a team member (roster or GitHub team) was credited as
coordinator on GitHub meanwhile, that is recorded and nothing else happens: a
coordinator is only ever a member. A coordinator credit for anyone else (any
collaborator, the reporter too, can edit credits, and GitHub does not say who
did) is ignored and reported once, unless
`unsafe.collaborators_name_the_coordinator_with_credits`. Otherwise the bot
chooses (see bot/advisories/coordinators.py) and reserves the choice in the store
under a lock, so reports due together (one scan, several replicas) are spread
as if they had come one after another (a failed PATCH releases it); then it
credits them as `coordinator` and adds them as a collaborator in one PATCH
(keeping what is there), and says who in a comment. The comment is read by the
reporter, so it says nothing of the team's size, loads or leave: the reasoning
goes to the audit log. With no eligible member, it asks the admins to pick one.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Protocol

from gidgethub import routing, sansio

from bot.advisories.comments import post_once
from bot.advisories.coordinators import choose_coordinator, coordinator_patch, with_leave
from bot.advisories.shared_counts import Reserved
from bot.context import HasAdvisoryStore, HasClock, HasConfig, HasGitHub, HasMemberLeave, HasTeam
from bot.github.client import GitHubClient
from bot.team.mentions import team_mention

router = routing.Router()


class Doors(HasGitHub, HasAdvisoryStore, HasClock, HasConfig, HasMemberLeave, HasTeam, Protocol):
    """What coordinator assignment uses."""


@router.register("advisory", action="coordinator_due")
async def coordinator_due(event: sansio.Event, context: Doors) -> None:
    """Fires when an open advisory has had no coordinator for the configured idle time."""
    client = context.github
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
    credited = [str(c["user"]["login"]) for c in credits if c["type"] == "coordinator"]
    ignored = []
    for login in credited:
        trusted = context.config.unsafe.collaborators_name_the_coordinator_with_credits
        if trusted or (await context.team.is_member(client, login, now=now)):
            await store.set_coordinator(repository, ghsa_id, login, now=now)
            await context.audit(
                repository, ghsa_id, "coordinator-found", f"@{login} is credited as coordinator"
            )
            return
        ignored.append(login)
    if ignored:
        await _ignored_credits(context, client, repository, ghsa_id, ignored)
    roster = context.team.roster()
    today = datetime.datetime.fromtimestamp(now, datetime.UTC).date()
    notes = with_leave(context.config.coordinators.roster, await context.member_leave.leaves())

    def choose(loads: Mapping[str, int], last: Mapping[str, float]) -> Reserved | None:
        choice = choose_coordinator(
            list(roster or []),
            notes,
            reporter=record.reporter,
            today=today,
            open_load=loads,
            last_assigned=last,
        )
        return Reserved(choice.login, choice.reason) if choice is not None else None

    # Held in the store before GitHub is asked, so a choice made meanwhile (another
    # advisory due in the same scan, here or on another replica) counts this one.
    choice = await store.reserve_coordinator(repository, ghsa_id, choose, now=now)
    if choice is None:
        admins = [e.login for e in roster or [] if "Admin" in e.roles]
        mention = " ".join(f"@{a}" for a in admins) or team_mention(context.config.team)
        await post_once(
            client,
            store,
            repository=repository,
            ghsa_id=ghsa_id,
            name="coordinator-none",
            body=f"{mention}: this report needs a coordinator. Please pick one "
            "(`/assign @member`).",
            now=now,
        )
        await context.audit(
            repository,
            ghsa_id,
            "coordinator-none",
            "no eligible member (exempt, on leave, inactive or the reporter)",
        )
        return
    try:
        updated = await client.patch(path, data=coordinator_patch(advisory, choice.login))
    except Exception:
        # Not credited (or not known to be): the next choice must not count it. A retry
        # reads the advisory again and records a credit GitHub did make.
        await store.release_coordinator(repository, ghsa_id)
        raise
    await store.set_fingerprint(repository, ghsa_id, updated)
    await store.set_coordinator(repository, ghsa_id, choice.login, now=now)
    idle = context.config.coordinators.idle_days
    await post_once(
        client,
        store,
        repository=repository,
        ghsa_id=ghsa_id,
        name="coordinator",
        body=(
            f"@{choice.login} is now the coordinator for this report, assigned automatically "
            f"after {idle:g} days without one. They are credited as coordinator. If you "
            "can't take it, hand it over to another member (`/handoff @member`)."
        ),
        now=now,
    )
    await context.audit(
        repository, ghsa_id, "coordinator-assigned", f"@{choice.login}: {choice.reason}"
    )


async def _ignored_credits(
    context: Doors,
    client: GitHubClient,
    repository: str,
    ghsa_id: str,
    logins: list[str],
) -> None:
    """Say once per advisory that coordinator credits for people outside the team change
    nothing (one comment however many such credits there are)."""
    shown = ", ".join(f"@{login}" for login in logins[:5])
    more = f" and {len(logins) - 5} more" if len(logins) > 5 else ""
    posted = await post_once(
        client,
        context.advisories,
        repository=repository,
        ghsa_id=ghsa_id,
        name="coordinator-credit-ignored",
        body=f"{shown}{more}: credited as coordinator here but not on the "
        f"{context.config.team.name}, so the bot does not treat them as the coordinator "
        "(anyone who collaborates on the advisory can edit its credits). A team member "
        "coordinates with `/coordinate` or `/assign @member`.",
        now=context.clock.now(),
    )
    if posted:
        await context.audit(
            repository,
            ghsa_id,
            "coordinator-credit-ignored",
            ", ".join(f"@{login}" for login in logins) + ": not members",
        )
