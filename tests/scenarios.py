"""Steps the end-to-end tests of the advisory workflows share.

Comment on an advisory and read the bot's replies, merge a linked fix, and a
world whose team is its own CNA (the `cna_world` fixture: import it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StartBot
from tests.fakecve import FakeCveServices
from tests.fakegithub import FakeGitHub
from tests.harness import SteppedClock, World, start_with_team


async def commented(
    world: World, advisory: dict[str, Any], login: str, body: str
) -> dict[str, Any]:
    comment = world.fake.add_advisory_comment("python/cpython", advisory["ghsa_id"], login, body)
    await world.bot.services.poller.poll_comments()
    await world.bot.settle()
    return comment


def replies(world: World, advisory: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c
        for c in world.fake.comments[("python/cpython", advisory["ghsa_id"])]
        if "<!-- ghsa-bot:reply:" in c["body"]
    ]


def merged_payload(
    world: World, number: int, author: str, *, merged: bool = True
) -> dict[str, Any]:
    payload = world.bot.payload("pull_request/closed.payload.json")
    payload["installation"] = {"id": world.bot.installation_id, "node_id": "x"}
    payload["repository"]["full_name"] = "python/cpython"
    pull = payload["pull_request"]
    pull.update(
        number=number,
        merged=merged,
        merged_at="2026-11-20T10:00:00Z" if merged else None,
        merge_commit_sha="abc123def456",
        html_url=f"https://github.com/python/cpython/pull/{number}",
    )
    pull["user"]["login"] = author
    return payload


def configure(bot_env: dict[str, str], edit: Callable[[str], str]) -> None:
    toml = Path(bot_env["BOT_CONFIG"]) / "bot.toml"
    toml.write_text(edit(toml.read_text()))


async def world_with(start_bot: StartBot, fake_github: tuple[FakeGitHub, str], **env: str) -> World:
    fake, _ = fake_github
    clock = SteppedClock()
    bot = await start_with_team(lambda **kw: start_bot(**kw, **env), fake, clock)
    return World(bot, fake, clock)


@pytest.fixture
async def cna_world(
    start_bot: StartBot,
    fake_github: tuple[FakeGitHub, str],
    fake_cve: tuple[FakeCveServices, dict[str, str]],
) -> tuple[World, FakeCveServices]:
    """The bot on CPython's configuration, with the team's CNA in the fake CVE Services."""
    cna, env = fake_cve
    return await world_with(start_bot, fake_github, **env), cna


def last_reply(world: World, advisory: dict[str, Any]) -> str:
    return str(replies(world, advisory)[-1]["body"])
