"""What a command function receives: the advisory it is written on, its record, the caller,
the arguments, and the handler context for anything else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.advisories.handle import AdvisoryHandle
from bot.advisories.store import AdvisoryRecord
from bot.context import HandlerContext
from bot.github.client import GitHubClient
from bot.records.checklist import Facts, checklist_facts
from bot.records.cve_ids import CveDesk, CvePolicy


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
    def cve_desk(self) -> CveDesk:
        """The CVE steps' policy, bindings and CVE Services, from the context."""
        return cve_desk(self.context)

    async def checklist_facts(self) -> Facts:
        """What the publication checklist needs beyond the advisory's own fields."""
        unsafe = self.context.config.unsafe.collaborators_name_the_coordinator_with_credits
        return await checklist_facts(
            self.handle,
            self.record,
            self.context.fix_links,
            self.cve_desk,
            any_coordinator_credit=unsafe,
        )

    async def patch(self, data: dict[str, Any]) -> dict[str, Any]:
        """Change the advisory (keeping the poller from reporting it back)."""
        return await self.handle.patch(data)


def cve_desk(context: HandlerContext) -> CveDesk:
    """What the CVE steps need, read from a handler's context."""
    return CveDesk(CvePolicy.of(context.config), context.cve_bindings, context.cve_services)
