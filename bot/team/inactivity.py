"""PEP 811's yearly inactivity report.

"'Inactive' is defined here as a member who hasn't coordinated or commented on
a vulnerability report in the past year since the last report was generated."
For each member: the last advisory they coordinated (a `coordinator` credit on
an advisory active in the period) and the last advisory comment they wrote
(the advisory comments API). Release managers and steering-council members
"may remain in the PSRT regardless of inactivity": they are marked exempt.

:func:`gather_activity` reads GitHub; :func:`inactivity_report` is pure. The
report names advisories by GHSA ID and date only, never their text.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.core.roster_notes import RosterNotes
from bot.github.client import GitHubClient
from bot.team.formats import RosterEntry


@dataclass(frozen=True)
class Seen:
    ghsa_id: str
    at: str  # ISO 8601 date-time


@dataclass
class Activity:
    """The latest coordination and comment per login (lower case), within the period."""

    coordinated: dict[str, Seen] = field(default_factory=dict)
    commented: dict[str, Seen] = field(default_factory=dict)

    def note(self, kind: dict[str, Seen], login: str, seen: Seen) -> None:
        key = login.lower()
        if key not in kind or kind[key].at < seen.at:
            kind[key] = seen


def _when_coordinated(advisory: dict[str, object]) -> str:
    for name in ("published_at", "closed_at", "updated_at", "created_at"):
        value = advisory.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


async def gather_activity(client_for: Iterable[tuple[str, GitHubClient]], since: str) -> Activity:
    """Coordinator credits and comments since `since` (ISO), over (repository, client) pairs."""
    activity = Activity()
    for repository, client in client_for:
        url = f"/repos/{repository}/security-advisories?per_page=100&sort=updated"
        async for advisory in client.getiter(url):
            if str(advisory.get("updated_at") or "") < since:
                continue
            ghsa_id = str(advisory["ghsa_id"])
            for credit in advisory.get("credits_detailed") or []:
                if credit.get("type") == "coordinator" and credit.get("user"):
                    at = _when_coordinated(advisory)
                    activity.note(activity.coordinated, credit["user"]["login"], Seen(ghsa_id, at))
            comments = f"/repos/{repository}/security-advisories/{ghsa_id}/comments?per_page=100"
            async for comment in client.getiter(comments):
                created = str(comment.get("created_at") or "")
                if created >= since and comment.get("user"):
                    activity.note(
                        activity.commented, comment["user"]["login"], Seen(ghsa_id, created)
                    )
    return activity


@dataclass(frozen=True)
class MemberActivity:
    login: str
    name: str
    last_coordinated: Seen | None
    last_comment: Seen | None
    exempt_because: str | None

    @property
    def status(self) -> str:
        if self.last_coordinated or self.last_comment:
            return "active"
        return f"exempt ({self.exempt_because})" if self.exempt_because else "inactive"


def member_activity(
    roster: Sequence[RosterEntry], notes: RosterNotes, activity: Activity
) -> list[MemberActivity]:
    rows = []
    for entry in sorted(roster, key=lambda e: e.login.lower()):
        login = entry.login.lower()
        exempt = None
        if "Release Manager" in entry.roles:
            exempt = "release manager"
        elif login in notes.steering_council:
            exempt = "steering-council member"
        rows.append(
            MemberActivity(
                entry.login,
                entry.name,
                activity.coordinated.get(login),
                activity.commented.get(login),
                exempt,
            )
        )
    return rows


def inactivity_report(
    team_name: str, rows: Sequence[MemberActivity], *, since: datetime.date, until: datetime.date
) -> str:
    """Markdown for the steering council."""

    def shown(seen: Seen | None) -> str:
        return f"{seen.ghsa_id} ({seen.at[:10]})" if seen else "none"

    inactive = [row for row in rows if row.status == "inactive"]
    exempt = [row for row in rows if row.status.startswith("exempt")]
    lines = [
        f"# {team_name}: inactivity report, {since:%Y-%m-%d} to {until:%Y-%m-%d}",
        "",
        "PEP 811: a member is inactive when they have neither coordinated nor commented on a "
        "vulnerability report in the period. Release managers and steering-council members "
        "may remain regardless of inactivity.",
        "",
        f"**Inactive ({len(inactive)}):** "
        + (", ".join(f"@{row.login}" for row in inactive) or "none"),
        "",
        f"**Exempt without activity ({len(exempt)}):** "
        + (", ".join(f"@{row.login} ({row.exempt_because})" for row in exempt) or "none"),
        "",
        "| Member | Last coordinated | Last advisory comment | Status |",
        "|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} (@{row.login}) | {shown(row.last_coordinated)} | "
            f"{shown(row.last_comment)} | {row.status} |"
        )
    return "\n".join(lines) + "\n"
