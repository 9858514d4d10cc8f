"""A linked group as handlers act on it: its members read from GitHub, its clocks, its access.

The links themselves are stored by bot/advisories/links.py. Here:

- :class:`GroupReader` reads every member of a group through the installation
  that reaches its repository (the App's installations, bot/github/installations.py);
  a member the App no longer reaches is reported, never skipped silently;
- the group's 90-day clock starts at its earliest report (`group_received_at`);
- who gets access to a member: the team where the member's repository is in the
  team's organization, and otherwise the team's working members on this advisory
  (its coordinator and the member who asked) as collaborating users. GitHub
  resolves `collaborating_teams` in the advisory's own organization, so a team
  of one organization cannot collaborate on another organization's advisory.
  Nobody gets access because a credit names them: every collaborator, the
  reporter too, can edit credits.

What other advisories of the group say is never copied into a comment: their
titles and descriptions stay on their own pages. A member is named by its
repository and GHSA id, its state, and the names of the checklist items it lacks.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gidgethub import HTTPException

from bot.advisories.handle import AdvisoryHandle
from bot.advisories.links import LinkStore, Member
from bot.advisories.public import PublishedAdvisory
from bot.advisories.store import AdvisoryRecord, AdvisoryStore
from bot.core.clock import Clock
from bot.github.client import GitHubApp, GitHubClient
from bot.github.installations import Installations

GHSA_ID = re.compile(r"GHSA(-[23456789cfghjmpqrvwx]{4}){3}")
OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"
REPOSITORY = re.compile(rf"{OWNER}/(?!\.\.?$)[A-Za-z0-9._-]{{1,100}}")
# At most this many repositories are asked for an advisory the store does not know.
MAX_SEARCH = 100
SUMMARY_LIMIT, DESCRIPTION_LIMIT = 1024, 65_535
# The bot's hidden markers: never copied from one advisory's description to another's.
BOT_MARKER = re.compile(r"<!--\s*ghsa-bot:[^>]*-->")


def member_name(member: Member) -> str:
    return f"{member[0]} {member[1]}"


def failure(error: BaseException) -> str:
    """Why GitHub refused, in words safe on any advisory (never GitHub's text)."""
    if isinstance(error, HTTPException):
        status = int(error.status_code)
        if status == 404:
            return "GitHub answered 404: the App cannot see it (not installed there, or removed)"
        return f"GitHub answered {status}"
    return type(error).__name__


@dataclass
class GroupMember:
    """One advisory of a group as read now; `handle` None when it could not be read."""

    repository: str
    ghsa_id: str
    handle: AdvisoryHandle | None
    record: AdvisoryRecord | None
    problem: str = ""

    @property
    def key(self) -> Member:
        return (self.repository, self.ghsa_id)

    @property
    def state(self) -> str:
        return str(self.handle.advisory.get("state")) if self.handle else "unknown"


class GroupReader:
    """Reads advisories of any repository the App is installed on."""

    def __init__(
        self,
        app: GitHubApp,
        installations: Installations,
        store: AdvisoryStore,
        clock: Clock,
        *,
        delivery: str | None,
    ) -> None:
        self.app = app
        self.installations = installations
        self.store = store
        self.links = LinkStore(store.database)
        self.clock = clock
        self.delivery = delivery

    async def installation_of(self, repository: str) -> int | None:
        """The installation that reaches `repository`, None when the App is not there."""
        for repo in await self.installations.repositories():
            if repo.full_name.lower() == repository.lower():
                return repo.installation_id
        return None

    async def client_for(self, repository: str) -> GitHubClient | None:
        installation = await self.installation_of(repository)
        return self.app.installation(installation) if installation is not None else None

    async def read(self, repository: str, ghsa_id: str) -> GroupMember:
        record = await self.store.get(repository, ghsa_id)
        client = await self.client_for(repository)
        if client is None:
            return GroupMember(
                repository, ghsa_id, None, record, "the App is not installed on the repository"
            )
        try:
            advisory: dict[str, Any] = await client.getitem(
                f"/repos/{repository}/security-advisories/{ghsa_id}"
            )
        except HTTPException as error:
            return GroupMember(repository, ghsa_id, None, record, failure(error))
        handle = AdvisoryHandle(
            client, self.store, self.clock, repository, ghsa_id, advisory, delivery=self.delivery
        )
        return GroupMember(repository, ghsa_id, handle, record)

    async def members(
        self, current: AdvisoryHandle, record: AdvisoryRecord | None
    ) -> list[GroupMember]:
        """Every member of `current`'s group, `current` first (as already read)."""
        group = await self.store.linked_group(current.repository, current.ghsa_id)
        found = [GroupMember(current.repository, current.ghsa_id, current, record)]
        for repository, ghsa_id in group:
            if (repository, ghsa_id) != (current.repository, current.ghsa_id):
                found.append(await self.read(repository, ghsa_id))
        return found

    async def find(self, ghsa_id: str, repository: str | None = None) -> GroupMember | None:
        """An advisory by GHSA id in a repository the App is installed on: where the
        store saw it, else asked of each installed repository (at most MAX_SEARCH)."""
        if repository is not None:
            if await self.installation_of(repository) is None:
                return None
            member = await self.read(repository, ghsa_id)
            return member if member.handle is not None else None
        known = await self.store.database.run(
            lambda c: c.execute(
                "SELECT repository FROM advisories WHERE ghsa_id = ?", (ghsa_id,)
            ).fetchall()
        )
        candidates = [str(row[0]) for row in known]
        installed = [repo.full_name for repo in await self.installations.repositories()]
        candidates += [name for name in installed if name not in candidates][:MAX_SEARCH]
        for name in candidates:
            if await self.installation_of(name) is None:
                continue
            member = await self.read(name, ghsa_id)
            if member.handle is not None:
                return member
        return None


async def group_received_at(store: AdvisoryStore, record: AdvisoryRecord) -> float:
    """When the group's 90-day clock started: the earliest report in the group."""
    group = await store.linked_group(record.repository, record.ghsa_id)
    earliest = record.received_at
    for repository, ghsa_id in group:
        if (repository, ghsa_id) == (record.repository, record.ghsa_id):
            continue
        other = await store.get(repository, ghsa_id)
        if other is not None:
            earliest = min(earliest, other.received_at)
    return earliest


def team_org(github_team: str | None) -> str | None:
    return github_team.split("/", 1)[0].lower() if github_team else None


def access_patch(
    advisory: Mapping[str, Any],
    repository: str,
    *,
    github_team: str | None,
    working_members: Sequence[str],
    team_logins: set[str],
) -> dict[str, Any]:
    """What to add so the team's working members see `advisory`, keeping what is there.

    In the team's organization: the team (and any working member the GitHub team
    does not list). Elsewhere: the working members as collaborating users.
    """
    patch: dict[str, Any] = {}
    same_org = team_org(github_team) == repository.split("/", 1)[0].lower()
    wanted = list(dict.fromkeys(working_members))
    if same_org and github_team:
        slug = github_team.split("/", 1)[1]
        teams = [str(t["slug"]) for t in advisory.get("collaborating_teams") or []]
        if slug not in teams:
            patch["collaborating_teams"] = [*teams, slug]
        wanted = [login for login in wanted if login.lower() not in team_logins]
    users = [str(u["login"]) for u in advisory.get("collaborating_users") or []]
    known = {user.lower() for user in users}
    missing = [login for login in wanted if login.lower() not in known]
    if missing:
        patch["collaborating_users"] = [*users, *missing]
    return patch


def coordinator_credit_patch(advisory: Mapping[str, Any], login: str) -> dict[str, Any]:
    """Credit `login` as coordinator, once (kept as GitHub has it otherwise)."""
    credits = [
        {"login": str(c["user"]["login"]), "type": str(c["type"])}
        for c in advisory.get("credits_detailed") or []
    ]
    if any(c["login"].lower() == login.lower() and c["type"] == "coordinator" for c in credits):
        return {}
    return {"credits": [*credits, {"login": login, "type": "coordinator"}]}


def group_coordinator(members: Sequence[GroupMember]) -> str | None:
    """The coordinator of the first member that has one (the current advisory first)."""
    return next((m.record.coordinator for m in members if m.record and m.record.coordinator), None)


def draft_body(
    advisory: dict[str, Any],
    *,
    package: str | None,
    ecosystem: str,
    coordinator: str | None,
    tag: str,
) -> dict[str, Any]:
    """The new draft: title, description, CVSS vector or severity, CWEs, package, credit."""
    description = BOT_MARKER.sub("", str(advisory.get("description") or "")).strip()
    description = description[: DESCRIPTION_LIMIT - len(tag) - 2] + "\n\n" + tag
    body: dict[str, Any] = {
        "summary": str(advisory.get("summary") or "")[:SUMMARY_LIMIT] or "(no title)",
        "description": description,
        "vulnerabilities": (
            [{"package": {"ecosystem": ecosystem, "name": package}}] if package else []
        ),
        "cwe_ids": [str(c) for c in advisory.get("cwe_ids") or []],
    }
    severities = advisory.get("cvss_severities") or {}
    vector = (
        (severities.get("cvss_v4") or {}).get("vector_string")
        or (severities.get("cvss_v3") or {}).get("vector_string")
        or (advisory.get("cvss") or {}).get("vector_string")
    )
    if vector:
        body["cvss_vector_string"] = vector
    elif advisory.get("severity"):
        body["severity"] = advisory["severity"]
    if coordinator:
        body["credits"] = [{"login": coordinator, "type": "coordinator"}]
    return body


async def find_marked(
    member_reader: GroupReader, repository: str, tag: str
) -> dict[str, Any] | None:
    """The advisory of `repository` whose description carries `tag` (an earlier attempt's)."""
    client = await member_reader.client_for(repository)
    if client is None:
        return None
    async for advisory in client.getiter(f"/repos/{repository}/security-advisories?per_page=100"):
        if tag in str(advisory.get("description") or ""):
            return dict(advisory)
    return None


# Days before a planned disclosure date that the coordinator is reminded (and on it).
DISCLOSURE_REMINDER_DAYS = (7, 1, 0)


async def disclosure_due(
    store: AdvisoryStore, now: float
) -> list[tuple[AdvisoryRecord, datetime.date, int]]:
    """(record, the group's planned date, days before it) for each open advisory whose
    most urgent disclosure reminder is due now. The scanner's GUID per date and tier
    stores each once; the handler claims it once per advisory."""
    today = datetime.datetime.fromtimestamp(now, datetime.UTC).date()
    due = []
    for repository, ghsa_id, _ in await LinkStore(store.database).planned():
        record = await store.get(repository, ghsa_id)
        if record is None or record.completed_at is not None:
            continue
        if record.state not in ("triage", "draft"):
            continue
        date = await store.planned_disclosure(repository, ghsa_id)
        if date is None:
            continue
        left = (date - today).days
        tiers = [days for days in DISCLOSURE_REMINDER_DAYS if left <= days]
        if tiers and left >= -1:  # a date long past reminds no more
            due.append((record, date, min(tiers)))
    return due


async def published_members(
    store: AdvisoryStore, repository: str, ghsa_id: str
) -> list[PublishedAdvisory]:
    """The other advisories of the group that are public (never one still under embargo)."""
    found = []
    for member in await store.linked_group(repository, ghsa_id):
        if member == (repository, ghsa_id):
            continue
        public = await store.published_one(*member)
        if public is not None:
            found.append(public)
    return found


def related_entry(public: PublishedAdvisory, *, cve_bound: bool) -> tuple[list[str], str]:
    """How a record names a published advisory: its GHSA id, its CVE ID when the ID is
    bound to it (any collaborator can type an ID into the field), and its page."""
    ids = [public.ghsa_id]
    cve_id = public.record.get("cve_id")
    if cve_bound and isinstance(cve_id, str) and cve_id:
        ids.append(cve_id)
    url = str(
        public.record.get("html_url")
        or f"https://github.com/{public.repository}/security/advisories/{public.ghsa_id}"
    )
    return ids, url
