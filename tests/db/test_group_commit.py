"""PostgreSQL intake's own connection (bot/db/group_commit.py): deliveries that
arrive together share one transaction and keep their order; a failed
transaction answers its callers with StoreUnavailable and the next one works;
a caller that stopped waiting is not inserted; closing answers everyone."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from bot.db.connection import Database, StoreUnavailable
from bot.queue.intake import Delivery, delivery_of
from bot.queue.store import Store
from tests.databases import needs_postgres, query

pytestmark = needs_postgres()


def delivery(key: str, guid: str | None = None) -> Delivery:
    payload = {"repository": {"full_name": key}, "action": "opened"}
    return delivery_of(
        guid or str(uuid.uuid4()), "issues", '{"x": 1}', payload, received_at=time.time()
    )


def states(database_url: str, guids: list[str]) -> list[str]:
    rows = dict(query(database_url, "SELECT guid, state FROM deliveries"))
    return [rows[guid] for guid in guids]


async def test_deliveries_sent_together_share_one_transaction_in_arrival_order(
    store: Store, database_url: str
) -> None:
    first, second, third, other = (
        delivery("a/one"),
        delivery("a/one"),
        delivery("a/one"),
        delivery("a/two"),
    )
    added = await asyncio.gather(
        *(store.add_delivery(item) for item in (first, second, third, other))
    )
    assert added == [True, True, True, True]
    # One key: the first is ready, the others wait behind it, in arrival order.
    assert states(database_url, [first.guid, second.guid, third.guid, other.guid]) == [
        "queued",
        "waiting",
        "waiting",
        "queued",
    ]
    seqs = dict(query(database_url, "SELECT guid, seq FROM deliveries"))
    assert seqs[first.guid] < seqs[second.guid] < seqs[third.guid]
    # The four went in one transaction: the rows carry one transaction id.
    assert len({row[0] for row in query(database_url, "SELECT xmin::text FROM deliveries")}) == 1


async def test_a_redelivery_in_the_same_batch_or_later_is_stored_once(
    store: Store, database_url: str
) -> None:
    item = delivery("a/one")
    together = await asyncio.gather(store.add_delivery(item), store.add_delivery(item))
    assert sorted(together) == [False, True]
    assert await store.add_delivery(item) is False
    rows = query(database_url, "SELECT COUNT(*) FROM deliveries WHERE guid = ?", (item.guid,))
    assert rows == [(1,)]


async def test_a_killed_connection_fails_its_callers_and_the_next_delivery_is_stored(
    store: Store, database_url: str
) -> None:
    assert await store.add_delivery(delivery("a/one")) is True
    # Another session ends intake's connection, as a restarted server or a
    # failover would.
    (connection,) = store._intake._idle  # type: ignore[union-attr]
    query(database_url, "SELECT pg_terminate_backend(?)", (connection.info.backend_pid,))
    with pytest.raises(StoreUnavailable) as refused:
        await store.add_delivery(delivery("a/one"))
    assert "database error" in str(refused.value)
    later = delivery("a/one")
    assert await store.add_delivery(later) is True  # a new connection, by itself
    assert states(database_url, [later.guid]) == ["waiting"]


async def test_a_caller_that_stopped_waiting_before_its_transaction_is_left_out(
    store: Store, database_url: str
) -> None:
    # Other sessions are inserting the same GUIDs, so each of intake's
    # transactions in flight (two at most) waits on the unique index until
    # that session ends.
    slow = [delivery("a/slow"), delivery("a/slow")]
    holders = [await asyncio.to_thread(_insert_uncommitted, database_url, d.guid) for d in slow]
    try:
        stuck = []
        for item in slow:  # one loop turn each: two transactions
            stuck.append(asyncio.create_task(store.add_delivery(item)))
            await asyncio.sleep(0.1)
        behind = delivery("a/given-up")
        given_up = asyncio.create_task(store.add_delivery(behind))
        await asyncio.sleep(0.05)
        given_up.cancel()  # the web route's 2 s bound does this
        with pytest.raises(asyncio.CancelledError):
            await given_up
    finally:
        for holder in holders:  # rolls the other sessions' inserts back
            await asyncio.to_thread(holder.close)
    assert await asyncio.gather(*stuck) == [True, True]
    assert query(
        database_url, "SELECT COUNT(*) FROM deliveries WHERE guid = ?", (behind.guid,)
    ) == [(0,)]


async def test_a_delivery_arriving_while_a_transaction_waits_is_committed_beside_it(
    store: Store, database_url: str
) -> None:
    slow = delivery("a/slow")
    holder = await asyncio.to_thread(_insert_uncommitted, database_url, slow.guid)
    try:
        stuck = asyncio.create_task(store.add_delivery(slow))
        await asyncio.sleep(0.1)
        # A second connection takes it: it does not wait for the stuck transaction.
        assert await asyncio.wait_for(store.add_delivery(delivery("a/fast")), 2) is True
        assert not stuck.done()
    finally:
        await asyncio.to_thread(holder.close)
    assert await stuck is True


def _insert_uncommitted(database_url: str, guid: str):  # type: ignore[no-untyped-def]
    """A session holding an uncommitted delivery of `guid`; closing it rolls back."""
    import psycopg

    connection = psycopg.connect(database_url)
    connection.execute(
        "INSERT INTO deliveries (guid, event, order_key, payload, received_at, next_attempt_at) "
        "VALUES (%s, 'issues', 'repo:a/slow', '{}', 0, 0)",
        (guid,),
    )
    return connection


async def test_closing_answers_every_waiting_caller(database_url: str) -> None:
    store = Store(Database(database_url))
    await store.open()
    held = delivery("a/slow")
    holder = await asyncio.to_thread(_insert_uncommitted, database_url, held.guid)
    try:
        together = [held, delivery("a/slow"), delivery("a/slow")]
        waiting = [asyncio.create_task(store.add_delivery(item)) for item in together]
        await asyncio.sleep(0.2)
        await asyncio.wait_for(store.close(), 5)
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    finally:
        await asyncio.to_thread(holder.close)
    assert all(isinstance(outcome, StoreUnavailable) for outcome in outcomes), outcomes
    with pytest.raises(StoreUnavailable):
        await store.add_delivery(delivery("a/one"))
