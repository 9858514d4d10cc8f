"""What a handler receives besides the event: its collaborators, passed in."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from bot.advisory_store import AdvisoryStore
from bot.config import BotConfig
from bot.github import GitHubApp, GitHubClient
from bot.store import Store
from bot.team_data import TeamData


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


@dataclass(frozen=True)
class HandlerContext:
    """Handlers act through these and nothing else.

    `github` is the client for the delivery's installation (None for events
    that carry none); `app` reaches App-level endpoints.
    """

    github: GitHubClient | None
    app: GitHubApp
    store: Store
    advisories: AdvisoryStore
    config: BotConfig
    team: TeamData | None
    clock: Clock
    delivery_guid: str

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
