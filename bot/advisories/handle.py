"""One advisory as a handler acts on it: GitHub's view of it now, and the ways to change it.

Commands (`bot.context.CommandCall` holds one) and event handlers alike
change an advisory through :meth:`AdvisoryHandle.patch`, which records the
new fingerprint so the poller does not report the bot's own change back, and
keep `advisory` as GitHub answered, so the next step sees what the last one
left. :meth:`AdvisoryHandle.audit` writes to the advisory's audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.advisories.store import AdvisoryStore
from bot.core.clock import Clock
from bot.github.client import GitHubClient


@dataclass
class AdvisoryHandle:
    client: GitHubClient  # the installation's
    store: AdvisoryStore
    clock: Clock
    repository: str
    ghsa_id: str
    advisory: dict[str, Any]
    delivery: str | None = None  # the delivery acting, for the audit log

    @property
    def path(self) -> str:
        return f"/repos/{self.repository}/security-advisories/{self.ghsa_id}"

    def as_tuple(self) -> tuple[GitHubClient, str, str, dict[str, Any]]:
        """(client, repository, ghsa_id, advisory), for handlers that use all four."""
        return self.client, self.repository, self.ghsa_id, self.advisory

    async def patch(self, data: dict[str, Any]) -> dict[str, Any]:
        """Change the advisory (keeping the poller from reporting it back)."""
        updated: dict[str, Any] = await self.client.patch(self.path, data=data)
        await self.store.set_fingerprint(self.repository, self.ghsa_id, updated)
        self.advisory = updated
        return updated

    async def audit(self, action: str, reason: str) -> None:
        """Add to the advisory's audit log: now, the acting delivery, the action and why."""
        await self.store.audit(
            self.repository,
            self.ghsa_id,
            at=self.clock.now(),
            action=action,
            reason=reason,
            delivery=self.delivery,
        )
