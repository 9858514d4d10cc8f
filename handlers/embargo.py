"""A linked group's disclosure: /embargo, its reminders, and an advisory published alone.

- `/embargo YYYY-MM-DD` (or `none`) sets the planned disclosure date on every
  advisory of the group (bot/advisories/links.py); `/status` shows it. The
  deadline scanner (bot/advisories/deadlines.py) raises
  `advisory.disclosure_reminder` 7 days and 1 day before it and on the day; each
  is claimed once per advisory and tier.
- When one advisory of a group becomes public without the group's `/publish`
  (an admin's 'Publish advisory', the webhook or the poller says so), every
  other advisory of the group still private is warned at once: the
  vulnerability is public now.

GitHub has no shared embargo and no way to publish several advisories at once;
these reminders and warnings are how the bot stands in for them.
"""

from __future__ import annotations

import datetime
import re
from typing import Protocol

from gidgethub import routing, sansio

from bot.advisories.comments import post_once
from bot.advisories.groups import (
    DISCLOSURE_REMINDER_DAYS,
    GroupReader,
    group_received_at,
    member_name,
)
from bot.advisories.links import LinkStore, Member
from bot.advisories.public import is_publication
from bot.commands.registry import TEAM, CommandError, Registry
from bot.context import (
    CommandCall,
    HasAdvisoryStore,
    HasApp,
    HasClock,
    HasConfig,
    HasGitHub,
    HasInstallations,
)
from bot.team.mentions import team_mention

router = routing.Router()
COMMANDS = Registry()


class Doors(HasApp, HasInstallations, HasAdvisoryStore, HasClock, HasConfig, HasGitHub, Protocol):
    """What /embargo and the group's disclosure handlers use."""


def _reader(doors: Doors, delivery: str | None) -> GroupReader:
    return GroupReader(
        doors.app, doors.installations, doors.advisories, doors.clock, delivery=delivery
    )


async def _group_deadline(doors: Doors, member: Member) -> str:
    record = await doors.advisories.get(*member)
    if record is None:
        return "not known yet"
    start = await group_received_at(doors.advisories, record)
    days = doors.config.policy.response_days
    return f"{datetime.datetime.fromtimestamp(start + days * 86400, datetime.UTC):%Y-%m-%d}"


# -- /embargo ----------------------------------------------------------------------------


@COMMANDS.command(
    "embargo",
    usage="/embargo YYYY-MM-DD|none",
    roles=TEAM,
    description="Sets the planned disclosure date of this advisory and every advisory linked "
    "with it (reminders before it; `/status` shows it); `none` clears it.",
    examples=("/embargo 2026-12-15",),
)
async def embargo(call: CommandCall[Doors]) -> str:
    if len(call.arguments) != 1:
        raise CommandError("give one date", show_usage=True)
    doors = call.context
    here: Member = (call.repository, call.ghsa_id)
    day = _planned_day(call.arguments[0].lower(), doors.clock.now())
    group = await doors.advisories.linked_group(*here)
    before = await doors.advisories.planned_disclosure(*here)
    shown = day.isoformat() if day else "none"
    if day == before:
        return f"The planned disclosure date is already {shown}; nothing changed."
    # Told first, written last: a retry after a crash tells no one twice (the marker
    # names the change and the delivery of the command) and finds the date
    # unchanged until every comment is out. A later command making the same change
    # (set, cleared, set again) is a new delivery: it is told again.
    key = f"embargo:{shown}:from:{before.isoformat() if before else 'none'}"
    if call.handle.delivery:
        key += f":{call.handle.delivery}"
    reader = _reader(doors, call.handle.delivery)
    told = []
    for member in group:
        if member == here:
            continue
        other = await reader.read(*member)
        if other.handle is None:
            told.append(f"{member_name(member)} (not told: {other.problem})")
            continue
        if await post_once(
            other.handle.client,
            doors.advisories,
            repository=other.repository,
            ghsa_id=other.ghsa_id,
            name=key,
            body=f"Planned disclosure of this advisory and its linked group: **{shown}** "
            f"(set by @{call.caller} on {member_name(here)}).",
            now=doors.clock.now(),
        ):
            await other.handle.audit("planned-disclosure", f"@{call.caller} /embargo {shown}")
        told.append(member_name(member))
    await call.handle.audit("planned-disclosure", f"@{call.caller} /embargo {shown}")
    links = LinkStore(doors.advisories.database)
    if day is None:
        await links.clear_planned_disclosure(group)
    else:
        await links.set_planned_disclosure(group, day, by=call.caller, at=doors.clock.now())
    also = f" Also set on: {', '.join(told)}." if told else ""
    if day is None:
        return f"Planned disclosure date cleared.{also}"
    deadline = await _group_deadline(doors, here)
    late = (
        f" It is after the group's {doors.config.policy.response_days}-day deadline ({deadline})."
        if deadline[:1].isdigit() and shown > deadline
        else ""
    )
    return (
        f"Planned disclosure date set to {shown}; reminders go out "
        f"{', '.join(str(d) for d in DISCLOSURE_REMINDER_DAYS if d)} days before and on the day."
        f"{late}{also}"
    )


def _planned_day(word: str, now: float) -> datetime.date | None:
    """`none`, or a date from today (UTC) on."""
    if word == "none":
        return None
    try:
        day = (
            datetime.date.fromisoformat(word) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", word) else None
        )
    except ValueError:
        day = None
    if day is None:
        raise CommandError("give the date as YYYY-MM-DD, or `none`", show_usage=True)
    if day < datetime.datetime.fromtimestamp(now, datetime.UTC).date():
        raise CommandError(f"{day} has passed")
    return day


@router.register("advisory", action="disclosure_reminder")
async def disclosure_reminder(event: sansio.Event, context: Doors) -> None:
    """Fires 7 days and 1 day before a group's planned disclosure date, and on it.

    Claimed once per advisory and tier (a conditional write), then posted once
    (a marker per date and tier); a date changed since the scan reminds nothing.
    """
    repository = str(event.data["repository"]["full_name"])
    ghsa_id = str(event.data["repository_advisory"]["ghsa_id"])
    days, date = int(event.data["tier"]), str(event.data["date"])
    store = context.advisories
    record = await store.get(repository, ghsa_id)
    if record is None or record.completed_at is not None:
        return
    planned = await store.planned_disclosure(repository, ghsa_id)
    if planned is None or planned.isoformat() != date:
        return
    if not await LinkStore(store.database).claim_disclosure_reminder((repository, ghsa_id), days):
        return
    others = len(await store.linked_group(repository, ghsa_id)) - 1
    who = f"@{record.coordinator}" if record.coordinator else team_mention(context.config.team)
    group = f" and its {others} linked advisories" if others else ""
    when = "is today" if days == 0 else f"is in {days} day{'s' if days > 1 else ''}"
    body = (
        f"{who}: the planned disclosure of this advisory{group} {when} ({date}). `/status` "
        "shows what each still lacks; `/publish` checks and publishes them together. "
        "`/embargo YYYY-MM-DD` moves the date."
    )
    posted = await post_once(
        context.github,
        store,
        repository=repository,
        ghsa_id=ghsa_id,
        name=f"disclosure-reminder:{date}:{days}d",
        body=body,
        now=context.clock.now(),
    )
    if posted:
        await context.audit(repository, ghsa_id, f"disclosure-reminder-{days}d", f"reminded {who}")


@router.register("repository_advisory", action="published")
@router.register("advisory", action="updated")
async def published_alone(event: sansio.Event, context: Doors) -> None:
    """Fires on publication; when one advisory of a group went public without the group's
    `/publish`, warns every other advisory of the group still private, at once."""
    if not is_publication(event.event, event.data):
        return
    repository = str(event.data["repository"]["full_name"])
    ghsa_id = str(event.data["repository_advisory"]["ghsa_id"])
    store = context.advisories
    group = await store.linked_group(repository, ghsa_id)
    if len(group) < 2 or await store.effect_done(f"group-publish:{repository}:{ghsa_id}"):
        return  # not linked, or published by the group's /publish (which reports itself)
    reader = _reader(context, None)
    published = member_name((repository, ghsa_id))
    for member in group:
        if member == (repository, ghsa_id):
            continue
        other = await reader.read(*member)
        if other.handle is None or other.state in ("published", "closed", "withdrawn"):
            continue
        record = other.record
        who = f"@{record.coordinator}: " if record is not None and record.coordinator else ""
        posted = await post_once(
            other.handle.client,
            store,
            repository=other.repository,
            ghsa_id=other.ghsa_id,
            name=f"published-alone:{repository}:{ghsa_id}",
            body=(
                f"{who}**Warning:** {published}, linked with this advisory, was published on "
                "its own (not through the group's `/publish`), so the vulnerability is public "
                f"now while this advisory is still {other.state}. Publish this one as soon as "
                "it can be (`/publish` checks the group), or `/unlink "
                f"{ghsa_id}` if it is not the same vulnerability."
            ),
            now=context.clock.now(),
        )
        if posted:
            await other.handle.audit("group-published-alone", f"warned: {published} is public")
