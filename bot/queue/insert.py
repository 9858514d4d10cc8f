"""Storing deliveries: the insert both backends run, in the batches intake gives it.

A delivery is stored `queued` when nothing of its ordering key is unfinished,
else `waiting` behind it (bot/queue/heads.py promotes it later). On SQLite the
batch runs on the database's one connection (bot/db/connection.py); on
PostgreSQL on intake's own asynchronous connection (bot/db/group_commit.py).
"""

from __future__ import annotations

import contextlib
from typing import Any

from bot.db.backends import connection_is_serialized, placeholders
from bot.db.connection import Connection, transaction
from bot.queue.intake import Delivery

_INSERT_DELIVERY = (
    "INSERT INTO deliveries (guid, event, action, installation_id, order_key, source, payload, "
    "received_at, next_attempt_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
    # Behind an unfinished delivery of the same key it waits; otherwise it is ready.
    # (`state >= 'queued'` is every unfinished state: see bot/queue/rows.py.)
    "CASE WHEN EXISTS (SELECT 1 FROM deliveries WHERE order_key = ? AND state >= 'queued') "
    "THEN 'waiting' ELSE 'queued' END) "
    "ON CONFLICT (guid) DO NOTHING"
)


_INSERT_DELIVERY_RETURNING = placeholders(_INSERT_DELIVERY + " RETURNING state")
_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE (psycopg is imported only for PostgreSQL)


def _insert_parameters(delivery: Delivery, source: str) -> tuple[Any, ...]:
    return (
        delivery.guid,
        delivery.event,
        delivery.action,
        delivery.installation_id,
        delivery.order_key,
        source,
        delivery.body,
        delivery.received_at,
        delivery.received_at,
        delivery.order_key,
    )


def insert_deliveries(connection: Connection, *, rows: list[tuple[Delivery, str]]) -> list[bool]:
    """Insert a batch in one transaction; True for each delivery that was new.

    On SQLite a batch of one is a single autocommit statement (the same durable
    commit, with fewer trips through the GIL); otherwise the batch is one
    transaction. SQLite's one writer orders it with the worker's completions.
    """

    def insert(delivery: Delivery, source: str) -> bool:
        cursor = connection.execute(_INSERT_DELIVERY, _insert_parameters(delivery, source))
        return cursor.rowcount == 1

    if len(rows) == 1 and connection_is_serialized(connection):
        return [insert(*rows[0])]
    with transaction(connection):
        return [insert(delivery, source) for delivery, source in rows]


async def insert_deliveries_on_server(
    connection: Any, rows: list[tuple[Delivery, str]]
) -> list[str | None]:
    """PostgreSQL intake's batch, on its asynchronous connection: the state each
    delivery was stored in (`queued` or `waiting`), None for one already stored.

    One transaction in one round trip (a pipeline; a batch of one is a single
    statement, the usual case below a few thousand a second). It takes no lock: intake
    never waits on the worker or on another replica, and the races that leaves
    are closed by the claim (bot/queue/heads.py). Each insert sees the ones
    before it, so a batch holding two deliveries of one key queues the first and
    makes the second wait behind it.
    """
    if len(rows) == 1:
        # One statement in autocommit: the same round trip and commit without a
        # pipeline, whose Python code cost a sixth of each delivery's CPU.
        cursor = await connection.execute(_INSERT_DELIVERY_RETURNING, _insert_parameters(*rows[0]))
        stored = await cursor.fetchone()
        return [None if stored is None else str(stored[0])]
    try:
        async with connection.pipeline() as pipeline, connection.cursor() as cursor:
            await connection.execute("BEGIN")
            await cursor.executemany(
                _INSERT_DELIVERY_RETURNING,
                [_insert_parameters(delivery, source) for delivery, source in rows],
                returning=True,
            )
            await connection.execute("COMMIT")
            await pipeline.sync()
            states = []
            while True:
                stored = await cursor.fetchone()
                states.append(None if stored is None else str(stored[0]))
                if not cursor.nextset():
                    break
    except BaseException:
        # An error aborted the transaction (its COMMIT was skipped): end it, if
        # the connection still answers, so the next batch starts clean.
        with contextlib.suppress(Exception):
            if not connection.broken and connection.info.transaction_status != _IDLE:
                await connection.execute("ROLLBACK")
        raise
    return states
