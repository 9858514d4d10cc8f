"""A PostgreSQL that stops answering without closing its connections (a stuck
server, a network that drops packets): requests answer 503 within 2 s, /healthz
keeps answering, a statement without answer is cut, and the bot is back by
itself within seconds of the database answering again. Every connection carries
the server-side bounds and TCP settings that make a stuck statement end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest

from bot.db.connection import Database
from bot.web.routes import STORE_SECONDS
from tests.conftest import StartBot
from tests.databases import needs_postgres, query
from tests.harness import BotUnderTest
from tests.tcpproxy import CuttableProxy

pytestmark = needs_postgres()


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[tuple[CuttableProxy, str]]:
    """A proxy in front of the test's PostgreSQL, and the DATABASE_URL through it."""
    parts = urlsplit(database_url)
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    user = f"{parts.username}@" if parts.username else ""
    yield proxy, urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))
    await proxy.close()


async def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = await call
    return result, time.monotonic() - started


async def test_a_silent_database_gives_503_within_2_s_and_the_bot_recovers_by_itself(
    proxy: tuple[CuttableProxy, str], start_bot: StartBot, database_url: str
) -> None:
    stalled, url = proxy
    bot: BotUnderTest = await start_bot(DATABASE_URL=url)
    await bot.started()
    await bot.settle()
    payload = bot.payload("installation_repositories/added.payload.json")
    payload["repositories_added"] = []
    acknowledged: list[str] = []

    stalled.stall()
    refused, waited = await timed(bot.send("installation_repositories", payload))
    assert refused.status == 503, refused.body  # GitHub records a failure, redelivers later
    assert waited < STORE_SECONDS + 0.5
    started = time.monotonic()
    async with bot.session.get(f"{bot.url}/readyz") as response:
        assert response.status == 503
        assert (await response.json())["problems"] == ["store: unavailable"]
    assert time.monotonic() - started < STORE_SECONDS + 0.5
    started = time.monotonic()
    for _ in range(5):
        async with bot.session.get(f"{bot.url}/healthz") as response:
            assert response.status == 200
    assert time.monotonic() - started < 1.0, "/healthz waited for the store"
    # Many requests behind the stuck one: each still answers within the bound.
    sends = [bot.send("installation_repositories", payload) for _ in range(10)]
    outcomes = await asyncio.wait_for(asyncio.gather(*sends), STORE_SECONDS + 2)
    assert {sent.status for sent in outcomes} == {503}

    stalled.resume()
    started = time.monotonic()
    while True:
        sent = await bot.send("installation_repositories", payload)
        if sent.status == 202:
            acknowledged.append(sent.guid)
            break
        assert time.monotonic() - started < 5, f"not back 5 s after the database: {sent}"
        await asyncio.sleep(0.1)
    async with bot.session.get(f"{bot.url}/readyz") as response:
        assert response.status == 200
    # A refused delivery, redelivered: stored once (its commit may have gone through
    # when the database answered again, after the 503).
    again = await bot.send("installation_repositories", payload, guid=refused.guid)
    assert again.status in (200, 202)
    acknowledged.append(refused.guid)
    await bot.settle(limit_seconds=15)
    for guid in acknowledged:
        stored = await bot.services.store.get_delivery(guid)
        assert stored is not None and stored.state == "done", stored
    rows = query(database_url, "SELECT COUNT(*) FROM deliveries WHERE guid = ?", (refused.guid,))
    assert rows == [(1,)]


async def test_every_connection_is_bounded(database_url: str) -> None:
    database = Database(database_url)
    try:
        found = await database.run(
            lambda connection: (
                connection.execute(
                    "SELECT current_setting('statement_timeout'), "
                    "current_setting('lock_timeout'), "
                    "current_setting('idle_in_transaction_session_timeout'), "
                    "current_setting('search_path')"
                ).fetchone(),
                connection.raw.info.get_parameters(),  # type: ignore[attr-defined]
            )
        )
    finally:
        await database.close()
    server, client = found
    assert tuple(server[:3]) == ("10s", "5s", "15s")
    # DATABASE_URL's own options (here the test's schema) are kept beside the bounds.
    assert server[3] in unquote(database_url)
    assert client["keepalives"] == "1"
    assert client["tcp_user_timeout"] == "10000"
