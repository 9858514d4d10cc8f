"""The advisory poller: what GitHub sends no webhook for becomes events.

`repository_advisory` webhooks fire only for `reported` and `published`. Every
`interval` seconds the poller lists each installed repository's advisories
with `sort=updated` through the installation's ETag cache (an unchanged list
is a 304 and costs no rate limit), compares each with the fingerprint it last
saw, and stores an `advisory` event (`discovered` or `updated`, with the names
of the changed fields) on the same queue as webhooks. Its GUID is derived from
the change, so a change seen twice (a restart, a second replica) is stored once.

A repository polled for the first time is backfilled: its open advisories
(`triage`, `draft`) are discovered; closed and published ones are only noted.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.advisories.store import AdvisoryStore, SeenAdvisory
from bot.core.digests import changed_fields
from bot.core.logs import fields
from bot.github.client import GitHubApp, error_summary
from bot.github.installations import Installations
from bot.queue.followups import FollowUps
from bot.queue.store import StoreUnavailable

log = logging.getLogger("ghsa_bot.poller")

OPEN_STATES = ("triage", "draft")


@dataclass
class PollReport:
    repositories: int = 0
    events: int = 0
    errors: int = 0


class AdvisoryPoller:
    def __init__(
        self,
        github: GitHubApp,
        installations: Installations,
        advisories: AdvisoryStore,
        followups: FollowUps,
        *,
        interval: float = 60.0,
    ) -> None:
        self.github = github
        self.installations = installations
        self.advisories = advisories
        self.followups = followups
        self.now = followups.now
        self.notify = followups.notify
        self.interval = interval
        self.cycles = 0

    async def run(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self.interval)

    async def poll_comments(self) -> int:
        """New and edited comments on open advisories become `advisory_comment` events.

        The bot's own comments and other bots' are skipped. Confidential
        comments never reach the bot: GitHub does not return them.
        """
        events = 0
        for record in await self.advisories.open_advisories():
            try:
                events += await self._poll_advisory_comments(
                    record.installation_id, record.repository, record.ghsa_id
                )
            except StoreUnavailable:
                raise
            except Exception as error:
                log.warning("comment poll failed", extra=fields(error=error_summary(error)))
        if events:
            self.notify()
        return events

    async def _poll_advisory_comments(
        self, installation_id: int, repository: str, ghsa_id: str
    ) -> int:
        client = self.github.installation(installation_id)
        cursor_key = f"comments:{repository}:{ghsa_id}"
        since = await self.advisories.poll_cursor(cursor_key)
        url = f"/repos/{repository}/security-advisories/{ghsa_id}/comments?per_page=100"
        if since:
            url += f"&since={since}"
        newest = since or ""
        events = 0
        async for comment in client.getiter(url):
            updated = str(comment.get("updated_at") or "")
            newest = max(newest, updated)
            user = comment.get("user") or {}
            if user.get("type") == "Bot" or str(user.get("login", "")).endswith("[bot]"):
                continue
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
        return events

    async def poll_once(self) -> PollReport:
        report = PollReport()
        for installation in await self.installations.installations():
            if installation.suspended:
                continue
            for repository in await self.installations.repositories(installation.id):
                report.repositories += 1
                try:
                    report.events += await self.poll_repository(
                        installation.id, repository.full_name
                    )
                except StoreUnavailable:
                    raise
                except Exception as error:
                    report.errors += 1
                    log.warning(
                        "advisory poll failed",
                        extra=fields(installation=installation.id, error=error_summary(error)),
                    )
        report.events += await self.poll_comments()
        self.cycles += 1
        return report

    async def poll_repository(self, installation_id: int, repository: str) -> int:
        client = self.github.installation(installation_id)
        cursor = await self.advisories.poll_cursor(repository)
        known = await self.advisories.fingerprints(repository)
        url = f"/repos/{repository}/security-advisories?sort=updated&direction=desc&per_page=100"
        seen: list[SeenAdvisory] = []
        events = 0
        newest = cursor
        now = self.now()
        async for advisory in client.getiter(url):
            updated_at = advisory.get("updated_at") or ""
            if cursor is not None and updated_at < cursor:
                break  # sorted by update: the rest is older than what we saw last time
            ghsa_id = advisory["ghsa_id"]
            encoded = self.advisories.fingerprint_of(advisory)
            if known.get(ghsa_id) == encoded:
                continue
            newest = max(newest or "", updated_at)
            if ghsa_id not in known:
                backfill = cursor is None
                if not backfill or advisory["state"] in OPEN_STATES:
                    await self._emit(
                        installation_id, repository, advisory, "discovered", [], encoded
                    )
                    events += 1
            else:
                changes = changed_fields(known[ghsa_id], encoded)
                if changes is not None:  # None: a fingerprint of another key, the new baseline
                    await self._emit(
                        installation_id, repository, advisory, "updated", changes, encoded
                    )
                    events += 1
            seen.append(SeenAdvisory(repository, ghsa_id, installation_id, advisory, encoded, now))
        if seen:
            await self.advisories.set_fingerprints(seen)
        if newest is not None and newest != cursor:
            await self.advisories.set_poll_cursor(repository, newest)
        elif cursor is None:
            await self.advisories.set_poll_cursor(repository, "")
        if events:
            self.notify()
        return events

    async def _emit(
        self,
        installation_id: int,
        repository: str,
        advisory: Mapping[str, Any],
        action: str,
        changes: list[str],
        encoded: str,
    ) -> None:
        ghsa_id = advisory["ghsa_id"]
        digest = hashlib.sha256(encoded.encode()).hexdigest()[:16]
        await self.followups.advisory_changed(
            f"poll:{repository}:{ghsa_id}:{digest}",
            action,
            changes,
            installation_id=installation_id,
            repository=repository,
            ghsa_id=ghsa_id,
            state=advisory["state"],
            source="poll",
            wake=False,
        )
