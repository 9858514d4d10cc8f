"""Team files (roster, experts index, CODEOWNERS) read where the team keeps them.

A source is a local file or a path in a repository, read through the contents
API with the installation's ETag cache (a 304 costs no rate limit). Parsed
results are kept in memory and refreshed on each source's schedule.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from gidgethub import BadRequest

from bot.core.config import BotConfig, SourceConfig
from bot.core.logs import fields
from bot.core.settings import DEFAULT_WEB_URL
from bot.github.client import GitHubApp, GitHubClient
from bot.github.installations import Installations
from bot.team.formats import RosterEntry, parse_codeowners, parse_experts_rst, parse_psrt_csv
from bot.team.roster import Drift, Places, canonical_entries, roster_drift

log = logging.getLogger("ghsa_bot.team_data")

PARSERS: dict[str, Callable[[str], Any]] = {
    "psrt-csv": parse_psrt_csv,
    "experts-rst": parse_experts_rst,
    "codeowners": parse_codeowners,
}


class SourceError(Exception):
    pass


@dataclass(frozen=True)
class Loaded:
    source: SourceConfig
    data: Any
    loaded_at: float


def parse_source(source: SourceConfig, text: str) -> Any:
    try:
        return PARSERS[source.format](text)
    except ValueError as error:
        where = source.file or f"{source.repository}:{source.path}"
        raise SourceError(f"sources.{source.name} ({where}, {source.format}): {error}") from None


# The contents API serves files up to 1 MB with their content; team files are far smaller.
MAX_SOURCE_BYTES = 1024 * 1024


def _within_limit(source: SourceConfig, data: bytes, where: str) -> str:
    if len(data) > MAX_SOURCE_BYTES:
        raise SourceError(
            f"sources.{source.name}: {where} is {len(data):,} bytes; the limit is "
            f"{MAX_SOURCE_BYTES:,}"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SourceError(f"sources.{source.name}: {where} is not UTF-8 ({error})") from None


def read_local(source: SourceConfig) -> Any:
    assert source.file is not None
    try:
        with source.file.open("rb") as handle:
            data = handle.read(MAX_SOURCE_BYTES + 1)
    except OSError as error:
        raise SourceError(f"sources.{source.name}: cannot read {source.file}: {error}") from None
    return parse_source(source, _within_limit(source, data, str(source.file)))


class TeamData:
    """The parsed team files, by source name."""

    def __init__(
        self,
        config: BotConfig,
        github: GitHubApp,
        installations: Installations,
        *,
        web_url: str = DEFAULT_WEB_URL,
    ) -> None:
        self.config = config
        self.web_url = web_url  # GitHub's web host, for links in the fix advice
        self.github = github
        self.installations = installations
        self.loaded: dict[str, Loaded] = {}
        self._team_members: dict[str, tuple[float, set[str]]] = {}

    async def team_members(
        self, client: GitHubClient, github_team: str, *, now: float, max_age: float = 600.0
    ) -> set[str]:
        """Logins in the GitHub team (lower case), re-read at most every `max_age` seconds.

        The read is ETag-cached too, so an unchanged team costs a 304.
        """
        cached = self._team_members.get(github_team)
        if cached is not None and now - cached[0] < max_age:
            return cached[1]
        org, slug = github_team.split("/", 1)
        members = client.getiter(f"/orgs/{org}/teams/{slug}/members?per_page=100")
        logins = {str(member["login"]).lower() async for member in members}
        self._team_members[github_team] = (now, logins)
        return logins

    def roster(self) -> list[RosterEntry]:
        """The team's members: everything that grants roles and access reads this.

        roster.toml when it is canonical (the default). Otherwise the published list
        (sources.roster), but only its entries the GitHub team confirms, as last read
        (`refresh_due`): a line added to a file in a repository never makes anyone
        a member by itself. Unread team or no team configured: nobody (fail closed),
        unless `unsafe.published_list_grants_roles`.
        """
        notes = self.config.coordinators.roster
        if notes.canonical:
            return canonical_entries(notes)
        published = list(self.get("roster") or [])
        if self.config.unsafe.published_list_grants_roles:
            return published
        github_team = self.config.team.github_team
        confirmed = self._team_members.get(github_team) if github_team else None
        if confirmed is None:
            return []
        return [entry for entry in published if entry.login.lower() in confirmed[1]]

    async def member_logins(self, client: GitHubClient, *, now: float) -> set[str]:
        """Lower-case logins of the roster and, when it can be read, the GitHub team."""
        logins = {entry.login.lower() for entry in self.roster()}
        github_team = self.config.team.github_team
        if github_team:
            try:
                logins |= await self.team_members(client, github_team, now=now)
            except Exception as error:  # the roster alone, then
                log.warning("team not read", extra=fields(error=type(error).__name__))
        return logins

    async def is_member(self, client: GitHubClient, login: str, *, now: float) -> bool:
        """True when `login` is on the roster or an active member of the GitHub team.

        A team that cannot be read counts as not confirming anyone (fail closed).
        """
        name = login.lower()
        if any(entry.login.lower() == name for entry in self.roster()):
            return True
        github_team = self.config.team.github_team
        if not github_team:
            return False
        try:
            members = await self.team_members(client, github_team, now=now)
        except Exception as error:  # any failure: not confirmed
            log.warning("team not read", extra=fields(error=type(error).__name__))
            return False
        return name in members

    def places(self) -> Places:
        """Where the roster, the GitHub team and the published list live (for fix advice)."""
        notes = self.config.coordinators.roster
        source = self.config.sources.get("roster")
        published = None
        if source is not None:
            published = str(source.file) if source.file else f"{source.repository}:{source.path}"
        return Places(
            roster_file=str(notes.path) if notes.path else "roster.toml",
            github_team=self.config.team.github_team,
            published=published if notes.canonical else None,
            web_url=self.web_url,
        )

    async def check_roster(self, now: float) -> tuple[list[Drift], Places, list[str]]:
        """Compare the canonical roster with the GitHub team and the published list, read now.

        Returns the differences, the places, and what could not be read (a place
        that could not be read is reported, never taken as empty).
        """
        places = self.places()
        notes = self.config.coordinators.roster
        problems = []
        if not notes.canonical:
            problems.append(
                f"{places.roster_file} is not canonical (no `canonical = true`): the published "
                "list is the roster, so only the GitHub team is compared with it"
            )
        team: set[str] | None = None
        github_team = self.config.team.github_team
        if github_team:
            try:
                client = await self._client_for(github_team)
                team = await self.team_members(client, github_team, now=now, max_age=0)
            except Exception as error:  # any failure: say so, never compare with nothing
                problems.append(f"could not read the GitHub team {github_team}: {error}")
        published = None
        source = self.config.sources.get("roster")
        if source is not None and notes.canonical:
            try:
                data = read_local(source) if source.file else await self._read_remote(source)
                published = list(data)
            except (SourceError, BadRequest) as error:
                problems.append(f"could not read the published list: {error}")
        roster = self.roster()
        if not roster:
            problems.append("the roster lists no members")
        drift = roster_drift(
            roster, team=team, published=published, places=places, emeritus=notes.emeritus
        )
        return drift, places, problems

    async def advisory_clients(self) -> list[tuple[str, GitHubClient]]:
        """(repository, its installation's client) for every repository the bot is installed on."""
        return [
            (repo.full_name, self.github.installation(repo.installation_id))
            for repo in await self.installations.repositories()
        ]

    def get(self, name: str) -> Any:
        loaded = self.loaded.get(name)
        return None if loaded is None else loaded.data

    async def refresh_due(self, now: float) -> list[str]:
        """Reload every source whose refresh interval has passed; return the errors.

        With a roster that is not canonical, the GitHub team is read too (at most
        every ten minutes): it decides which published entries count.
        """
        errors = []
        github_team = self.config.team.github_team
        if not self.config.coordinators.roster.canonical and github_team:
            try:
                client = await self._client_for(github_team)
                await self.team_members(client, github_team, now=now)
            except Exception as error:  # the last confirmed list stays; none at first
                errors.append(f"team {github_team}: {type(error).__name__}")
                log.warning("team not read", extra=fields(error=type(error).__name__))
        for name, source in self.config.sources.items():
            loaded = self.loaded.get(name)
            if loaded is not None and now - loaded.loaded_at < source.refresh_minutes * 60:
                continue
            try:
                data = read_local(source) if source.file else await self._read_remote(source)
            except (SourceError, BadRequest) as error:
                errors.append(f"sources.{name}: {error}")
                log.warning(
                    "team source not refreshed", extra=fields(source=name, error=str(error))
                )
                continue
            self.loaded[name] = Loaded(source, data, now)
        return errors

    async def _read_remote(self, source: SourceConfig) -> Any:
        assert source.repository is not None and source.path is not None
        client = await self._client_for(source.repository)
        url = f"/repos/{source.repository}/contents/{quote(source.path)}"
        if source.ref:
            url += f"?ref={quote(source.ref)}"
        response = await client.getitem(url)
        if not isinstance(response, dict) or response.get("encoding") != "base64":
            raise SourceError(f"{source.repository}:{source.path} is not a file")
        where = f"{source.repository}:{source.path}"
        try:
            data = base64.b64decode(response.get("content", ""))
        except ValueError:
            raise SourceError(f"{where}: bad base64 content") from None
        return parse_source(source, _within_limit(source, data, where))

    async def _client_for(self, repository: str) -> GitHubClient:
        owner = repository.split("/", 1)[0].lower()
        installations = await self.installations.installations()
        for installation in installations:
            if installation.account_login.lower() == owner:
                return self.github.installation(installation.id)
        if installations:  # public files are readable with any installation's token
            return self.github.installation(installations[0].id)
        return self.github.anonymous()
