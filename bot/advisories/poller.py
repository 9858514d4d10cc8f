"""The advisory poller: what GitHub sends no webhook for becomes events.

`repository_advisory` webhooks fire only for `reported` and `published`. Every
`interval` seconds the poller lists advisories sorted by update, newest first,
through the installation's ETag cache (an unchanged page is a 304 and costs no
rate limit), compares each with the fingerprint it last saw, and stores an
`advisory` event (`discovered` or `updated`, with the names of the changed
fields) on the same queue as webhooks. Its GUID is derived from the change, so a
change seen twice (a restart, a second replica) is stored once.

What a cycle costs follows organizations and changes, not repositories:

- An organization's installation is listed once per cycle with
  `GET /orgs/{org}/security-advisories?sort=updated&direction=desc` (cursor
  pages from `Link`), keeping only the installation's repositories. A personal
  account, or an organization whose list GitHub refuses (403, 404, 422: the App
  is not an owner or security manager), is listed repository by repository, and
  the log says so once per account.
- A walk stops at the first advisory older than what was seen last time, unless
  an open advisory has not been seen yet: every open advisory's `comments` count
  and `updated_at` are known each cycle (from a 304 when nothing moved).
- An open advisory's comments are read when its count or `updated_at` moved
  since they were last read. Edits change neither, so the edit sweep re-reads
  each open advisory that has a person's comment at least every
  `edit_sweep_minutes`, a share of them each cycle (bot/advisories/poll_state.py).
- Every request pays the process's points budget (bot/github/budget.py) as the
  poller's; when the budget is short the listing waits and comment reads are
  left for a later cycle, so handlers keep their room.

A repository polled for the first time is backfilled: its open advisories
(`triage`, `draft`) are discovered; closed and published ones are only noted.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gidgethub import HTTPException

from bot.advisories.comment_poll import CommentPoller
from bot.advisories.poll_state import Key, Observed, PollReport, PollState
from bot.advisories.store import AdvisoryStore, SeenAdvisory
from bot.core.digests import changed_fields
from bot.core.logs import fields
from bot.core.metrics import Metrics
from bot.github.budget import RequestBudget, as_poller
from bot.github.client import GitHubApp, GitHubClient, error_summary
from bot.github.installations import Installation, Installations, Repository
from bot.queue.followups import FollowUps
from bot.queue.store import StoreUnavailable

log = logging.getLogger("ghsa_bot.poller")

OPEN_STATES = ("triage", "draft")
LIST_QUERY = "sort=updated&direction=desc&per_page=100"
# GitHub's answers meaning "not for you": the organization list is then read per repository.
REFUSALS = frozenset({403, 404, 422})
# A refused organization list is tried again after this long (permissions can change).
RETRY_REFUSED_SECONDS = 3600.0
_REPOSITORY_OF = re.compile(r"/repos/([^/]+/[^/]+)/security-advisories/")


@dataclass
class _Walk:
    """One list walk's bookkeeping."""

    installation_id: int
    repositories: Mapping[str, str]  # lower-cased name -> the installation's spelling
    cursor: str | None
    backfill: set[str]  # repositories seen for the first time
    newest: str | None = None
    newest_by_repository: dict[str, str] = field(default_factory=dict)
    seen: list[SeenAdvisory] = field(default_factory=list)
    known: dict[str, dict[str, str | None]] = field(default_factory=dict)
    events: int = 0


def repository_of(advisory: Mapping[str, Any]) -> str | None:
    """OWNER/REPO from an advisory's API `url` (the object names no repository)."""
    match = _REPOSITORY_OF.search(str(advisory.get("url") or ""))
    return match.group(1) if match else None


class AdvisoryPoller:
    def __init__(
        self,
        github: GitHubApp,
        installations: Installations,
        advisories: AdvisoryStore,
        followups: FollowUps,
        *,
        interval: float = 60.0,
        edit_sweep_minutes: float = 10.0,
        budget: RequestBudget | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.github = github
        self.installations = installations
        self.advisories = advisories
        self.followups = followups
        self.state = PollState(advisories.database)
        self.now = followups.now
        self.notify = followups.notify
        self.interval = interval
        self.edit_sweep_seconds = edit_sweep_minutes * 60.0
        self.budget = budget if budget is not None else github.budget
        self.metrics = metrics if metrics is not None else github.metrics
        self.cycles = 0
        self.observed: dict[Key, Observed] = {}
        self._refused: dict[str, float] = {}  # organization -> when GitHub refused its list
        self._said: set[str] = set()  # accounts whose per-repository listing was logged
        self.comments = CommentPoller(
            github,
            advisories,
            followups,
            self.state,
            interval=interval,
            edit_sweep_seconds=self.edit_sweep_seconds,
            budget=self.budget,
            metrics=self.metrics,
        )

    async def run(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self.interval)

    # -- a cycle -------------------------------------------------------------------

    async def poll_once(self) -> PollReport:
        started = time.monotonic()
        report = PollReport()
        with as_poller():
            observed: dict[Key, Observed] = {}
            open_ids: dict[str, set[str]] = {}
            for record in await self.advisories.open_advisories():
                open_ids.setdefault(record.repository.lower(), set()).add(record.ghsa_id)
            for installation in await self.installations.installations():
                if not installation.suspended:
                    await self._poll_installation(installation, open_ids, observed, report)
            self.observed.update(observed)
            await self.comments.cycle(observed, report)
        self.cycles += 1
        self.metrics.poll_cycle_duration.observe(time.monotonic() - started)
        if report.errors == 0:
            self.metrics.poll_last_success.set(self.now())
        return report

    async def _poll_installation(
        self,
        installation: Installation,
        open_ids: Mapping[str, set[str]],
        observed: dict[Key, Observed],
        report: PollReport,
    ) -> None:
        repositories = await self.installations.repositories(installation.id)
        report.repositories += len(repositories)
        if self._org_list_usable(installation):
            try:
                report.events += await self.poll_organization(
                    installation, repositories, open_ids, observed, report
                )
                self._accepted(installation)
                return
            except StoreUnavailable:
                raise
            except HTTPException as error:
                if int(error.status_code) not in REFUSALS:
                    self._failed(installation, error, report)
                    return
                self._refused[installation.account_login] = self.now()
                self._say_per_repository(installation, f"refused ({int(error.status_code)})")
            except Exception as error:
                self._failed(installation, error, report)
                return
        for repository in repositories:
            try:
                report.events += await self.poll_repository(
                    installation.id, repository.full_name, open_ids, observed, report
                )
            except StoreUnavailable:
                raise
            except Exception as error:
                self._failed(installation, error, report)

    def _org_list_usable(self, installation: Installation) -> bool:
        if installation.account_type == "User":
            self._say_per_repository(installation, "a personal account")
            return False
        refused = self._refused.get(installation.account_login)
        return refused is None or self.now() - refused >= RETRY_REFUSED_SECONDS

    def _say_per_repository(self, installation: Installation, why: str) -> None:
        if installation.account_login in self._said:
            return
        self._said.add(installation.account_login)
        log.info(
            "advisories listed per repository: the organization list is not available",
            extra=fields(
                installation=installation.id, account=installation.account_login, reason=why
            ),
        )

    def _accepted(self, installation: Installation) -> None:
        if self._refused.pop(installation.account_login, None) is not None:
            self._said.discard(installation.account_login)
            log.info(
                "the organization's advisory list is available again",
                extra=fields(installation=installation.id, account=installation.account_login),
            )

    def _failed(self, installation: Installation, error: Exception, report: PollReport) -> None:
        report.errors += 1
        log.warning(
            "advisory poll failed",
            extra=fields(installation=installation.id, error=error_summary(error)),
        )

    # -- listing -------------------------------------------------------------------

    async def poll_organization(
        self,
        installation: Installation,
        repositories: list[Repository],
        open_ids: Mapping[str, set[str]],
        observed: dict[Key, Observed],
        report: PollReport,
    ) -> int:
        """One walk of the organization's list, newest update first."""
        org = installation.account_login
        names = {repository.full_name.lower(): repository.full_name for repository in repositories}
        cursor_key = f"org:{org}"
        cursor = await self.advisories.poll_cursor(cursor_key)
        uncovered = set(names.values()) - await self.state.covered(names.values())
        walk = _Walk(
            installation.id, names, None if uncovered else cursor, uncovered, newest=cursor
        )
        url = f"/orgs/{org}/security-advisories?{LIST_QUERY}"
        client = self.github.installation(installation.id)
        await self._walk(client, url, walk, open_ids, observed, report)
        await self._finish(walk)
        if walk.newest is not None and walk.newest != cursor:
            await self.advisories.set_poll_cursor(cursor_key, walk.newest)
        elif cursor is None:
            await self.advisories.set_poll_cursor(cursor_key, "")
        covered = {name: walk.newest_by_repository.get(name, "") for name in uncovered}
        await self.state.cover(covered)
        return walk.events

    async def poll_repository(
        self,
        installation_id: int,
        repository: str,
        open_ids: Mapping[str, set[str]] | None = None,
        observed: dict[Key, Observed] | None = None,
        report: PollReport | None = None,
    ) -> int:
        cursor = await self.advisories.poll_cursor(repository)
        walk = _Walk(
            installation_id,
            {repository.lower(): repository},
            cursor,
            {repository} if cursor is None else set(),
            newest=cursor,
        )
        url = f"/repos/{repository}/security-advisories?{LIST_QUERY}"
        client = self.github.installation(installation_id)
        await self._walk(client, url, walk, open_ids or {}, observed, report or PollReport())
        await self._finish(walk)
        if walk.newest is not None and walk.newest != cursor:
            await self.advisories.set_poll_cursor(repository, walk.newest)
        elif cursor is None:
            await self.advisories.set_poll_cursor(repository, "")
        return walk.events

    async def _walk(
        self,
        client: GitHubClient,
        url: str,
        walk: _Walk,
        open_ids: Mapping[str, set[str]],
        observed: dict[Key, Observed] | None,
        report: PollReport,
    ) -> None:
        """Every item newer than the cursor is compared; the walk goes on past the
        cursor only while an open advisory of these repositories is still unseen."""
        unseen = {ghsa for name in walk.repositories for ghsa in open_ids.get(name, ())}
        next_url: str | None = url
        while next_url is not None:
            page = await client.getpage(next_url)
            report.requests += 1
            self.metrics.poll_requests.inc(kind="list")
            for advisory in page.items:
                repository = walk.repositories.get((repository_of(advisory) or "").lower())
                if repository is None:
                    continue  # a repository of the organization the App was not given
                ghsa_id = str(advisory["ghsa_id"])
                updated_at = str(advisory.get("updated_at") or "")
                unseen.discard(ghsa_id)
                if observed is not None:
                    count = advisory.get("comments")
                    observed[(repository, ghsa_id)] = Observed(
                        walk.installation_id,
                        count if isinstance(count, int) and not isinstance(count, bool) else None,
                        updated_at,
                    )
                if walk.cursor is not None and updated_at < walk.cursor:
                    if not unseen:
                        return  # sorted by update: the rest is older than what we saw
                    continue
                await self._compare(walk, repository, advisory)
            last = str(page.items[-1].get("updated_at") or "") if page.items else ""
            if walk.cursor is not None and not unseen and last <= walk.cursor:
                return  # what follows is no newer than the cursor, and every open one was seen
            next_url = page.next_url

    async def _compare(self, walk: _Walk, repository: str, advisory: Mapping[str, Any]) -> None:
        known = walk.known.get(repository)
        if known is None:
            known = walk.known[repository] = await self.advisories.fingerprints(repository)
        ghsa_id = advisory["ghsa_id"]
        updated_at = str(advisory.get("updated_at") or "")
        encoded = self.advisories.fingerprint_of(advisory)
        # Seen and known (the bot's own change, say) moves the cursor as much as a change.
        walk.newest = max(walk.newest or "", updated_at)
        newest = walk.newest_by_repository.get(repository, "")
        walk.newest_by_repository[repository] = max(newest, updated_at)
        if known.get(ghsa_id) == encoded:
            return
        if ghsa_id not in known:
            if repository not in walk.backfill or advisory["state"] in OPEN_STATES:
                await self._emit(walk.installation_id, repository, advisory, "discovered", encoded)
                walk.events += 1
        else:
            changes = changed_fields(known[ghsa_id], encoded)
            if changes is not None:  # None: a fingerprint of another key, the new baseline
                await self._emit(
                    walk.installation_id, repository, advisory, "updated", encoded, changes
                )
                walk.events += 1
        known[ghsa_id] = encoded
        walk.seen.append(
            SeenAdvisory(repository, ghsa_id, walk.installation_id, advisory, encoded, self.now())
        )

    async def _finish(self, walk: _Walk) -> None:
        if walk.seen:
            await self.advisories.set_fingerprints(walk.seen)
        if walk.events:
            self.notify()

    async def _emit(
        self,
        installation_id: int,
        repository: str,
        advisory: Mapping[str, Any],
        action: str,
        encoded: str,
        changes: list[str] | None = None,
    ) -> None:
        ghsa_id = advisory["ghsa_id"]
        digest = hashlib.sha256(encoded.encode()).hexdigest()[:16]
        await self.followups.advisory_changed(
            f"poll:{repository}:{ghsa_id}:{digest}",
            action,
            changes or [],
            installation_id=installation_id,
            repository=repository,
            ghsa_id=ghsa_id,
            state=advisory["state"],
            source="poll",
            wake=False,
        )

    async def poll_comments(self) -> int:
        """Read every open advisory's comments now (new and edited become events)."""
        return await self.comments.poll_all(self.observed)
