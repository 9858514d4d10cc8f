"""What a handler receives besides the event: its collaborators, passed in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gidgethub import sansio

from bot.advisories.fixes import FixLinks
from bot.advisories.handle import AdvisoryHandle
from bot.advisories.store import AdvisoryStore
from bot.commands.log import CommandLog
from bot.commands.registry import Registry
from bot.core.clock import Clock
from bot.core.config import BotConfig
from bot.github.client import GitHubApp, GitHubClient
from bot.github.installations import Installations
from bot.governance.store import GovernanceStore
from bot.queue.followups import FollowUps
from bot.records.bindings import CveBindings, RecordIds
from bot.records.cve_services import CveServicesClient
from bot.team.data import TeamData
from bot.team.leave import MemberLeave


@dataclass(frozen=True)
class HandlerContext:
    """Everything a handler may use, built once per delivery by `bot.app`.

    Each handler module declares the few of these it needs as a small protocol
    (its "doors"); this class has them all, so it satisfies every one, and a
    unit test hands a handler a small fake of just its doors. `github` is the
    client for the delivery's installation (every stored delivery has one);
    `app` reaches App-level endpoints; `commands` is every slash command the
    handlers declare (composed in handlers/__init__.py). `cve_services` is None when the team is
    not its own CNA: a feature decided once, at start.
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
