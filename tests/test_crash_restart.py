"""Kill the bot process mid-handling; after a restart the work finishes exactly once."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import aiohttp

from tests.conftest import free_port
from tests.fakegithub import FakeGitHub
from tests.harness import BotProcess, load_payload, send_webhook


def delivery_row(database: Path, guid: str) -> tuple[str, int] | None:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        row = connection.execute(
            "SELECT state, attempts FROM deliveries WHERE guid = ?", (guid,)
        ).fetchone()
    return None if row is None else (row[0], row[1])


async def test_kill_mid_handling_then_restart_finishes_once(
    fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str], tmp_path: Path
) -> None:
    fake, _ = fake_github
    installation = fake.primary_installation  # type: ignore[attr-defined]
    database = tmp_path / "bot.sqlite3"
    async with aiohttp.ClientSession() as session:
        bot = BotProcess(bot_env, free_port(), tmp_path / "first.log")
        await bot.start(session)
        # Let the start-up sync finish, then make the handler's GitHub call hang.
        for _ in range(100):
            if fake.requests_to("^/installation/repositories$"):
                break
            await asyncio.sleep(0.05)
        fake.inject("^/installation/repositories$", delay=30, status=500)
        payload = load_payload("installation_repositories/added.payload.json")
        payload["installation"]["id"] = installation
        fake.add_repository("python/peps")
        fake.installation_repos[installation].append("python/peps")
        payload["repositories_added"] = [
            {"id": fake.repos["python/peps"]["id"], "full_name": "python/peps", "private": False}
        ]
        sent = await send_webhook(
            session, bot.url, "installation_repositories", payload, b"test-secret"
        )
        assert sent.status == 202
        hung_requests = len(fake.requests_to("^/installation/repositories$"))
        deadline = time.monotonic() + 10
        while delivery_row(database, sent.guid) != ("running", 1) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert delivery_row(database, sent.guid) == ("running", 1)
        await bot.kill()  # SIGKILL: no cleanup runs

        fake.faults.clear()
        restarted = BotProcess(bot_env, free_port(), tmp_path / "restarted.log")
        await restarted.start(session)
        deadline = time.monotonic() + 15
        while delivery_row(database, sent.guid) != ("done", 2) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert delivery_row(database, sent.guid) == ("done", 2)

        # Exactly once: one finished handler run, the repository recorded once.
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            runs = connection.execute(
                "SELECT handler, state FROM handler_runs WHERE guid = ?", (sent.guid,)
            ).fetchall()
            peps = connection.execute(
                "SELECT COUNT(*) FROM repositories WHERE full_name = 'python/peps'"
            ).fetchone()[0]
        assert runs == [("handlers.installations.repositories_changed", "done")]
        assert peps == 1
        assert len(fake.requests_to("^/installation/repositories$")) > hung_requests
        assert await restarted.stop() == 0  # SIGTERM: a graceful exit
