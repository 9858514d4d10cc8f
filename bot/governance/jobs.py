"""The governance scanner: clock-driven governance events (runs on the leader).

Every `governance.scan_interval_seconds` it stores, on the same queue as
webhooks and in the governance repository's order (`repo:OWNER/REPO`, the key
its issue comments have, so a `/veto` and the end of the veto window never
race):

- `governance.vote_due` once a nomination's week is over;
- `governance.veto_window_ended` once the steering council's window is over;
- `governance.roster_check` once per `roster_check_hours`;
- `governance.inactivity_report` once a year, on or after `inactivity_report_date`.

A GUID names the nomination, period or year, so each is stored once, however
many scans, restarts or replicas see it due. Nothing here talks to GitHub.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from bot.core.config import GovernanceConfig
from bot.core.logs import fields
from bot.github.installations import Installations
from bot.governance.store import OPEN, VETO_WINDOW, GovernanceStore
from bot.queue.followups import FollowUps

log = logging.getLogger("ghsa_bot.governance")


def due_reports(config: GovernanceConfig, now: float) -> list[tuple[str, str]]:
    """(action, GUID suffix) of the periodic jobs due at `now`."""
    due = []
    if config.roster_check_hours > 0:
        period = int(now // (config.roster_check_hours * 3600))
        due.append(("roster_check", str(period)))
    today = datetime.datetime.fromtimestamp(now, datetime.UTC).date()
    month, day = (int(part) for part in config.inactivity_report_date.split("-"))
    try:
        report_day = datetime.date(today.year, month, day)
    except ValueError:  # 02-29 in a common year: the day after
        report_day = datetime.date(today.year, 3, 1)
    if today >= report_day:
        due.append(("inactivity_report", str(today.year)))
    return due


class GovernanceScanner:
    def __init__(
        self,
        followups: FollowUps,
        installations: Installations,
        governance: GovernanceStore,
        config: GovernanceConfig,
    ) -> None:
        self.followups = followups
        self.installations = installations
        self.governance = governance
        self.config = config
        self.now = followups.now
        self.notify = followups.notify

    async def scan_once(self) -> int:
        """Store the governance events due now; return how many were new."""
        repository = self.config.repository
        if repository is None:
            return 0
        installation = await self._installation_of(repository)
        if installation is None:
            log.warning(
                "governance repository is not installed", extra=fields(repository=repository)
            )
            return 0
        now = self.now()
        due: list[tuple[str, str, dict[str, Any]]] = []
        for nomination in await self.governance.nominations(states=(OPEN, VETO_WINDOW)):
            if nomination.state == OPEN and now >= nomination.closes_at:
                due.append(("vote_due", str(nomination.id), {"nomination": nomination.id}))
            ends = nomination.veto_ends_at
            if nomination.state == VETO_WINDOW and ends is not None and now >= ends:
                due.append(("veto_window_ended", str(nomination.id), {"nomination": nomination.id}))
        for action, suffix in due_reports(self.config, now):
            due.append((action, suffix, {"period": suffix}))
        added = 0
        for action, suffix, extra in due:
            payload = {
                "action": action,
                "installation": {"id": installation},
                "repository": {"full_name": repository},
                **extra,
            }
            added += int(
                await self.followups.raise_event(
                    f"governance:{action}:{repository}:{suffix}",
                    "governance",
                    payload,
                    source="timer",
                    wake=False,
                )
            )
        if added:
            self.notify()
        return added

    async def _installation_of(self, repository: str) -> int | None:
        for repo in await self.installations.repositories():
            if repo.full_name.lower() == repository.lower():
                return repo.installation_id
        return None
