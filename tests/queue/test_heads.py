"""The head of each ordering key on PostgreSQL (bot/queue/heads.py).

PostgreSQL intake takes no lock, so two replicas can both store a key's head,
and a delivery stored `waiting` can miss the promotion of the head finishing
at that instant. The claim closes both: these tests make each race happen
deterministically (another session plays the other replica), then flood two
replicas with one key's deliveries and check that they run one at a time, in
order for each sender, and that none is left waiting.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
from gidgethub import routing, sansio

from bot.core.clock import SystemClock
from bot.core.metrics import Metrics
from bot.db.backends import advisory_lock_id
from bot.queue.heads import KEYS_PER_TRANSACTION
from bot.queue.store import HandlingResult, Store
from bot.queue.worker import Worker
from tests.databases import needs_postgres, query
from tests.harness import queued_delivery

pytestmark = needs_postgres()

KEY = "advisory:python/cpython/GHSA-head"


def write(database_url: str, sql: str, args: tuple[Any, ...] = ()) -> None:
    """One statement from another session, committed."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(sql.replace("?", "%s"), args)


def states(database_url: str) -> list[tuple[str, str]]:
    return [
        (guid, state)
        for guid, state in query(database_url, "SELECT guid, state FROM deliveries ORDER BY seq")
    ]


async def claim(store: Store, limit: int = 10) -> list[str]:
    claimed = await store.claim("me", now=time.time(), limit=limit, lease_seconds=30)
    return [delivery.guid for delivery in claimed]


def done(finished: float) -> HandlingResult:
    return HandlingResult("done", [("test", None)], finished_at=finished)


async def test_two_heads_of_one_key_run_one_at_a_time_earliest_first(
    store: Store, database_url: str
) -> None:
    first, second = (queued_delivery(KEY, {"n": n}) for n in (1, 2))
    await store.add_delivery(first)
    await store.add_delivery(second)
    # What two replicas' intake can leave: both stored while the key was idle.
    write(database_url, "UPDATE deliveries SET state = 'queued'")
    assert await claim(store) == [first.guid]
    assert await claim(store) == [], "the second waits while the first runs"
    running = await store.get_delivery(first.guid)
    assert running is not None
    following = await store.complete(running, "me", done(time.time()), take_next_until=None)
    assert following is None
    assert await claim(store) == [second.guid]


async def test_a_key_another_replica_is_finishing_is_left_for_the_next_claim(
    store: Store, database_url: str
) -> None:
    busy, other = queued_delivery(KEY, {"n": 1}), queued_delivery("advisory:other", {"n": 1})
    await store.add_delivery(busy)
    await store.add_delivery(other)
    # Another replica holds KEY's lock, as while it finishes KEY's head.
    holder = psycopg.connect(database_url)
    holder.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_lock_id(KEY),))
    try:
        started = time.monotonic()
        assert await claim(store) == [other.guid]
        assert time.monotonic() - started < 1.0, "the claim tried the lock, it did not wait"
    finally:
        # Rolling back waits for the server to drop the lock; closing alone
        # returns before the server has noticed, and the next claim could
        # still find the key locked.
        holder.rollback()
        holder.close()
    assert await claim(store) == [busy.guid]


async def test_a_waiting_delivery_whose_head_finished_unseen_is_promoted_by_the_next_claim(
    store: Store, database_url: str
) -> None:
    head, behind = queued_delivery(KEY, {"n": 1}), queued_delivery(KEY, {"n": 2})
    await store.add_delivery(head)
    assert await claim(store) == [head.guid]
    await store.add_delivery(behind)  # stored waiting behind the running head
    # The head's replica finished it without seeing `behind` (each saw the other
    # uncommitted): nothing would ever promote `behind`.
    write(
        database_url,
        "UPDATE deliveries SET state = 'done', payload = '' WHERE guid = ?",
        (head.guid,),
    )
    assert states(database_url) == [(head.guid, "done"), (behind.guid, "waiting")]
    assert await claim(store) == [behind.guid]


async def test_the_sweep_promotes_what_a_dead_replica_left_waiting(
    store: Store, database_url: str
) -> None:
    behind = queued_delivery(KEY, {"n": 2})
    await store.add_delivery(behind)
    # Stored waiting by a replica that died before its next claim.
    write(database_url, "UPDATE deliveries SET state = 'waiting'")
    assert await claim(store) == []
    assert await store.promote_unheaded() == 1
    assert await store.promote_unheaded() == 0
    assert await claim(store) == [behind.guid]


async def test_two_replicas_flooded_with_one_key_run_it_one_at_a_time_and_leave_none_waiting(
    database_url: str, replica_stores: list[Store]
) -> None:
    stores = replica_stores
    handled: list[tuple[int, int]] = []  # (sender, number)
    running: list[str] = []
    overlaps = 0
    router = routing.Router()

    @router.register("test_event")
    async def record(event: sansio.Event, _: Any) -> None:
        nonlocal overlaps
        overlaps += bool(running)
        running.append(event.delivery_id)
        await asyncio.sleep(0.001)
        handled.append((event.data["sender"], event.data["number"]))
        running.remove(event.delivery_id)

    workers = [
        Worker(store, router, lambda _: None, Metrics(), SystemClock(), concurrency=4)
        for store in stores
    ]
    senders, each = 8, 40
    try:
        for worker in workers:
            worker.start()

        async def send(sender: int) -> None:
            # Each sender's deliveries arrive in order, through both replicas at once
            # with the other senders', while the key's head keeps finishing.
            for number in range(each):
                store = stores[(sender + number) % 2]
                await store.add_delivery(queued_delivery(KEY, {"sender": sender, "number": number}))
                workers[(sender + number) % 2].notify()

        await asyncio.gather(*(send(sender) for sender in range(senders)))
        deadline = time.monotonic() + 30
        while len(handled) < senders * each and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        for worker in workers:
            await worker.stop()

    assert len(handled) == senders * each, query(
        database_url, "SELECT state, COUNT(*) FROM deliveries GROUP BY state"
    )
    assert overlaps == 0, "two deliveries of one key ran at once"
    for sender in range(senders):
        assert [n for s, n in handled if s == sender] == list(range(each))
    assert query(database_url, "SELECT state, COUNT(*) FROM deliveries GROUP BY state") == [
        ("done", senders * each)
    ]


async def test_many_stranded_keys_are_all_promoted_in_transactions_of_a_few_keys(
    store: Store, database_url: str
) -> None:
    # More keys than PostgreSQL's default lock slots per connection (64) would
    # allow in one transaction.
    keys = [f"advisory:python/cpython/GHSA-{n:04d}" for n in range(3 * KEYS_PER_TRANSACTION + 5)]
    for key in keys:
        await store.add_delivery(queued_delivery(key, {"n": 1}))
    write(database_url, "UPDATE deliveries SET state = 'waiting'")
    assert await store.promote_unheaded() == len(keys)
    assert len(await claim(store, limit=len(keys))) == len(keys)
