"""What a handler and a command receive besides the event: their collaborators, passed in.

`HandlerContext` holds every part a handler may use, built once per delivery
by `bot.app`. No handler asks for all of it: each handler module declares the
few parts it uses as its `Doors`, a protocol made of the one-part protocols
below (`HasClock`, `HasTeam`, ...), and types its handlers with it. A unit
test then hands a handler a small fake of just those parts; mypy checks in
handlers/__init__.py that `HandlerContext` opens every module's doors.

A command function receives a `CommandCall`: the advisory it is written on
(a handle to read, change and audit it), the bot's record of it, the caller,
the arguments, and the context, typed with the command module's doors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from gidgethub import sansio

from bot.advisories.fixes import FixLinks
from bot.advisories.handle import AdvisoryHandle
from bot.advisories.store import AdvisoryRecord, AdvisoryStore
from bot.commands.log import CommandLog
from bot.commands.registry import Registry
from bot.core.clock import Clock
from bot.core.config import BotConfig
from bot.github.client import GitHubApp, GitHubClient
from bot.github.installations import Installations
from bot.governance.store import GovernanceStore
from bot.queue.followups import FollowUps
from bot.records.bindings import CveBindings, RecordIds
from bot.records.checklist import Facts, checklist_facts
from bot.records.cve_ids import CveDesk, CvePolicy
from bot.records.cve_services import CveServicesClient
from bot.team.data import TeamData
from bot.team.leave import MemberLeave

# -- the doors: one part each ---------------------------------------------------------


class HasConfig(Protocol):
    @property
    def config(self) -> BotConfig:
        """The team's configuration (config/*.toml)."""


class HasClock(Protocol):
    @property
    def clock(self) -> Clock:
        """Now, in seconds since the epoch (a fixed clock in tests)."""


class HasGitHub(Protocol):
    @property
    def github(self) -> GitHubClient:
        """GitHub, as the delivery's installation."""


class HasApp(Protocol):
    @property
    def app(self) -> GitHubApp:
        """GitHub, as the App (App-level endpoints, other installations)."""


class HasInstallations(Protocol):
    @property
    def installations(self) -> Installations:
        """The installations the bot serves and their repositories."""


class HasFollowUps(Protocol):
    @property
    def followups(self) -> FollowUps:
        """The one door for events the bot raises itself."""


class HasAdvisoryStore(Protocol):
    @property
    def advisories(self) -> AdvisoryStore:
        """The bot's records of advisories, markers of done side effects, the audit log."""

    async def audit(self, repository: str, ghsa_id: str, action: str, reason: str) -> None:
        """Add to the advisory's audit log: now, this delivery, the action and why."""


class HasCommandLog(Protocol):
    @property
    def command_log(self) -> CommandLog:
        """Command runs by key, their owed replies, the reply budgets."""


class HasCommands(Protocol):
    @property
    def commands(self) -> Registry:
        """Every slash command the handlers declare."""


class HasFixLinks(Protocol):
    @property
    def fix_links(self) -> FixLinks:
        """Which public pull requests fix which advisory."""


class HasCveIds(Protocol):
    @property
    def cve_bindings(self) -> CveBindings:
        """Which CVE ID the bot got for which advisory."""

    @property
    def cve_services(self) -> CveServicesClient | None:
        """The team's CNA account; None when the team is not its own CNA."""


class HasRecordIds(Protocol):
    @property
    def record_ids(self) -> RecordIds:
        """The OSV and CVE records the bot wrote, by advisory."""


class HasMemberLeave(Protocol):
    @property
    def member_leave(self) -> MemberLeave:
        """Who is on leave until when (/leave, /back)."""


class HasGovernance(Protocol):
    @property
    def governance(self) -> GovernanceStore:
        """Nominations, ballots, and the bot's governance issues."""


class HasTeam(Protocol):
    @property
    def team(self) -> TeamData:
        """The roster, the GitHub team, the experts index."""


class HasUrls(Protocol):
    @property
    def public_url(self) -> str | None:
        """Where the bot's pages are served (ballots, the team page); None: not served."""

    @property
    def web_url(self) -> str:
        """GitHub's web host: pull request links, profiles."""


class HasAdvisoryHandles(HasGitHub, HasAdvisoryStore, HasClock, Protocol):
    """Reads an advisory from GitHub as a handle to change and audit it."""

    async def fetch_advisory(self, event: sansio.Event) -> AdvisoryHandle:
        """GET the advisory an advisory event names."""

    def handle_for(self, repository: str, ghsa_id: str, advisory: dict[str, Any]) -> AdvisoryHandle:
        """A handle on an advisory already read."""


class CveDoors(HasConfig, HasCveIds, Protocol):
    """What the CVE steps need: the policy (config), the bindings, CVE Services."""


def cve_desk(doors: CveDoors) -> CveDesk:
    """The CVE steps' policy, bindings and CVE Services."""
    return CveDesk(CvePolicy.of(doors.config), doors.cve_bindings, doors.cve_services)


class ChecklistDoors(CveDoors, HasFixLinks, Protocol):
    """What the publication checklist reads beyond the advisory."""


# -- everything, for one delivery --------------------------------------------------------


@dataclass(frozen=True)
class HandlerContext:
    """Every part a handler may use, for one delivery; it opens every door above.

    `github` is the client for the delivery's installation (every stored
    delivery has one); `app` reaches App-level endpoints; `commands` is every
    slash command the handlers declare (composed in handlers/__init__.py).
    `cve_services` is None when the team is not its own CNA: a feature decided
    once, at start.
    """

    github: GitHubClient
    app: GitHubApp
    installations: Installations
    followups: FollowUps
    advisories: AdvisoryStore
    command_log: CommandLog
    commands: Registry
    fix_links: FixLinks
    cve_bindings: CveBindings
    record_ids: RecordIds
    member_leave: MemberLeave
    governance: GovernanceStore
    team: TeamData
    config: BotConfig
    clock: Clock
    delivery_guid: str
    cve_services: CveServicesClient | None = None  # set when the team is its own CNA
    public_url: str | None = None  # where the bot's pages are served (ballots, team page)
    web_url: str = "https://github.com"  # GitHub's web host (GITHUB_WEB_URL): PR links, profiles

    async def fetch_advisory(self, event: sansio.Event) -> AdvisoryHandle:
        """GET the advisory an advisory event names, through the installation's client."""
        repository = str(event.data["repository"]["full_name"])
        ghsa_id = str(event.data["repository_advisory"]["ghsa_id"])
        return await self.advisory_handle(repository, ghsa_id)

    async def advisory_handle(self, repository: str, ghsa_id: str) -> AdvisoryHandle:
        """The advisory as GitHub has it now, ready to be changed and audited."""
        advisory: dict[str, Any] = await self.github.getitem(
            f"/repos/{repository}/security-advisories/{ghsa_id}"
        )
        return self.handle_for(repository, ghsa_id, advisory)

    def handle_for(self, repository: str, ghsa_id: str, advisory: dict[str, Any]) -> AdvisoryHandle:
        """A handle on an advisory already read."""
        return AdvisoryHandle(
            self.github,
            self.advisories,
            self.clock,
            repository,
            ghsa_id,
            advisory,
            delivery=self.delivery_guid,
        )

    async def audit(self, repository: str, ghsa_id: str, action: str, reason: str) -> None:
        """Add to the advisory's audit log: now, this delivery, the action and why."""
        await self.advisories.audit(
            repository,
            ghsa_id,
            at=self.clock.now(),
            action=action,
            reason=reason,
            delivery=self.delivery_guid,
        )


# -- what a command function receives ------------------------------------------------------

Doors = TypeVar("Doors", covariant=True)  # a call with more doors serves one needing fewer


@dataclass
class CommandCall(Generic[Doors]):
    """A command written on an advisory: `CommandCall[Doors]` says what it may use."""

    context: Doors
    handle: AdvisoryHandle
    record: AdvisoryRecord | None
    caller: str
    arguments: list[str]
    venue = "advisory"

    @property
    def client(self) -> GitHubClient:
        return self.handle.client

    @property
    def repository(self) -> str:
        return self.handle.repository

    @property
    def ghsa_id(self) -> str:
        return self.handle.ghsa_id

    @property
    def advisory(self) -> dict[str, Any]:
        """The advisory as GitHub last answered (after this call's own changes)."""
        return self.handle.advisory

    @property
    def path(self) -> str:
        return self.handle.path

    async def patch(self, data: dict[str, Any]) -> dict[str, Any]:
        """Change the advisory (keeping the poller from reporting it back)."""
        return await self.handle.patch(data)


async def checklist_facts_for(call: CommandCall[ChecklistDoors]) -> Facts:
    """What the publication checklist needs beyond the advisory's own fields."""
    doors = call.context
    unsafe = doors.config.unsafe.collaborators_name_the_coordinator_with_credits
    return await checklist_facts(
        call.handle, call.record, doors.fix_links, cve_desk(doors), any_coordinator_credit=unsafe
    )
