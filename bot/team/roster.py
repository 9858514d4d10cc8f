"""The team roster (PEP 811): the canonical list, its published CSV, and drift.

`config/roster.toml` with `canonical = true` is the list the bot uses:
members with their published name and roles (`Admin`, `Release Manager`),
the steering-council members on the team, and emeritus members. Two other
places must agree with it, and the admins keep them in step by hand:

- the GitHub team (`team.github_team`), which gives access to advisories;
- the published list, the devguide's `security/psrt.csv` (`sources.roster`).

Everything here is pure: :func:`roster_drift` takes the three lists and says
what differs and where to fix it; :func:`export_csv` writes the published
format; :func:`import_csv` writes roster.toml from a published list once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.core.roster_notes import FormerMember, RosterNotes
from bot.core.settings import DEFAULT_WEB_URL
from bot.team.formats import RosterEntry

PUBLISHED_ROLES = ("Admin", "Release Manager")  # in the order the CSV's Notes list them


def canonical_entries(notes: RosterNotes) -> list[RosterEntry]:
    """The members of a canonical roster.toml, as the rest of the bot reads a roster."""
    return [
        RosterEntry(member.name, member.login or login, frozenset(member.roles))
        for login, member in notes.members.items()
    ]


def published_notes(roles: Iterable[str]) -> str:
    return ", ".join(role for role in PUBLISHED_ROLES if role in set(roles))


def export_csv(entries: Sequence[RosterEntry]) -> str:
    """The devguide's psrt.csv: no header; name, login, notes; one line per member."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for entry in entries:
        writer.writerow([entry.name, entry.login, published_notes(entry.roles)])
    return buffer.getvalue()


def export_emeritus_csv(former: Sequence[FormerMember]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for person in former:
        writer.writerow([person.name, person.login, person.notes])
    return buffer.getvalue()


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def import_csv(
    entries: Sequence[RosterEntry],
    former: Sequence[RosterEntry] = (),
    *,
    steering_council: Iterable[str] = (),
) -> str:
    """roster.toml text for a team whose list so far was the published CSV."""
    lines = [
        '# The team\'s canonical roster (PEP 811). Format: README.md, "Roster".',
        "# `ghsa-bot roster check` compares it with the GitHub team and the published",
        "# list; `ghsa-bot roster export csv` writes that list from it.",
        "canonical = true",
        "",
        "# Steering Council members on the team: never assigned as coordinators",
        "# (the devguide), and exempt from the inactivity report (PEP 811).",
        f"steering_council = [{', '.join(_toml_string(s) for s in steering_council)}]",
        "",
        "# Emeritus members (the devguide's psrt-emeritus.csv); a login is optional.",
        "emeritus = [",
    ]
    for person in former:
        fields = [f"name = {_toml_string(person.name)}"]
        if person.login:
            fields.append(f"login = {_toml_string(person.login)}")
        notes = published_notes(person.roles)
        if notes:
            fields.append(f"notes = {_toml_string(notes)}")
        lines.append(f"    {{ {', '.join(fields)} }},")
    lines += [
        "]",
        "",
        '# Per member: name (as published), roles = ["Admin", "Release Manager"],',
        '# on_leave_until = "YYYY-MM-DD", inactive = true.',
    ]
    for entry in entries:
        key = entry.login if entry.login.replace("-", "").isalnum() else _toml_string(entry.login)
        lines += ["", f"[members.{key}]", f"name = {_toml_string(entry.name)}"]
        roles = [role for role in PUBLISHED_ROLES if role in entry.roles]
        if roles:
            lines.append(f"roles = [{', '.join(_toml_string(r) for r in roles)}]")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Drift:
    """One difference between the canonical roster and another place."""

    login: str
    place: str  # "team" or "published list"
    problem: str
    fix: str

    def line(self) -> str:
        return f"@{self.login}: {self.problem} Fix: {self.fix}"


@dataclass(frozen=True)
class Places:
    """Where the other two lists live, for the fix instructions."""

    roster_file: str
    github_team: str | None = None
    published: str | None = None  # "OWNER/REPO:PATH" or a local file
    web_url: str = DEFAULT_WEB_URL  # GitHub's web host (GITHUB_WEB_URL)

    def team_page(self) -> str | None:
        """Where the GitHub team's members are changed, when there is a team."""
        if not self.github_team:
            return None
        org, slug = self.github_team.split("/", 1)
        return f"{self.web_url}/orgs/{org}/teams/{slug}/members"


def roster_drift(
    canonical: Sequence[RosterEntry],
    *,
    team: set[str] | None,
    published: Sequence[RosterEntry] | None,
    places: Places,
    emeritus: Sequence[FormerMember] = (),
) -> list[Drift]:
    """Every difference of the GitHub team and the published list from the roster.

    `team` and `published` are None when that place is not configured or could
    not be read (the caller says which); logins compare without regard to case.
    """
    drift: list[Drift] = []
    members = {entry.login.lower(): entry for entry in canonical}
    former = {person.login.lower() for person in emeritus if person.login}
    for login in sorted(members.keys() & former):
        drift.append(
            Drift(
                members[login].login,
                "roster",
                f"is both a member and emeritus in {places.roster_file}.",
                f"remove them from one of the two lists in {places.roster_file}.",
            )
        )
    team_page = places.team_page()
    if team is not None and team_page is not None:
        for login in sorted(members.keys() - team):
            drift.append(
                Drift(
                    members[login].login,
                    "team",
                    f"is in {places.roster_file} but not in the GitHub team {places.github_team}.",
                    f"add them at {team_page}, or remove them from {places.roster_file}.",
                )
            )
        for login in sorted(team - members.keys()):
            drift.append(
                Drift(
                    login,
                    "team",
                    f"is in the GitHub team {places.github_team} but not in {places.roster_file}.",
                    f"remove them at {team_page}, or add [members.{login}] to "
                    f"{places.roster_file} if they joined by a vote.",
                )
            )
    if published is not None and places.published:
        listed = {entry.login.lower(): entry for entry in published}
        where = places.published
        for login in sorted(members.keys() - listed.keys()):
            line = export_csv([members[login]]).strip()
            drift.append(
                Drift(
                    members[login].login,
                    "published list",
                    f"is in {places.roster_file} but not in the published list {where}.",
                    f"add the line `{line}` to {where} (`ghsa-bot roster export csv` "
                    "writes the whole file).",
                )
            )
        for login in sorted(listed.keys() - members.keys()):
            drift.append(
                Drift(
                    listed[login].login,
                    "published list",
                    f"is in the published list {where} but not in {places.roster_file}.",
                    f"remove their line from {where}, or add [members.{login}] to "
                    f"{places.roster_file}.",
                )
            )
        for login in sorted(members.keys() & listed.keys()):
            ours, theirs = members[login], listed[login]
            if ours.name != theirs.name:
                drift.append(
                    Drift(
                        ours.login,
                        "published list",
                        f"is named {ours.name!r} in {places.roster_file} but "
                        f"{theirs.name!r} in {where}.",
                        f"correct whichever is wrong ({where} or {places.roster_file}).",
                    )
                )
            ours_roles, theirs_roles = published_notes(ours.roles), published_notes(theirs.roles)
            if ours_roles != theirs_roles:
                drift.append(
                    Drift(
                        ours.login,
                        "published list",
                        f"has roles {ours_roles or 'none'!r} in {places.roster_file} but "
                        f"{theirs_roles or 'none'!r} in {where}.",
                        f"set their notes to `{ours_roles}` in {where}, or change roles in "
                        f"{places.roster_file}.",
                    )
                )
    return drift


def drift_report(drift: Sequence[Drift], places: Places) -> str:
    """Markdown for the admins: every difference, grouped by place, with its fix."""
    if not drift:
        return f"The roster ({places.roster_file}), the GitHub team and the published list agree."
    lines = [f"**{len(drift)} difference(s)** from the canonical roster ({places.roster_file}):"]
    for place in ("roster", "team", "published list"):
        found = [d for d in drift if d.place == place]
        if found:
            lines += ["", f"**{place.capitalize()}**", ""]
            lines += [f"- {d.line()}" for d in found]
    return "\n".join(lines)
