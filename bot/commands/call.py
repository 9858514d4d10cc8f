"""What a command function receives: the advisory, its record, the caller, the arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.advisories.store import AdvisoryRecord
from bot.context import HandlerContext
from bot.github.client import GitHubClient


@dataclass
class CommandCall:
    """What a command function receives."""

    context: HandlerContext
    client: GitHubClient
    repository: str
    ghsa_id: str
    advisory: dict[str, Any]
    record: AdvisoryRecord | None
    caller: str
    arguments: list[str]
    venue = "advisory"

    @property
    def path(self) -> str:
        return f"/repos/{self.repository}/security-advisories/{self.ghsa_id}"

    async def patch(self, data: dict[str, Any]) -> dict[str, Any]:
        """Change the advisory (keeping the poller from reporting it back)."""
        updated: dict[str, Any] = await self.client.patch(self.path, data=data)
        await self.context.advisories.set_fingerprint(self.repository, self.ghsa_id, updated)
        self.advisory = updated
        return updated
