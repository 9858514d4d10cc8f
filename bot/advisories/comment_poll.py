"""Reading advisories' comments: only what moved, and the edit sweep, within the budget.

There is no webhook for advisory comments (github-api-facts.md, "Advisory
comments API"), so the poller reads them. Each cycle (:meth:`CommentPoller.cycle`)
reads an open advisory's comments when the list showed its `comments` count or
`updated_at` moved since they were last read, or when GitHub gave no count
("If the count is missing, do not interpret it as zero"). Edits change neither,
so the edit sweep re-reads each open advisory that has a person's comment at
least every `edit_sweep_minutes`, a share of them each cycle
(:func:`~bot.advisories.poll_state.choose_sweep`). Reads are left for a later
cycle when the points budget has no room for the poller.

New and edited comments become `advisory_comment` events; the bot's own comments
and other bots' are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bot.advisories.poll_state import (
    CommentState,
    Key,
    Observed,
    PollReport,
    PollState,
    choose_sweep,
)
from bot.advisories.store import AdvisoryRecord, AdvisoryStore
from bot.core.logs import fields
from bot.core.metrics import Metrics
from bot.github.budget import RequestBudget, as_poller
from bot.github.client import GitHubApp, error_summary
from bot.queue.followups import FollowUps
from bot.queue.store import StoreUnavailable

log = logging.getLogger("ghsa_bot.poller")


class CommentPoller:
    def __init__(
        self,
        github: GitHubApp,
        advisories: AdvisoryStore,
        followups: FollowUps,
        state: PollState,
        *,
        interval: float,
        edit_sweep_seconds: float,
        budget: RequestBudget | None,
        metrics: Metrics,
    ) -> None:
        self.github = github
        self.advisories = advisories
        self.followups = followups
        self.state = state
        self.now = followups.now
        self.interval = interval
        self.edit_sweep_seconds = edit_sweep_seconds
        self.budget = budget
        self.metrics = metrics
        self._sweep_credit = 0.0  # edit-sweep reads owed (choose_sweep)


    async def cycle(self, observed: Mapping[Key, Observed], report: PollReport) -> None:
        """Read what changed, then this cycle's share of the edit sweep, within the budget."""
        states = await self.state.comment_states()
        changed: list[AdvisoryRecord] = []
        stale: dict[Key, float] = {}
        records: dict[Key, AdvisoryRecord] = {}
        for record in await self.advisories.open_advisories():
            key = (record.repository, record.ghsa_id)
            records[key] = record
            seen, state = observed.get(key), states.get(key)
            if seen is not None and (
                state is None
                or seen.comments is None  # no count: nothing tells a new comment apart
                or seen.comments != state.comments
                or seen.updated_at != state.updated_at
            ):
                changed.append(record)
            elif state is None or state.people:
                stale[key] = state.read_at if state is not None else 0.0
        sweep, self._sweep_credit = choose_sweep(
            stale,
            now=self.now(),
            period=self.edit_sweep_seconds,
            interval=self.interval,
            credit=self._sweep_credit,
        )
        reads: dict[Key, CommentState] = {}
        for number, record in enumerate([*changed, *(records[key] for key in sweep)]):
            if self.budget is not None and self.budget.poller_room() < 1:
                left = len(changed) + len(sweep) - number
                report.deferred += left
                self.metrics.poll_deferred.inc(left)
                break
            kind = "comments" if number < len(changed) else "sweep"
            try:
                events, state = await self._read(record, observed, states, kind)
            except StoreUnavailable:
                raise
            except Exception as error:
                report.errors += 1
                log.warning("comment poll failed", extra=fields(error=error_summary(error)))
                continue
            reads[(record.repository, record.ghsa_id)] = state
            report.events += events
            report.comment_reads += kind == "comments"
            report.sweeps += kind == "sweep"
        await self.state.record_reads(reads)
        if report.events:
            self.followups.notify()

    async def poll_all(self, observed: Mapping[Key, Observed]) -> int:
        """Read every open advisory's comments now (new and edited become events)."""
        events = 0
        with as_poller():
            states = await self.state.comment_states()
            reads: dict[Key, CommentState] = {}
            for record in await self.advisories.open_advisories():
                try:
                    found, state = await self._read(record, observed, states, "comments")
                except StoreUnavailable:
                    raise
                except Exception as error:
                    log.warning("comment poll failed", extra=fields(error=error_summary(error)))
                    continue
                events += found
                reads[(record.repository, record.ghsa_id)] = state
            await self.state.record_reads(reads)
        if events:
            self.followups.notify()
        return events

    async def _read(
        self,
        record: AdvisoryRecord,
        observed: Mapping[Key, Observed],
        states: Mapping[Key, CommentState],
        kind: str,
    ) -> tuple[int, CommentState]:
        key = (record.repository, record.ghsa_id)
        seen, before = observed.get(key), states.get(key)
        since_kept = bool(
            await self.advisories.poll_cursor(f"comments:{record.repository}:{record.ghsa_id}")
        )
        events, people = await self._poll_advisory_comments(
            record.installation_id, record.repository, record.ghsa_id
        )
        self.metrics.poll_requests.inc(kind=kind)
        # Read from a cursor without a state kept: comments from before it were not
        # seen, so one of them may be a person's.
        unknown = before is None and since_kept
        state = CommentState(
            seen.comments if seen is not None else None,
            seen.updated_at if seen is not None else None,
            self.now(),
            people or unknown or (before is not None and before.people),
        )
        return events, state

    async def _poll_advisory_comments(
        self, installation_id: int, repository: str, ghsa_id: str
    ) -> tuple[int, bool]:
        """New and edited comments become `advisory_comment` events; and whether any
        comment read was a person's. The bot's own comments and other bots' are
        skipped. Confidential comments never reach the bot: GitHub does not return them.
        """
        client = self.github.installation(installation_id)
        cursor_key = f"comments:{repository}:{ghsa_id}"
        since = await self.advisories.poll_cursor(cursor_key)
        url = f"/repos/{repository}/security-advisories/{ghsa_id}/comments?per_page=100"
        if since:
            url += f"&since={since}"
        newest = since or ""
        events = 0
        people = False
        async for comment in client.getiter(url):
            updated = str(comment.get("updated_at") or "")
            newest = max(newest, updated)
            user = comment.get("user") or {}
            if user.get("type") == "Bot" or str(user.get("login", "")).endswith("[bot]"):
                continue
            people = True
            action = "created" if comment.get("created_at") == updated else "edited"
            payload = {
                "action": action,
                "installation": {"id": installation_id},
                "repository": {"full_name": repository},
                "repository_advisory": {"ghsa_id": ghsa_id},
                "comment": {
                    "id": comment["id"],
                    "body": comment.get("body") or "",
                    "user": {"login": user.get("login"), "type": user.get("type")},
                    "created_at": comment.get("created_at"),
                    "updated_at": updated,
                },
            }
            guid = f"comment:{repository}:{ghsa_id}:{comment['id']}:{updated}"
            is_new = await self.followups.raise_event(
                guid, "advisory_comment", payload, source="poll", wake=False
            )
            events += int(is_new)
        if newest and newest != since:
            await self.advisories.set_poll_cursor(cursor_key, newest)
        return events, people
