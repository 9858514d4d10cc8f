"""Kill the bot process mid-handling; after a restart the work finishes exactly once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from tests.conftest import free_port
from tests.databases import query
from tests.fakegithub import FakeGitHub
from tests.harness import BotProcess, repositories_added, send_webhook


def delivery_row(database: str, guid: str) -> tuple[str, int] | None:
    rows = query(database, "SELECT state, attempts FROM deliveries WHERE guid = ?", (guid,))
    return (rows[0][0], rows[0][1]) if rows else None


async def test_kill_mid_handling_then_restart_finishes_once(
    fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str], tmp_path: Path
) -> None:
    fake, _ = fake_github
    installation = fake.primary_installation  # type: ignore[attr-defined]
    database = bot_env["DATABASE_URL"]
    # On PostgreSQL a restarted replica cannot tell a dead run from a live one:
    # the dead run's lease must run out first. Keep it short here.
    bot_env = {**bot_env, "BOT_LEASE_SECONDS": "2"}
    async with aiohttp.ClientSession() as session:
        bot = BotProcess(bot_env, free_port(), tmp_path / "first.log")
        await bot.start(session)
        # Let the start-up sync finish, then make the handler's GitHub call hang.
        for _ in range(100):
            if fake.requests_to("^/installation/repositories$"):
                break
            await asyncio.sleep(0.05)
        fake.inject("^/installation/repositories$", delay=30, status=500)
        payload = repositories_added(fake, installation, "python/peps")
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
        runs = query(
            database, "SELECT handler, state FROM handler_runs WHERE guid = ?", (sent.guid,)
        )
        peps = query(database, "SELECT COUNT(*) FROM repositories WHERE full_name = 'python/peps'")
        peps = peps[0][0]
        assert runs == [("handlers.installations.repositories_changed", "done")]
        assert peps == 1
        assert len(fake.requests_to("^/installation/repositories$")) > hung_requests
        assert await restarted.stop() == 0  # SIGTERM: a graceful exit
