"""The deadline scanner: clock-driven events for open advisories.

Every `scan_interval_seconds` it looks at each open advisory in the store and
stores, on the same queue as webhooks:

- `advisory.deadline_reminder` with a `tier` (days before the deadline; 0 when
  it has passed): only the most urgent tier that is due and more urgent than
  the last one sent, and not within `min_hours_between_reminders` of it;
- `advisory.unacknowledged` once a report is older than
  `escalate_unacknowledged_after_hours` with no comment from the team;
- `advisory.coordinator_due` once an advisory has gone `coordinators.idle_days`
  without a coordinator;
- `advisory.disclosure_reminder` 7 days and 1 day before a planned disclosure
  date (`/embargo`) and on it, with the date (bot/advisories/groups.py).

A linked group's reminders count from its earliest report (the group shares one
90-day deadline).

A GUID names the advisory and the tier (a reminder's also the tier sent before
it), so each is stored once, however many scans, restarts or replicas see it
due. The scanner decides from what it read; the handler claims the reminder
with a conditional write (AdvisoryStore.claim_reminder), so reminders decided
before the previous one was handled (a backlog) still keep their spacing, and
one left unsent is raised again, under a new GUID, by a later scan.
"""

from __future__ import annotations

import logging

from bot.advisories.groups import disclosure_due, group_received_at
from bot.advisories.store import AdvisoryRecord, AdvisoryStore
from bot.core.config import DeadlineConfig
from bot.queue.followups import FollowUps

log = logging.getLogger("ghsa_bot.deadlines")

DAY = 86400.0


def due_events(
    record: AdvisoryRecord,
    now: float,
    config: DeadlineConfig,
    response_days: int,
    coordinator_idle_days: float | None = None,
    clock_start: float | None = None,
) -> list[tuple[str, int]]:
    """(action, tier) pairs due for `record` at `now`; the deadline counts from
    `clock_start` (a linked group's earliest report) when given."""
    if record.completed_at is not None or record.state not in ("triage", "draft"):
        return []
    events: list[tuple[str, int]] = []
    deadline = (clock_start or record.received_at) + response_days * DAY
    sent = record.last_reminder_tier
    due = [
        tier
        for tier in config.reminder_days
        if now >= deadline - tier * DAY and (sent is None or tier < sent)
    ]
    recent = (
        record.last_reminder_at is not None
        and now - record.last_reminder_at < config.min_hours_between_reminders * 3600
    )
    if due and not recent:
        events.append(("deadline_reminder", min(due)))
    escalate_at = record.received_at + config.escalate_unacknowledged_after_hours * 3600
    if record.reporter and record.human_acknowledged_at is None and now >= escalate_at:
        events.append(("unacknowledged", config.escalate_unacknowledged_after_hours))
    idle = coordinator_idle_days
    if idle is not None and record.coordinator is None and now >= record.received_at + idle * DAY:
        events.append(("coordinator_due", 0))
    return events


def event_guid(record: AdvisoryRecord, action: str, tier: int) -> str:
    """The GUID of a due event: one per advisory, action and tier, and for a
    reminder per tier sent before it (a reminder the spacing held back is raised
    again once another was sent)."""
    guid = f"{action}:{record.repository}:{record.ghsa_id}:{tier}"
    if action == "deadline_reminder" and record.last_reminder_tier is not None:
        guid += f":after-{record.last_reminder_tier}"
    return guid


class DeadlineScanner:
    def __init__(
        self,
        followups: FollowUps,
        advisories: AdvisoryStore,
        config: DeadlineConfig,
        response_days: int,
        *,
        coordinator_idle_days: float | None = None,
    ) -> None:
        self.followups = followups
        self.advisories = advisories
        self.config = config
        self.response_days = response_days
        self.coordinator_idle_days = coordinator_idle_days
        self.now = followups.now
        self.notify = followups.notify

    async def scan_once(self) -> int:
        """Store the events due now; return how many were new."""
        now = self.now()
        added = 0
        for record in await self.advisories.open_advisories():
            start = await group_received_at(self.advisories, record)
            due = due_events(
                record,
                now,
                self.config,
                self.response_days,
                self.coordinator_idle_days,
                clock_start=start,
            )
            for action, tier in due:
                payload = {
                    "action": action,
                    "tier": tier,
                    "installation": {"id": record.installation_id},
                    "repository": {"full_name": record.repository},
                    "repository_advisory": {"ghsa_id": record.ghsa_id, "state": record.state},
                }
                is_new = await self.followups.raise_event(
                    event_guid(record, action, tier),
                    "advisory",
                    payload,
                    source="timer",
                    wake=False,
                )
                added += int(is_new)
        for record, date, tier in await disclosure_due(self.advisories, now):
            payload = {
                "action": "disclosure_reminder",
                "tier": tier,
                "date": date.isoformat(),
                "installation": {"id": record.installation_id},
                "repository": {"full_name": record.repository},
                "repository_advisory": {"ghsa_id": record.ghsa_id, "state": record.state},
            }
            guid = f"disclosure_reminder:{record.repository}:{record.ghsa_id}:{date}:{tier}"
            is_new = await self.followups.raise_event(
                guid, "advisory", payload, source="timer", wake=False
            )
            added += int(is_new)
        if added:
            self.notify()
        return added
