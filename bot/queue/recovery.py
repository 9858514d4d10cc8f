"""Missed-delivery recovery: ask GitHub again for webhooks the bot never stored.

GitHub does not retry a failed delivery. While the bot is down, restarting,
or answering 503 because its store is unreachable, deliveries fail and stay
failed. This job lists the App's deliveries of the last three days (`GET
/app/hook/deliveries`, newest first), and for each GUID that failed, was for
an event the bot handles, and is not in the store, asks for a redelivery of
its latest attempt (`POST /app/hook/deliveries/{id}/attempts`). A redelivery
keeps the GUID, so intake's dedupe makes a late duplicate harmless.

It runs on start and periodically, on the replica holding the leader lease.
A GUID is asked for at most `max_redeliveries` times over the window, so a
delivery the bot keeps refusing (a rotated secret, say) is not asked for
forever; each refusal is logged and counted instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.logs import fields
from bot.core.metrics import Metrics
from bot.github.client import GitHubApp
from bot.queue.store import Store

log = logging.getLogger("ghsa_bot.recovery")

WINDOW_SECONDS = 3 * 24 * 3600  # how far back GitHub allows redelivery


@dataclass
class RecoveryReport:
    listed: int = 0
    failed: int = 0
    redelivered: list[str] = field(default_factory=list)
    given_up: list[str] = field(default_factory=list)


@dataclass
class _Guid:
    latest_id: int
    event: str
    first_at: float  # its oldest attempt listed: when the event was first sent
    succeeded: bool = False
    attempts: int = 0


class DeliveryRecovery:
    def __init__(
        self,
        github: GitHubApp,
        store: Store,
        metrics: Metrics,
        now: Callable[[], float],
        *,
        handled_events: Collection[str],
        max_redeliveries: int = 3,
    ) -> None:
        self.github = github
        self.store = store
        self.metrics = metrics
        self.now = now
        self.handled_events = frozenset(handled_events)
        self.max_redeliveries = max_redeliveries

    async def recover_once(self) -> RecoveryReport:
        """List the window's deliveries; redeliver the failed ones the store lacks."""
        report = RecoveryReport()
        guids = await self._attempts_by_guid(report)
        # In the order the events were first sent (GitHub lists attempts newest
        # first, a retried GUID at its latest): one advisory's or comment's events
        # are asked for in order. GitHub still sends redeliveries on its own time.
        for guid, seen in sorted(guids.items(), key=lambda item: item[1].first_at):
            if seen.succeeded or seen.event not in self.handled_events:
                continue
            report.failed += 1
            if await self.store.get_delivery(guid) is not None:
                continue  # stored after all (a later attempt reached a replica)
            if seen.attempts > self.max_redeliveries:
                report.given_up.append(guid)
                continue
            await self.github.app().post(f"/app/hook/deliveries/{seen.latest_id}/attempts", data={})
            report.redelivered.append(guid)
            self.metrics.deliveries_recovered.inc(outcome="redelivery_requested")
        if report.given_up:
            self.metrics.deliveries_recovered.inc(len(report.given_up), outcome="given_up")
            log.warning(
                "deliveries still failing after redelivery; check the webhook secret and URL",
                extra=fields(count=len(report.given_up), guids=",".join(report.given_up[:10])),
            )
        log.info(
            "missed deliveries checked",
            extra=fields(
                listed=report.listed, failed=report.failed, redelivered=len(report.redelivered)
            ),
        )
        return report

    async def _attempts_by_guid(self, report: RecoveryReport) -> dict[str, _Guid]:
        cutoff = self.now() - WINDOW_SECONDS
        guids: dict[str, _Guid] = {}
        async for item in self.github.app().getiter("/app/hook/deliveries?per_page=100"):
            delivered_at = _timestamp(item["delivered_at"])
            if delivered_at < cutoff:
                break  # newest first: the rest is older still
            report.listed += 1
            seen = guids.setdefault(
                item["guid"], _Guid(int(item["id"]), str(item["event"]), delivered_at)
            )
            seen.first_at = min(seen.first_at, delivered_at)
            seen.attempts += 1
            seen.succeeded = seen.succeeded or 200 <= int(item["status_code"] or 0) < 400
        return guids


def _timestamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
