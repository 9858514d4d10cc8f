"""Steps the end-to-end tests of the advisory workflows share.

Comment on an advisory and read the bot's replies, merge a linked fix, edit the
bot's configuration before it starts. (The worlds themselves are fixtures in
tests/conftest.py: `world`, `cna_world`; `world_with` in tests/harness.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.harness import World


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


def last_reply(world: World, advisory: dict[str, Any]) -> str:
    return str(replies(world, advisory)[-1]["body"])
