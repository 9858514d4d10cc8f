"""The worker on a real store: ordering per key, isolation, retries, parking.

The worker receives its router, so these tests hand it routers of their own
handlers; nothing in the bot is patched.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from gidgethub import routing, sansio

from bot.core.clock import SystemClock
from bot.core.metrics import Metrics
from bot.queue.intake import Delivery
from bot.queue.retention import PayloadRetention
from bot.queue.store import Store, StoredDelivery
from bot.queue.worker import Worker
from tests.harness import queued_delivery


def delivery(order_key: str, number: int, event: str = "test_event") -> Delivery:
    return queued_delivery(order_key, {"number": number, "installation": {"id": 1}}, event)


def make_worker(store: Store, router: routing.Router, **options: Any) -> Worker:
    def context(_: StoredDelivery) -> str:
        return "context"

    options.setdefault("retry_base_seconds", 0.01)
    return Worker(store, router, context, Metrics(), SystemClock(), **options)  # type: ignore[arg-type]


async def run_until_state(worker: Worker, store: Store, guid: str, state: str) -> StoredDelivery:
    """Run the worker (retries wait for their backoff) until the delivery reaches `state`."""
    for _ in range(200):
        await worker.run_until_idle()
        stored = await store.get_delivery(guid)
        assert stored is not None
        if stored.state == state:
            return stored
        await asyncio.sleep(0.02)
    raise AssertionError(f"{guid} is {stored.state}, not {state}")


async def test_one_key_in_order_different_keys_in_parallel(store: Store) -> None:
    router = routing.Router()
    seen: dict[str, list[int]] = {}
    running = 0
    peak = 0

    @router.register("test_event")
    async def record(event: sansio.Event, context: Any) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        key = event.data["key"]
        seen.setdefault(key, []).append(event.data["number"])
        running -= 1

    for number in range(10):
        for key in ("advisory:a", "advisory:b", "advisory:c"):
            item = queued_delivery(key, {"key": key, "number": number})
            await store.add_delivery(item)
    worker = make_worker(store, router, concurrency=8)
    await worker.run_until_idle()
    assert seen == {key: list(range(10)) for key in ("advisory:a", "advisory:b", "advisory:c")}
    assert peak >= 2  # different advisories ran side by side
    assert (await store.counts_by_state()) == {"done": 30}


async def test_a_failing_handler_does_not_stop_the_others_and_only_it_is_retried(
    store: Store,
) -> None:
    router = routing.Router()
    calls = {"good": 0, "flaky": 0}

    @router.register("test_event")
    async def good(event: sansio.Event, context: Any) -> None:
        calls["good"] += 1

    @router.register("test_event")
    async def flaky(event: sansio.Event, context: Any) -> None:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise RuntimeError("GitHub said no")

    item = delivery("repo:o/r", 1)
    await store.add_delivery(item)
    worker = make_worker(store, router)
    stored = await run_until_state(worker, store, item.guid, "done")
    assert calls == {"good": 1, "flaky": 3}
    assert stored.attempts == 3


async def test_a_handler_that_keeps_failing_is_parked_with_its_error(store: Store) -> None:
    router = routing.Router()

    @router.register("test_event")
    async def broken(event: sansio.Event, context: Any) -> None:
        raise ValueError("cannot parse the advisory EMBARGOED-TITLE")

    item = delivery("repo:o/r", 1)
    later = delivery("repo:o/r", 2)
    await store.add_delivery(item)
    await store.add_delivery(later)
    worker = make_worker(store, router, max_attempts=3)
    stored = await run_until_state(worker, store, item.guid, "failed")
    assert stored.attempts == 3
    # Its type and place are kept; not its message, which may quote the report.
    assert "broken: ValueError at test_worker.py:" in (stored.last_error or "")
    assert "EMBARGOED" not in (stored.last_error or "")
    # A parked delivery no longer holds up the ones after it.
    after = await run_until_state(worker, store, later.guid, "failed")
    assert after.attempts == 3

    # An operator's retry re-queues it with fresh attempts.
    assert await store.retry_failed(item.guid, now=time.time())
    requeued = await store.get_delivery(item.guid)
    assert requeued is not None and (requeued.state, requeued.attempts) == ("queued", 0)
    assert not await store.retry_failed(item.guid, now=time.time())  # only parked ones


async def test_a_retried_delivery_waits_behind_its_key(store: Store) -> None:
    parked, head = delivery("advisory:x", 1), delivery("advisory:x", 2)
    await store.add_delivery(parked)
    claimed = await store.claim("w", now=time.time(), limit=5, lease_seconds=10)
    assert [c.guid for c in claimed] == [parked.guid]
    await store.add_delivery(head)
    assert (await store.get_delivery(head.guid)).state == "waiting"
    from bot.queue.store import HandlingResult

    await store.complete(claimed[0], "w", HandlingResult("failed", [("h", "boom")], error="boom"))
    assert (await store.get_delivery(head.guid)).state == "queued"
    assert await store.retry_failed(parked.guid, now=time.time())
    assert (await store.get_delivery(parked.guid)).state == "waiting"


async def test_graceful_stop_releases_work_in_flight(store: Store) -> None:
    router = routing.Router()
    started = asyncio.Event()

    @router.register("test_event")
    async def slow(event: sansio.Event, context: Any) -> None:
        started.set()
        await asyncio.sleep(30)

    item = delivery("repo:o/r", 1)
    await store.add_delivery(item)
    worker = make_worker(store, router)
    worker.start()
    await asyncio.wait_for(started.wait(), 5)
    await worker.stop(grace_seconds=0.1)
    stored = await store.get_delivery(item.guid)
    assert stored is not None and stored.state == "queued"


async def test_expired_leases_are_taken_over(store: Store) -> None:
    item = delivery("repo:o/r", 1)
    await store.add_delivery(item)
    claimed = await store.claim("dead-worker", now=time.time(), limit=1, lease_seconds=0.01)
    assert [c.guid for c in claimed] == [item.guid]
    assert await store.claim("other", now=time.time(), limit=1, lease_seconds=10) == []
    await asyncio.sleep(0.02)
    assert await store.requeue_expired(time.time()) == 1
    again = await store.claim("other", now=time.time(), limit=1, lease_seconds=10)
    assert [c.guid for c in again] == [item.guid]
    assert again[0].attempts == 2


async def test_a_handled_delivery_keeps_no_payload_and_a_parked_one_keeps_its_own(
    store: Store,
) -> None:
    """The payload (a report's text, a comment's body) goes when the delivery is done,
    in the transaction that records it; a parked one keeps it to be retried."""
    router = routing.Router()
    fail = {"on": True}

    @router.register("test_event")
    async def handler(event: sansio.Event, context: Any) -> None:
        if event.data["number"] == 2 and fail["on"]:
            raise RuntimeError("GitHub is down")

    handled, parked = delivery("advisory:a", 1), delivery("advisory:b", 2)
    await store.add_delivery(handled)
    await store.add_delivery(parked)
    worker = make_worker(store, router, max_attempts=1)
    done = await run_until_state(worker, store, handled.guid, "done")
    failed = await run_until_state(worker, store, parked.guid, "failed")
    assert done.payload == "" and done.payload_removed
    assert json.loads(failed.payload) == parked.payload and not failed.payload_removed

    # Retried, it is handled from the payload it kept, which then goes too.
    fail["on"] = False
    assert await store.retry_failed(parked.guid, now=time.time())
    retried = await run_until_state(worker, store, parked.guid, "done")
    assert retried.payload_removed
    # Nothing of either is left in the column.
    assert [row.payload for row in await store.recent_deliveries()] == ["", ""]


async def test_parked_payloads_are_removed_after_the_retention_and_cannot_be_retried(
    store: Store,
) -> None:
    old, recent = delivery("advisory:old", 1), delivery("advisory:recent", 2)
    for item in (old, recent):
        await store.add_delivery(item)
    now = time.time()
    claimed = {
        item.guid: item for item in await store.claim("w", now=now, limit=5, lease_seconds=60)
    }
    from bot.queue.store import HandlingResult

    for guid, finished in ((old.guid, now - 15 * 86400), (recent.guid, now - 86400)):
        await store.complete(
            claimed[guid],
            "w",
            HandlingResult("failed", [("h", "boom")], error="boom", finished_at=finished),
        )
    retention = PayloadRetention(store.database)
    assert await retention.purge(parked_before=now - 14 * 86400) == 1
    assert await retention.purge(parked_before=now - 14 * 86400) == 0  # idempotent
    purged, kept = await store.get_delivery(old.guid), await store.get_delivery(recent.guid)
    assert purged is not None and purged.payload_removed and purged.state == "failed"
    assert kept is not None and json.loads(kept.payload) == recent.payload
    assert not await store.retry_failed(old.guid, now=now)  # nothing left to handle
    assert await store.retry_failed(recent.guid, now=now)
