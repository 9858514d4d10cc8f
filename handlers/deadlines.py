"""Deadlines: reminders before the 90-day mark, and escalation of unanswered reports.

Both fire on events from the deadline scanner (bot/advisories/deadlines.py), which
decides when each is due; these handlers decide what to say and to whom.
Each comment is posted once (a marker per tier), and the advisory's record
and audit log say what was sent.
"""

from __future__ import annotations

import datetime
from dataclasses import replace
from typing import Protocol

from gidgethub import routing, sansio

from bot.advisories.comments import comments_url, post_once
from bot.advisories.deadlines import DAY
from bot.advisories.groups import group_received_at
from bot.context import HasAdvisoryStore, HasClock, HasConfig, HasGitHub, HasTeam
from bot.team.formats import RosterEntry
from bot.team.mentions import team_mention

router = routing.Router()


class Doors(HasGitHub, HasAdvisoryStore, HasClock, HasConfig, HasTeam, Protocol):
    """What the deadline handlers use."""


def _roster(context: Doors) -> list[RosterEntry]:
    roster = context.team.roster()
    return list(roster or [])


@router.register("advisory", action="deadline_reminder")
async def deadline_reminder(event: sansio.Event, context: Doors) -> None:
    """Fires when a reminder tier is due (14 and 7 days before the deadline, and on it).

    Mentions the coordinator, or the team when there is none. It first claims
    the reminder in the store (its tier and now): refused when a reminder went out
    within `min_hours_between_reminders` or a tier as urgent was sent, so a
    backlog of reminders for one advisory sends one, and a later scan the next.
    """
    client = context.github
    repository = str(event.data["repository"]["full_name"])
    ghsa_id = str(event.data["repository_advisory"]["ghsa_id"])
    tier = int(event.data["tier"])
    record = await context.advisories.get(repository, ghsa_id)
    if record is None or record.completed_at is not None:
        return
    days = context.config.policy.response_days
    start = await group_received_at(context.advisories, record)  # a linked group's earliest
    deadline = datetime.datetime.fromtimestamp(start + days * DAY, datetime.UTC)
    who = f"@{record.coordinator}" if record.coordinator else team_mention(context.config.team)
    if tier == 0:
        text = (
            f"{who}: the {days}-day deadline for this report passed on "
            f"{deadline:%Y-%m-%d}. Please bring it to a finished state (rejected, or published "
            "with a fix), or hand the coordination to someone who can."
        )
    else:
        urgency = "Urgent: " if tier <= 7 else ""
        text = (
            f"{urgency}{who}: {tier} days left until the {days}-day deadline for this report "
            f"({deadline:%Y-%m-%d})."
        )
    now = context.clock.now()
    spacing = context.config.deadlines.min_hours_between_reminders * 3600
    if not await context.advisories.claim_reminder(
        repository, ghsa_id, tier, now=now, spacing_seconds=spacing
    ):
        # Another reminder went out since the scanner decided (a backlog, or a burst
        # of scans): this one waits for a later scan, as it would have one at a time.
        await context.audit(
            repository, ghsa_id, f"reminder-{tier}d", "held back: a reminder was sent recently"
        )
        return
    posted = await post_once(
        client,
        context.advisories,
        repository=repository,
        ghsa_id=ghsa_id,
        name=f"reminder-{tier}d",
        body=text,
        now=now,
    )
    await context.audit(
        repository,
        ghsa_id,
        f"reminder-{tier}d",
        f"reminded {who}" if posted else "reminder already posted",
    )


@router.register("advisory", action="unacknowledged")
async def unacknowledged(event: sansio.Event, context: Doors) -> None:
    """Fires when a report has waited the configured time (2 days) without a team comment.

    Reads the advisory's comments: if a team member has commented, records
    that and does nothing more; otherwise tells the admins, once.
    """
    client = context.github
    repository = str(event.data["repository"]["full_name"])
    ghsa_id = str(event.data["repository_advisory"]["ghsa_id"])
    record = await context.advisories.get(repository, ghsa_id)
    if record is None or record.human_acknowledged_at is not None:
        return
    roster = _roster(context)
    members = {entry.login.lower() for entry in roster}
    admins = [entry.login for entry in roster if "Admin" in entry.roles]
    now = context.clock.now()
    async for comment in client.getiter(comments_url(repository, ghsa_id)):
        login = str((comment.get("user") or {}).get("login", "")).lower()
        if login in members:
            stamp = datetime.datetime.fromisoformat(
                str(comment["created_at"]).replace("Z", "+00:00")
            ).timestamp()
            await context.advisories.save(replace(record, human_acknowledged_at=stamp))
            await context.audit(repository, ghsa_id, "acknowledged-by-team", f"@{login} commented")
            return
    hours = int(event.data["tier"])
    mention = " ".join(f"@{admin}" for admin in admins) or team_mention(context.config.team)
    posted = await post_once(
        client,
        context.advisories,
        repository=repository,
        ghsa_id=ghsa_id,
        name="escalation-unacknowledged",
        body=(
            f"{mention}: no one from the team has responded to this report in {hours} hours. "
            "Please acknowledge it or assign a coordinator."
        ),
        now=now,
    )
    await context.audit(
        repository,
        ghsa_id,
        "escalated",
        f"no team comment after {hours} hours; told {mention}" if posted else "already told",
    )
