"""The database restarting or briefly unreachable: intake answers 503, nothing is lost."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import StartBot
from tests.databases import needs_postgres
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
