"""Several bot processes on one PostgreSQL database: one claim each, order kept, one poller."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
from gidgethub import routing, sansio

from bot.core.clock import SystemClock
from bot.core.metrics import Metrics
from bot.queue.store import Store
from bot.queue.worker import Worker
from tests.conftest import free_port
from tests.databases import needs_postgres, owner_pid, query
from tests.fakegithub import FakeGitHub
from tests.harness import BotProcess, queued_delivery, repositories_added, send_webhook

pytestmark = needs_postgres()


async def test_two_replicas_claim_each_delivery_once_and_keep_each_advisory_in_order(
    database_url: str, replica_stores: list[Store]
) -> None:
    stores = replica_stores
    handled: list[tuple[str, str, int]] = []  # (replica, key, number)
    running: set[str] = set()
    overlaps: list[str] = []
    router = routing.Router()

    @router.register("test_event")
    async def record(event: sansio.Event, replica: Any) -> None:
        key = event.data["key"]
        if key in running:
            overlaps.append(key)
        running.add(key)
        await asyncio.sleep(0.002)
        handled.append((replica, key, event.data["number"]))
        running.discard(key)

    def replica_named(name: str) -> Any:
        return lambda _: name

    workers = [
        Worker(
            store, router, replica_named(f"replica-{n}"), Metrics(), SystemClock(), concurrency=4
        )
        for n, store in enumerate(stores)
    ]
    try:
        for worker in workers:
            worker.start()
        keys = [f"advisory:python/cpython/GHSA-{n:04d}" for n in range(12)]

        async def arrive(key_index: int) -> None:
            # Each advisory's events arrive in order, through alternating replicas.
            for number in range(10):
                store = stores[(key_index + number) % 2]
                await store.add_delivery(
                    queued_delivery(keys[key_index], {"key": keys[key_index], "number": number})
                )
                for worker in workers:
                    worker.notify()

        await asyncio.gather(*(arrive(index) for index in range(len(keys))))
        deadline = time.monotonic() + 30
        while len(handled) < 120 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        for worker in workers:
            await worker.stop()

    assert len(handled) == 120, "every delivery handled exactly once"
    assert overlaps == [], "two events of one advisory ran at once"
    for key in keys:
        assert [number for _, k, number in handled if k == key] == list(range(10))
    by_replica = {replica for replica, _, _ in handled}
    assert by_replica == {"replica-0", "replica-1"}, "both replicas took work"
    counts = query(database_url, "SELECT state, COUNT(*) FROM deliveries GROUP BY state")
    assert counts == [("done", 120)]


def replica_env(bot_env: dict[str, str], **extra: str) -> dict[str, str]:
    return {
        **bot_env,
        "BOT_LEASE_SECONDS": "2",
        "BOT_LEADER_LEASE_SECONDS": "2",
        **extra,
    }


async def wait_for(condition: Any, limit_seconds: float, message: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit_seconds:
        if condition():
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(message)


async def test_kill_9_of_the_replica_handling_a_delivery_the_other_finishes_it_once(
    fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str], tmp_path: Path
) -> None:
    fake, _ = fake_github
    installation = fake.primary_installation  # type: ignore[attr-defined]
    database = bot_env["DATABASE_URL"]
    env = replica_env(bot_env)
    async with aiohttp.ClientSession() as session:
        replicas = [BotProcess(env, free_port(), tmp_path / f"replica-{n}.log") for n in (0, 1)]
        for replica in replicas:
            await replica.start(session)
        await wait_for(
            lambda: len(fake.requests_to("^/installation/repositories$")) >= 2,
            10,
            "start-up sync of both replicas",
        )
        fake.inject("^/installation/repositories$", delay=30, status=500)
        payload = repositories_added(fake, installation, "python/peps")
        sent = await send_webhook(
            session, replicas[0].url, "installation_repositories", payload, b"test-secret"
        )
        assert sent.status == 202

        def owner() -> str | None:
            rows = query(
                database,
                "SELECT lease_owner FROM deliveries WHERE guid = ? AND state = 'running'",
                (sent.guid,),
            )
            return rows[0][0] if rows else None

        await wait_for(lambda: owner() is not None, 10, "a replica claims the delivery")
        pid = owner_pid(str(owner()))
        victim = next(r for r in replicas if r.process and r.process.pid == pid)
        survivor = next(r for r in replicas if r is not victim)
        await victim.kill()
        fake.faults.clear()

        def state() -> list[tuple[Any, ...]]:
            return query(
                database,
                "SELECT state, attempts, lease_owner FROM deliveries WHERE guid = ?",
                (sent.guid,),
            )

        await wait_for(lambda: state()[0][:2] == ("done", 2), 15, f"survivor finishes: {state()}")
        runs = query(
            database, "SELECT handler, state FROM handler_runs WHERE guid = ?", (sent.guid,)
        )
        peps = query(database, "SELECT COUNT(*) FROM repositories WHERE full_name = 'python/peps'")
        assert runs == [("handlers.installations.repositories_changed", "done")]
        assert peps == [(1,)]
        assert await survivor.stop() == 0


async def test_one_replica_polls_and_another_takes_over_when_it_dies(
    fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str], tmp_path: Path
) -> None:
    fake, _ = fake_github
    database = bot_env["DATABASE_URL"]
    env = replica_env(bot_env)
    # The organization's list (or, for a personal account, the repository's).
    polls = "^/(orgs/python|repos/python/cpython)/security-advisories$"
    async with aiohttp.ClientSession() as session:
        replicas = [BotProcess(env, free_port(), tmp_path / f"replica-{n}.log") for n in (0, 1)]
        for replica in replicas:
            await replica.start(session)

        def leader() -> int | None:
            rows = query(database, "SELECT owner, expires_at FROM leases")
            return owner_pid(rows[0][0]) if rows and rows[0][1] > time.time() else None

        await wait_for(lambda: leader() is not None, 10, "a leader is chosen")
        await wait_for(lambda: fake.requests_to(polls, "GET"), 10, "the leader polls")
        first = leader()
        pids = {r.process.pid for r in replicas if r.process}
        assert first in pids
        # Only the leader polls: over several lease renewals, one poll cycle per interval.
        polled_before = len(fake.requests_to(polls, "GET"))
        await asyncio.sleep(3)
        assert len(fake.requests_to(polls, "GET")) - polled_before <= 1

        victim = next(r for r in replicas if r.process and r.process.pid == first)
        survivor = next(r for r in replicas if r is not victim)
        polled_before = len(fake.requests_to(polls, "GET"))
        await victim.kill()
        took = await wait_for(
            lambda: leader() not in (None, first), 10, "the other replica takes the lease"
        )
        # Lease (2 s) plus one renewal interval (2/3 s), plus scheduling slack.
        assert took < 4.0, took
        await wait_for(
            lambda: len(fake.requests_to(polls, "GET")) > polled_before,
            5,
            "the new leader polls at once",
        )
        assert survivor.process is not None and leader() == survivor.process.pid

        # A graceful stop hands the lease back at once.
        assert await survivor.stop() == 0
        assert query(database, "SELECT COUNT(*) FROM leases") == [(0,)]
