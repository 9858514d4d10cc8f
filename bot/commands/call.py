"""What a command function receives: the advisory it is written on, its record, the caller,
the arguments, and the handler context for anything else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.advisories.handle import AdvisoryHandle
from bot.advisories.store import AdvisoryRecord
from bot.context import HandlerContext
from bot.github.client import GitHubClient
from bot.records.cve_ids import CvePolicy


@dataclass
class CommandCall:
    """What a command function receives."""

    context: HandlerContext
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

    @property
    def cve_policy(self) -> CvePolicy:
        return CvePolicy.of(self.context.config)

    async def patch(self, data: dict[str, Any]) -> dict[str, Any]:
        """Change the advisory (keeping the poller from reporting it back)."""
        return await self.handle.patch(data)
