"""The team's dashboard, `GET /dashboard`, over real HTTP and in headless Chromium.

Two installations in two organizations (python/cpython and pypa/pip), three open
advisories (one late, two linked with a planned disclosure), one published and
one closed that must not show. Members sign in through the fake GitHub's OAuth
flow; everyone else must learn nothing of any advisory.
"""

from __future__ import annotations

import asyncio
import datetime
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from bot.advisories.links import LinkStore
from bot.advisories.store import AdvisoryRecord
from bot.web.signin import SESSION_COOKIE
from tests.browser import chromium, page_wait, require_browser
from tests.fakegithub import FakeGitHub
from tests.governance_helpers import signed_in
from tests.harness import OUTSIDE_TEAM, BotUnderTest, SteppedClock, start_with_team

DAY = 86400.0
HOSTILE = (
    "<script>alert(1)</script></svg></table><img src=x onerror=alert(2)>"
    "\u202eevil\u2066 in zipfile \x1b[31m" + "A" * 900  # GitHub allows 1,024
)
PLANNED = datetime.date(2031, 1, 15)


@dataclass
class Dashboard:
    bot: BotUnderTest
    fake: FakeGitHub
    late: str  # python/cpython, received 100 days ago, coordinated by `coordinator`
    pip: str  # pypa/pip, received 30 days ago, coordinated by `coordinator`, linked
    linked: str  # python/cpython, received 10 days ago, coordinated by `other`, linked
    hidden: list[str]  # published and closed advisories: never shown
    coordinator: str
    other: str

    @property
    def url(self) -> str:
        return f"{self.bot.url}/dashboard"


async def start_dashboard(start_bot: Any, fake: FakeGitHub, **overrides: str) -> Dashboard:
    pip_installation = fake.add_installation("pypa", ["pypa/pip"])
    clock = SteppedClock()
    overrides.setdefault("GITHUB_CLIENT_SECRET", fake.app.client_secret)
    bot = await start_with_team(start_bot, fake, clock, **overrides)
    members = [e.login for e in bot.services.team_data.roster() if e.login not in OUTSIDE_TEAM]
    coordinator, other = members[0], members[1]
    now = clock.now()
    store = bot.services.advisories

    async def advisory(
        repository: str,
        installation: int,
        title: str,
        days_ago: float,
        coordinator: str | None,
        *,
        state: str = "triage",
        completed: bool = False,
    ) -> str:
        created = fake.new_advisory(repository, summary=title, description="d", reporter="rep")
        created["state"] = state
        received = now - days_ago * DAY
        await store.save(
            AdvisoryRecord(
                repository=repository,
                ghsa_id=created["ghsa_id"],
                installation_id=installation,
                state=state,
                reporter="rep",
                coordinator=coordinator,
                received_at=received,
                acknowledged_at=received,
                last_activity_at=received,
                github_updated_at=None,
                fingerprint=None,
                completed_at=now if completed else None,
            )
        )
        return str(created["ghsa_id"])

    main = bot.installation_id
    late = await advisory("python/cpython", main, HOSTILE, 100, coordinator)
    pip = await advisory("pypa/pip", pip_installation, "pip vendors it too", 30, coordinator)
    linked = await advisory(
        "python/cpython", main, "zipfile differential", 10, other, state="draft"
    )
    hidden = [
        await advisory(
            "python/cpython", main, "long published", 200, other, state="published", completed=True
        ),
        await advisory("python/cpython", main, "closed as invalid", 150, other, state="closed"),
    ]
    links = LinkStore(bot.services.store.database)
    await links.link(("pypa/pip", pip), ("python/cpython", linked), by=other, at=now)
    await links.set_planned_disclosure(
        [("pypa/pip", pip), ("python/cpython", linked)], PLANNED, by=other, at=now
    )
    return Dashboard(bot, fake, late, pip, linked, hidden, coordinator, other)


def browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, str, Any]:
    async with session.get(url, allow_redirects=False) as response:
        return response.status, await response.text(), response.headers


def order(body: str) -> list[str]:
    return re.findall(r'<tr class="advisory[^"]*" data-ghsa="([^"]+)"', body)


def row_of(body: str, ghsa_id: str) -> str:
    return body.split(f'data-ghsa="{ghsa_id}"', 1)[1].split("</tr>", 1)[0]


def assert_hardened(headers: Any) -> None:
    assert headers["Cache-Control"] == "no-store"
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src" not in policy and "unsafe-eval" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


class Elements(HTMLParser):
    """Every element and attribute name a browser would build from the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]


async def test_an_anonymous_visitor_is_sent_to_sign_in_and_comes_back(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    world = await start_dashboard(start_bot, fake)
    async with browser() as session:
        status, body, headers = await get(session, f"{world.url}?mine=1&sort=opened")
        assert status == 302
        location = urlsplit(headers["Location"])
        assert location.path == "/auth/login"
        assert parse_qs(location.query) == {"next": ["/dashboard?sort=opened&mine=1"]}
        assert_hardened(headers)
        assert world.late not in body and "cpython" not in body
        fake.web_user = world.coordinator
        async with session.get(f"{world.url}?mine=1&sort=opened") as response:
            assert response.status == 200
            assert response.url.path_qs == "/dashboard?sort=opened&mine=1"
            assert world.late in await response.text()


async def test_a_forged_or_broken_session_cookie_shows_nothing(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    world = await start_dashboard(start_bot, fake)
    session = await signed_in(world.bot.url, fake, world.coordinator)
    async with session:
        cookie = next(c for c in session.cookie_jar if c.key == SESSION_COOKIE).value
        payload = cookie.rsplit(".", 1)[0]
        for forged, status in (
            (f"{payload}.{'0' * 64}", 302),  # well-formed, wrongly signed: not signed in
            ("<script>", 400),  # not one of ours: removed
        ):
            async with browser() as other:
                other.cookie_jar.update_cookies({SESSION_COOKIE: forged})
                code, body, headers = await get(other, world.url)
                assert code == status, body
                assert_hardened(headers)
                assert world.late not in body and "cpython" not in body
        await session.get(f"{world.bot.url}/auth/logout", allow_redirects=False)
        async with browser() as copied:  # a copy of the cookie taken before the logout
            copied.cookie_jar.update_cookies({SESSION_COOKIE: cookie})
            code, body, _ = await get(copied, world.url)
            assert code == 302 and world.late not in body


async def test_without_sign_in_configured_the_dashboard_is_503_and_shows_nothing(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    world = await start_dashboard(start_bot, fake, GITHUB_CLIENT_SECRET="")
    async with browser() as session:
        status, body, headers = await get(session, world.url)
    assert status == 503 and "GITHUB_CLIENT_SECRET" in body
    assert_hardened(headers)
    assert world.late not in body and "cpython" not in body


async def test_a_signed_in_non_member_gets_403_and_nothing_of_any_advisory(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    world = await start_dashboard(start_bot, fake)
    # Someone of another organization's security team: a member there, not here.
    fake.team_members[("pypa", "security")] = {"pip-maintainer": "active"}
    read_before = len(fake.requests_to(r"/security-advisories/GHSA-", "GET"))
    # An outsider, another team's member, a former (emeritus) member.
    for outsider in ("mallory", "pip-maintainer", "tiran"):
        session = await signed_in(world.bot.url, fake, outsider)
        async with session:
            for query in ("", "?mine=1", "?sort=planned&dir=desc"):
                status, body, headers = await get(session, world.url + query)
                assert status == 403, (outsider, body)
                assert_hardened(headers)
                assert f"@{outsider}" in body and "Only members" in body
                for secret in (world.late, world.pip, world.linked, *world.hidden):
                    assert secret not in body
                for text in ("cpython", "pypa", "zipfile", "pip vendors", "alert", "GHSA"):
                    assert text not in body
                text = re.sub(r"<[^>]*>", "", body[body.index("<body>") :])
                assert not re.search(r"[0-9]", text), text  # not even a count
            async with session.head(world.url, allow_redirects=False) as response:
                assert response.status == 403
    # Refused before anything was read: GitHub was not asked about any advisory.
    assert len(fake.requests_to(r"/security-advisories/GHSA-", "GET")) == read_before


async def test_a_member_sees_every_open_advisory_sorted_by_deadline(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    world = await start_dashboard(start_bot, fake)
    session = await signed_in(world.bot.url, fake, world.other)
    async with session:
        status, body, headers = await get(session, world.url)
        assert status == 200, body
        assert_hardened(headers)
        # Deadline first: the late one, then the linked pair, whose group deadline is
        # pip's (received 30 days ago), by repository.
        assert order(body) == [world.late, world.pip, world.linked]
        for hidden in world.hidden:
            assert hidden not in body
        assert "3 open advisories the team holds, <strong>1 late</strong>" in body
        late_row, pip_row, linked_row = (row_of(body, g) for g in order(body))
        assert "<strong>LATE</strong> by 10 days" in late_row
        assert f"@{world.coordinator}" in late_row and "<td>100</td>" in late_row
        assert "python/cpython" in late_row and "triage" in late_row
        assert "no CWE" in late_row and "no merged public fix" in late_row
        assert "60 days left" in pip_row and "(group)" in pip_row
        assert "60 days left" in linked_row and "<td>10</td>" in linked_row
        assert f"python/cpython {world.linked}" in pip_row
        assert f"pypa/pip {world.pip}" in linked_row
        assert PLANNED.isoformat() in pip_row and PLANNED.isoformat() in linked_row
        assert "<td class=group>\u2014</td>" in late_row
        assert "<td class=planned>\u2014</td>" in late_row
        assert "pip vendors it too" in pip_row and "zipfile differential" in linked_row

        _, body, _ = await get(session, f"{world.url}?sort=opened&dir=desc")
        assert order(body) == [world.linked, world.pip, world.late]
        _, body, _ = await get(session, f"{world.url}?sort=repository")
        assert order(body)[0] == world.pip
        _, body, _ = await get(session, f"{world.url}?sort=%3Cscript%3E&dir=%22")
        assert order(body) == [world.late, world.pip, world.linked]
        assert "%3Cscript" not in body and "<script" not in body

        _, body, _ = await get(session, f"{world.url}?mine=1")
        assert order(body) == [world.linked]  # what `other` coordinates
    session = await signed_in(world.bot.url, fake, world.coordinator)
    async with session:
        _, body, _ = await get(session, f"{world.url}?mine=1")
        assert order(body) == [world.late, world.pip]
        assert "2 open advisories you coordinate" in body and "id=show-all" in body


async def test_the_timeline_marks_today_and_the_late_advisory(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    world = await start_dashboard(start_bot, fake)
    session = await signed_in(world.bot.url, fake, world.coordinator)
    async with session:
        _, body, _ = await get(session, world.url)
    svg = body[body.index("<svg id=timeline") : body.index("</svg>") + len("</svg>")]
    bars = re.findall(r'<g class="bar (late|on-time)"[^>]*><title>([^<]*)</title>', svg)
    assert [state for state, _ in bars] == ["late", "on-time", "on-time"]
    assert world.late in bars[0][1] and bars[0][1].endswith(", late")
    assert svg.count(">LATE</text>") == 1  # a word, not only a colour
    assert 'fill="url(#late-hatch)"' in svg and "<pattern id=late-hatch" in svg
    assert "<g id=today>" in svg and "stroke-dasharray" in svg
    now = world.bot.services.clock.now()
    assert "today " + datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%F") in svg
    assert "alert" not in svg and "zipfile" not in svg  # identifiers only
    # The linked pair's planned disclosure date: a diamond on each of its two bars.
    assert svg.count(f"<title>planned disclosure {PLANNED}</title>") == 2


async def test_hostile_titles_are_escaped_and_made_inert(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    world = await start_dashboard(start_bot, fake)
    session = await signed_in(world.bot.url, fake, world.coordinator)
    async with session:
        _, body, _ = await get(session, world.url)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;/svg&gt;&lt;/table&gt;&lt;img" in body
    assert "<script" not in body and "<img" not in body
    assert body.count("</svg>") == 1 and body.count("</table>") == 1
    assert "\u202e" not in body and "\u2066" not in body and "\x1b" not in body
    assert "\ufffdevil\ufffd in zipfile \ufffd[31m" in body
    assert "A" * 200 not in body and "A" * 40 + "\u2026" in body
    elements = Elements()
    elements.feed(body)
    assert "script" not in elements.tags and "img" not in elements.tags
    assert not [name for name in elements.attributes if name.startswith("on")]


async def test_an_advisory_github_does_not_answer_for_shows_the_stored_facts(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    world = await start_dashboard(start_bot, fake)
    fake.inject(rf"/security-advisories/{world.pip}$", status=404, times=100)
    session = await signed_in(world.bot.url, fake, world.coordinator)
    async with session:
        status, body, _ = await get(session, world.url)
    assert status == 200
    assert order(body) == [world.late, world.pip, world.linked]
    pip_row = row_of(body, world.pip)
    assert "title unknown: GitHub did not answer" in pip_row
    assert "only the store's facts are judged" in pip_row
    assert "no merged public fix" in pip_row and "no CWE" not in pip_row
    assert "zipfile differential" in body  # the others are read as usual


def read_dashboard(url: str, screenshot: Path) -> dict[str, Any]:
    """Sign in through the fake GitHub, read the dashboard, sort it by a header link."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    with chromium(javascript=False) as driver:
        driver.set_window_size(1500, 1100)
        driver.get(url)  # → /auth/login → the fake's authorize page → /auth/callback → here
        wait = page_wait(driver)
        wait.until(expected_conditions.presence_of_element_located((By.ID, "advisories")))
        rows = [
            row.get_attribute("data-ghsa")
            for row in driver.find_elements(By.CSS_SELECTOR, "#advisories tbody tr")
        ]
        late = driver.find_elements(By.CSS_SELECTOR, "#timeline g.late")
        today = driver.find_element(By.ID, "today").text
        titles = driver.find_elements(By.CSS_SELECTOR, "td.title bdi")
        first_title = str(titles[0].text)
        driver.save_screenshot(str(screenshot))
        table = driver.find_element(By.ID, "advisories")
        driver.find_element(By.ID, "sort-opened").click()  # a plain link: no script
        wait.until(expected_conditions.staleness_of(table))
        wait.until(expected_conditions.presence_of_element_located((By.ID, "advisories")))
        sorted_by_opened = [
            row.get_attribute("data-ghsa")
            for row in driver.find_elements(By.CSS_SELECTOR, "#advisories tbody tr")
        ]
        return {
            "rows": rows,
            "late_bars": len(late),
            "today": str(today),
            "first_title": first_title,
            "url": str(driver.current_url),
            "sorted_by_opened": sorted_by_opened,
        }


@pytest.mark.browser
async def test_the_dashboard_in_headless_chromium_without_javascript(
    start_bot: Any, fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    require_browser()
    fake, _ = fake_github
    world = await start_dashboard(start_bot, fake)
    fake.web_user = world.coordinator
    screenshot = tmp_path / "dashboard.png"
    seen = await asyncio.to_thread(read_dashboard, world.url, screenshot)
    assert seen["rows"] == [world.late, world.pip, world.linked]
    assert seen["late_bars"] == 1
    assert seen["today"].startswith("today ")
    assert seen["first_title"].startswith("<script>alert(1)</script>")  # shown as text
    assert seen["url"].endswith("/dashboard?sort=opened")
    assert seen["sorted_by_opened"] == [world.late, world.pip, world.linked]
    assert screenshot.stat().st_size > 10_000
    print(f"dashboard screenshot: {screenshot}")
