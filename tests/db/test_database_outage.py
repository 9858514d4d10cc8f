"""The database restarting, briefly unreachable, or silent without closing its
connections (a stuck server, a network that drops packets): intake and /readyz
answer 503 within 2 s, /healthz keeps answering, nothing is lost, and the bot is
back by itself once the database answers. Every connection carries the
server-side bounds and TCP settings that make a stuck statement end."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest

from bot.db.connection import Database
from bot.web.routes import STORE_SECONDS
from tests.conftest import StartBot
from tests.databases import needs_postgres, query
from tests.fakegithub import FakeGitHub
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
    proxied = urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))
    yield proxy, proxied
    await proxy.close()


async def test_an_outage_answers_503_and_the_claimed_work_is_kept(
    proxy: tuple[CuttableProxy, str],
    start_bot: StartBot,
    fake_github: tuple[FakeGitHub, str],
) -> None:
    fake, _ = fake_github
    cuttable, url = proxy
    bot: BotUnderTest = await start_bot(DATABASE_URL=url)
    await bot.started()
    # The handler's one GitHub call takes a while: the outage starts while it runs.
    fake.inject("^/installation/repositories$", delay=1.5, times=1)
    in_flight = await bot.send(
        "installation_repositories", bot.payload("installation_repositories/added.payload.json")
    )
    assert in_flight.status == 202
    deadline = time.monotonic() + 5
    while (await bot.services.store.get_delivery(in_flight.guid)).state != "running":
        assert time.monotonic() < deadline, "the delivery was not claimed"
        await asyncio.sleep(0.02)

    await cuttable.cut()
    guid = str(uuid.uuid4())
    payload = bot.payload("installation_repositories/removed.payload.json")
    refused = await bot.send("installation_repositories", payload, guid=guid)
    assert refused.status == 503  # GitHub records a failure; it can be redelivered
    async with bot.session.get(f"{bot.url}/readyz") as response:
        assert response.status == 503
    await asyncio.sleep(2.0)  # the handler's GitHub call ends; its store write fails

    await cuttable.restore()
    redelivered = await bot.send("installation_repositories", payload, guid=guid)
    assert redelivered.status == 202
    await bot.settle(limit_seconds=15)
    # The claimed delivery was neither lost nor parked: its outcome (a retry) was
    # kept until the store came back, and the retry finished the work.
    kept = await bot.services.store.get_delivery(in_flight.guid)
    assert kept is not None and kept.state == "done" and kept.last_error is None
    handler = {"handlers.installations.repositories_changed"}
    assert await bot.services.store.handlers_done(in_flight.guid) == handler
    late = await bot.services.store.get_delivery(guid)
    assert late is not None and late.state == "done"
    handled = bot.services.metrics.handled.get(event="installation_repositories", outcome="done")
    assert handled == 2  # each delivery handled once


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
