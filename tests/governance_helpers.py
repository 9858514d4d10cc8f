"""Helpers for the governance tests: a governance repository, members who sign in and vote."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.fakegithub import FakeGitHub
from tests.harness import BotUnderTest, SteppedClock, start_with_team

GOVERNANCE = "python/psrt-governance"
DAY = 86400.0


@dataclass
class Governance:
    bot: BotUnderTest
    fake: FakeGitHub
    clock: SteppedClock
    issue: int

    @property
    def roster(self) -> list[Any]:
        return self.bot.services.team_data.roster()

    def members(self, role: str | None = None) -> list[str]:
        return [e.login for e in self.roster if role is None or role in e.roles]

    async def comment(self, login: str, body: str) -> dict[str, Any]:
        """`login` comments on the nomination issue; GitHub sends the webhook."""
        comment = self.fake.add_issue_comment(GOVERNANCE, self.issue, login, body)
        payload = self.fake.issue_comment_payload(
            GOVERNANCE, self.issue, comment, self.bot.installation_id
        )
        sent = await self.bot.send("issue_comment", payload)
        assert sent.status == 202, sent.body
        await self.bot.settle()
        return comment

    def bot_comments(self) -> list[str]:
        return [
            body
            for body in self.fake.issue_comment_bodies(GOVERNANCE, self.issue)
            if "<!-- ghsa-bot:" in body
        ]

    async def scan(self) -> int:
        added = await self.bot.services.governance_jobs.scan_once()
        await self.bot.settle()
        return added

    async def audit(self, nomination: int) -> list[str]:
        log = await self.bot.services.advisories.audit_log(
            GOVERNANCE, f"nomination-{nomination}"
        )
        return [f"{entry.action}: {entry.reason}" for entry in log]


async def start_governance(
    start_bot: Any, fake: FakeGitHub, clock: SteppedClock, **overrides: str
) -> Governance:
    """The bot with the governance repository installed and sign-in configured."""
    if GOVERNANCE not in fake.repos:
        fake.add_repository(GOVERNANCE, private=True)
        fake.installation_repos[fake.primary_installation].append(GOVERNANCE)  # type: ignore[attr-defined]
    overrides.setdefault("GITHUB_CLIENT_SECRET", fake.app.client_secret)
    bot = await start_with_team(start_bot, fake, clock, **overrides)
    issue = fake.new_issue(GOVERNANCE, "Nomination", "Let us grow the team.", "warsaw")
    return Governance(bot, fake, clock, int(issue["number"]))


async def signed_in(bot_url: str, fake: FakeGitHub, login: str) -> aiohttp.ClientSession:
    """A browser-like session signed in to the bot as `login`, through the OAuth flow."""
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    fake.web_user = login
    async with session.get(f"{bot_url}/auth/login?next=/team") as response:
        assert response.status == 200, await response.text()
        assert str(response.url).endswith("/team")
    return session


async def cast_ballot(
    session: aiohttp.ClientSession, bot_url: str, nomination: int, choice: str
) -> tuple[int, str]:
    async with session.get(f"{bot_url}/vote/{nomination}") as page:
        text = await page.text()
        if page.status != 200:
            return page.status, text
    token = re.search(r'name=token value="([0-9a-f]+)"', text)
    assert token, text
    async with session.post(
        f"{bot_url}/vote/{nomination}", data={"choice": choice, "token": token.group(1)}
    ) as response:
        return response.status, await response.text()
