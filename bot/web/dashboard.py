"""The team's dashboard, `GET /dashboard`: every open advisory, for signed-in members only.

Signed in with GitHub (bot/web/signin.py), like the ballot page. Only members of
the roster (`TeamData.roster()`, which fails closed) see it; a signed-in
non-member gets a 403 that shows nothing of any advisory, not even how many
there are; an anonymous visitor is sent to sign in and comes back here.

Each open advisory the store holds (`AdvisoryStore.open_advisories`, across
every installation) is a row: repository, GHSA id and title, state,
coordinator, days open, days to the deadline (the received day plus
`policy.response_days`, the earliest in a linked group), the group's planned
disclosure date, the other advisories of its linked group, and what the
publication checklist (bot/records/checklist.py) still misses. The rows sort
by `?sort=` (deadline by default; `dir=desc` reverses) and `?mine=1` keeps the
signed-in member's own. An inline SVG timeline (bot/web/timeline_svg.py)
draws each from received to deadline with today marked. No script.

The title and the checklist's advisory fields are not in the store: the bot
keeps no advisory text at rest. They are read from GitHub per view, one
ETag-cached GET per open advisory through its installation's client, paid as
the poller's share of the points budget (so handlers keep their room),
at most `FETCHES_AT_ONCE` at once and `GITHUB_SECONDS` in all, and kept in
memory only, for `CACHE_SECONDS`, per advisory fingerprint. What GitHub does
not answer in time is shown as unknown, and the checklist then judges only
what the store knows (coordinator credit, merged fix, credits accepted).

What it answers: 503 when sign-in is not configured or the store is
unavailable, 302 to `/auth/login?next=...` without a live session, 400 for a
malformed session cookie, 403 for a non-member, else 200. Every answer is
`Cache-Control: no-store` with the headers of bot/web/hardening.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import cachetools
from aiohttp import web

from bot.advisories.deadlines import DAY
from bot.advisories.fixes import FixLinks
from bot.advisories.groups import group_received_at
from bot.advisories.store import AdvisoryRecord, AdvisoryStore
from bot.app import SERVICES
from bot.core.clock import Clock
from bot.core.config import BotConfig
from bot.core.logs import fields
from bot.github.budget import as_poller
from bot.github.client import GitHubApp
from bot.queue.store import StoreUnavailable
from bot.records.bindings import CveBindings
from bot.records.checklist import Check, Facts, merged_fix_names, run_checklist
from bot.records.cve_ids import Binding, binding_of
from bot.team.data import TeamData
from bot.web.dashboard_html import Row, dashboard_page, members_only
from bot.web.signin import SignInDoors, missing_settings, not_configured, page, signed_in_as

log = logging.getLogger("ghsa_bot.dashboard")

FETCHES_AT_ONCE = 8
GITHUB_SECONDS = 8.0
CACHE_SECONDS = 60.0
SORTS = ("deadline", "opened", "repository", "advisory", "state", "coordinator", "planned")
# What the store's identifiers must look like before they go into a GitHub path.
REPOSITORY = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")
GHSA = re.compile(r"GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}")
# Items the store can judge without GitHub's copy of the advisory.
STORED_ITEMS = ("coordinator_credit", "merged_fix", "credits_accepted")

AdvisoryCache = cachetools.TTLCache[tuple[str, str, str | None], Mapping[str, Any]]
CACHE: web.AppKey[AdvisoryCache] = web.AppKey("dashboard_advisories")


class DashboardDoors(SignInDoors, Protocol):
    """What the dashboard uses: sign-in's parts, the roster, the store, GitHub, a clock."""

    config: BotConfig
    clock: Clock
    advisories: AdvisoryStore
    team_data: TeamData
    fix_links: FixLinks
    cve_bindings: CveBindings
    github: GitHubApp


@dataclass(frozen=True)
class View:
    """What the query asks for, read from a closed set (nothing of it is echoed raw)."""

    sort: str
    descending: bool
    mine: bool

    @classmethod
    def of(cls, query: Mapping[str, str]) -> View:
        sort = query.get("sort", "")
        return cls(
            sort if sort in SORTS else "deadline",
            query.get("dir") == "desc",
            query.get("mine") == "1",
        )

    def path(self) -> str:
        """This view's own URL (for the sign-in's way back)."""
        query = {"sort": self.sort} if self.sort != "deadline" else {}
        if self.descending:
            query["dir"] = "desc"
        if self.mine:
            query["mine"] = "1"
        return "/dashboard" + (f"?{urlencode(query)}" if query else "")


def is_member(services: DashboardDoors, login: str) -> bool:
    """A member of the roster (empty when the team cannot be confirmed: fail closed)."""
    return any(entry.login.lower() == login.lower() for entry in services.team_data.roster())


async def dashboard(request: web.Request) -> web.Response:
    services: DashboardDoors = request.app[SERVICES]
    view = View.of(request.query)
    if missing_settings(services):
        return not_configured(services)
    try:
        login = await signed_in_as(request)
        if login is None:
            raise web.HTTPFound("/auth/login?" + urlencode({"next": view.path()}))
        if not is_member(services, login):
            return members_only(login, services.config.team.name)
        now = services.clock.now()
        rows = await collect_rows(services, request.app[CACHE], now)
    except StoreUnavailable:
        return page("Try again shortly", "<p>The store is unavailable.</p>", 503)
    if view.mine:
        rows = [row for row in rows if (row.record.coordinator or "").lower() == login.lower()]
    rows = sorted_rows(rows, view.sort, view.descending)
    body = dashboard_page(
        rows,
        now=now,
        login=login,
        team=services.config.team.name,
        sort=view.sort,
        descending=view.descending,
        mine=view.mine,
        web_url=services.settings.web_url,
    )
    return web.Response(text=body, content_type="text/html", headers={"Vary": "Cookie"})


def sorted_rows(rows: Sequence[Row], sort: str, descending: bool) -> list[Row]:
    def key(row: Row) -> tuple[Any, ...]:
        record = row.record
        tail = (row.deadline, record.repository.lower(), record.ghsa_id)
        if sort == "opened":
            return (record.received_at, *tail)
        if sort == "repository":
            return (record.repository.lower(), record.ghsa_id)
        if sort == "advisory":
            return (record.ghsa_id, record.repository.lower())
        if sort == "state":
            return (record.state, *tail)
        if sort == "coordinator":
            return (record.coordinator is None, (record.coordinator or "").lower(), *tail)
        if sort == "planned":
            planned = row.planned or datetime.date.max
            return (row.planned is None, planned, *tail)
        return tail

    return sorted(rows, key=key, reverse=descending)


async def collect_rows(services: DashboardDoors, cache: AdvisoryCache, now: float) -> list[Row]:
    """One row per open advisory: the store's facts, and GitHub's copy where it answered."""
    records = await services.advisories.open_advisories()
    if not records:
        return []
    copies = await github_copies(services, records, cache)
    days = services.config.policy.response_days
    rows = []
    for record in records:
        member = (record.repository, record.ghsa_id)
        group = await services.advisories.linked_group(*member)
        advisory = copies.get(member)
        rows.append(
            Row(
                record=record,
                title=str(advisory.get("summary") or "") if advisory is not None else None,
                deadline=await group_received_at(services.advisories, record) + days * DAY,
                group=tuple(m for m in group if m != member),
                planned=await services.advisories.planned_disclosure(*member),
                missing=tuple(await _missing(services, record, advisory)),
                complete=advisory is not None,
                days_open=max(0, math.floor((now - record.received_at) / DAY)),
            )
        )
    return rows


async def _missing(
    services: DashboardDoors, record: AdvisoryRecord, advisory: Mapping[str, Any] | None
) -> list[Check]:
    """The failing checklist items: all of them from GitHub's copy, else what the store knows."""
    config = services.config
    fixes = await services.fix_links.fixes(record.repository, record.ghsa_id)
    publish = config.publish
    if advisory is None:
        stored = await services.advisories.credits(record.repository, record.ghsa_id)
        advisory = {
            "credits_detailed": [
                {"user": {"login": c.login}, "type": c.type, "state": c.state} for c in stored
            ]
        }
        items = tuple(item for item in publish.checklist if item in STORED_ITEMS)
        publish = dataclasses.replace(publish, checklist=items)
    binding = await binding_of(
        services.cve_bindings,
        record.repository,
        record.ghsa_id,
        advisory.get("cve_id"),
        trust_the_field=config.unsafe.collaborators_choose_the_cve_id,
    )
    facts = Facts(
        merged_fixes=merged_fix_names(fixes),
        coordinator=record.coordinator,
        any_coordinator_credit=config.unsafe.collaborators_name_the_coordinator_with_credits,
        cve_bound=binding is Binding.OURS,
    )
    return [check for check in run_checklist(advisory, facts, publish) if not check.passed]


async def github_copies(
    services: DashboardDoors, records: Sequence[AdvisoryRecord], cache: AdvisoryCache
) -> dict[tuple[str, str], Mapping[str, Any]]:
    """GitHub's copy of each advisory that answered within GITHUB_SECONDS."""
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    gate = asyncio.Semaphore(FETCHES_AT_ONCE)

    async def read(record: AdvisoryRecord) -> None:
        key = (record.repository, record.ghsa_id, record.fingerprint)
        cached = cache.get(key)
        if cached is not None:
            found[key[:2]] = cached
            return
        if not REPOSITORY.fullmatch(record.repository) or not GHSA.fullmatch(record.ghsa_id):
            return
        async with gate:
            with as_poller():  # a background read: the handlers' share stays theirs
                client = services.github.installation(record.installation_id)
                answer = await client.getitem(
                    f"/repos/{record.repository}/security-advisories/{record.ghsa_id}"
                )
        if isinstance(answer, dict) and answer.get("ghsa_id") == record.ghsa_id:
            found[key[:2]] = cache[key] = answer

    tasks = [asyncio.ensure_future(read(record)) for record in records]
    done, pending = await asyncio.wait(tasks, timeout=GITHUB_SECONDS)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    failures = [type(t.exception()).__name__ for t in done if t.exception() is not None]
    if failures or pending:
        log.warning(
            "dashboard: advisories not read from GitHub",
            extra=fields(
                failed=len(failures), late=len(pending), error=",".join(sorted(set(failures)))
            ),
        )
    return found


def add_dashboard_routes(app: web.Application) -> None:
    app[CACHE] = cachetools.TTLCache(maxsize=4096, ttl=CACHE_SECONDS)
    app.router.add_get("/dashboard", dashboard)
