"""The public team page, `GET /team`: members with their roles, and yearly figures.

Server-rendered HTML without JavaScript. The member list is the canonical
roster (what PEP 811 says is published anyway). The figures count published
advisories only (bot/governance/statistics.py, `published_only=True`), so nothing of an
unpublished advisory, not even that it exists, reaches this page.

It answers 200 with the page, or 503 when the store is unavailable; like every
page it carries the headers of bot/web/hardening.py (no script, no framing,
`no-store`).
"""

from __future__ import annotations

import datetime
from html import escape
from typing import Protocol

from aiohttp import web

from bot.advisories.store import AdvisoryStore
from bot.app import SERVICES
from bot.core.clock import Clock
from bot.core.config import BotConfig
from bot.governance.statistics import year_statistics
from bot.queue.store import StoreUnavailable
from bot.team.data import TeamData
from bot.web.signin import page


class TeamPageDoors(Protocol):
    """What the public team page uses: the configuration, the roster, the records, a clock."""

    config: BotConfig
    clock: Clock
    advisories: AdvisoryStore
    team_data: TeamData


def _roles(services: TeamPageDoors, login: str, roles: frozenset[str]) -> str:
    shown: list[str] = [role for role in ("Admin", "Release Manager") if role in roles]
    if login.lower() in services.config.coordinators.roster.steering_council:
        shown.append("Steering Council")
    return ", ".join(shown)


async def team(request: web.Request) -> web.Response:
    services: TeamPageDoors = request.app[SERVICES]
    roster = services.team_data.roster()
    try:
        records = await services.advisories.all_advisories()
        published = await services.advisories.published()
    except StoreUnavailable:
        return page("Try again shortly", "<p>The store is unavailable.</p>", 503)
    members = "".join(
        f'<tr><td>{escape(entry.name)}</td><td><a href="https://github.com/{escape(entry.login)}">'
        f"@{escape(entry.login)}</a></td><td>{escape(_roles(services, entry.login, entry.roles))}"
        "</td></tr>"
        for entry in sorted(roster, key=lambda e: e.name.lower())
    )
    former = services.config.coordinators.roster.emeritus
    emeritus = ", ".join(escape(person.name) for person in former)
    now = services.clock.now()
    years = sorted(
        {int(str(p.record.get("published_at") or "0000")[:4]) for p in published} - {0},
        reverse=True,
    ) or [datetime.datetime.fromtimestamp(now, datetime.UTC).year]
    tables = []
    for year in years:
        figures = year_statistics(
            year,
            records,
            published,
            response_days=services.config.policy.response_days,
            now=now,
            published_only=True,
        )
        rows = "".join(
            f"<tr><th scope=row>{escape(label)}</th><td>{escape(value)}</td></tr>"
            for label, value in figures.rows()
        )
        tables.append(f'<table id="year-{year}"><caption>{year}</caption>{rows}</table>')
    body = (
        f"<p>{len(roster)} members. The list is kept by the team's admins (PEP 811).</p>"
        "<table id=members><thead><tr><th>Name</th><th>GitHub</th><th>Role</th></tr></thead>"
        f"<tbody>{members}</tbody></table>"
        + (f"<h2>Emeritus</h2><p id=emeritus>{emeritus}</p>" if emeritus else "")
        + "<h2>Published advisories by year</h2><p>Counted from published advisories only; "
        "days are from the report's arrival.</p>"
        + "".join(tables)
        + '<p><a href="/credits">Credits for each published advisory</a></p>'
    )
    return page(services.config.team.name, body)


def add_team_routes(app: web.Application) -> None:
    app.router.add_get("/team", team)
