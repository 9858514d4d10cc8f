"""Choosing a coordinator when a report has none (PEP 811 and the devguide).

Pure functions. Eligible: roster members who are active, not on leave, not
the reporter, and not exempt (release managers and steering-council members
are never assigned, as the devguide says). The choice is the eligible member
coordinating the fewest open advisories; ties go to the one assigned longest
ago (never counts as longest), then to the login in alphabetical order, so the
same inputs always give the same person.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.core.roster_notes import MemberNotes, RosterNotes
from bot.team.formats import RosterEntry

EXEMPT_ROLES = ("Release Manager",)


@dataclass(frozen=True)
class Choice:
    login: str
    reason: str


def with_leave(notes: RosterNotes, leaves: Mapping[str, str]) -> RosterNotes:
    """The roster notes with members' own leave (from `/leave`) on top."""
    members = dict(notes.members)
    for login, until in leaves.items():
        members[login] = replace(members.get(login, MemberNotes()), on_leave_until=until)
    return replace(notes, members=members)


def excluded_because(
    entry: RosterEntry, notes: RosterNotes, *, reporter: str | None, today: datetime.date
) -> str | None:
    login = entry.login.lower()
    member = notes.members.get(login)
    if reporter and login == reporter.lower():
        return "the reporter"
    if any(role in entry.roles for role in EXEMPT_ROLES):
        return "a release manager"
    if login in notes.steering_council:
        return "a steering-council member"
    if member is not None and member.inactive:
        return "inactive"
    until = member.on_leave_until if member is not None else None
    if until is not None and datetime.date.fromisoformat(until) >= today:
        return f"on leave until {until}"
    return None


def choose_coordinator(
    roster: Sequence[RosterEntry],
    notes: RosterNotes,
    *,
    reporter: str | None,
    today: datetime.date,
    open_load: Mapping[str, int],
    last_assigned: Mapping[str, float],
) -> Choice | None:
    eligible = [
        entry
        for entry in roster
        if excluded_because(entry, notes, reporter=reporter, today=today) is None
    ]
    if not eligible:
        return None

    def rank(entry: RosterEntry) -> tuple[int, float, str]:
        login = entry.login.lower()
        return (open_load.get(login, 0), last_assigned.get(login, 0.0), login)

    best = min(eligible, key=rank)
    load = open_load.get(best.login.lower(), 0)
    tied = [e for e in eligible if open_load.get(e.login.lower(), 0) == load]
    reason = (
        f"of {len(eligible)} eligible members, they coordinate the fewest open advisories ({load})"
    )
    if len(tied) > 1:
        reason += f"; of the {len(tied)} with that load, they were assigned longest ago"
    reason += (
        ". Release managers, steering-council members, members on leave or inactive, "
        "and the reporter are not assigned."
    )
    return Choice(best.login, reason)


def coordinator_patch(advisory: Mapping[str, Any], login: str) -> dict[str, Any]:
    """Credit `login` as coordinator and make them a collaborator, keeping everything else.

    An earlier coordinator keeps their credit (a handoff does not erase it).
    """
    credits = [
        {"login": str(c["user"]["login"]), "type": str(c["type"])}
        for c in advisory.get("credits_detailed") or []
    ]
    patch: dict[str, Any] = {}
    if not any(c["login"].lower() == login.lower() and c["type"] == "coordinator" for c in credits):
        patch["credits"] = [*credits, {"login": login, "type": "coordinator"}]
    users = [str(u["login"]) for u in advisory.get("collaborating_users") or []]
    if login.lower() not in {u.lower() for u in users}:
        patch["collaborating_users"] = [*users, login]
    return patch
