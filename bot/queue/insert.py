"""Storing deliveries: the insert both backends run, in the batches intake gives it.

A delivery is stored `queued` when nothing of its ordering key is unfinished,
else `waiting` behind it (bot/queue/store.py promotes it later). On SQLite the
batch runs on the database's one connection (bot/db/connection.py); on
PostgreSQL on intake's own asynchronous connection (bot/db/group_commit.py).
"""

from __future__ import annotations

import contextlib
from typing import Any

from bot.db.backends import connection_is_serialized, ordered_lock_ids
from bot.db.connection import Connection, transaction
from bot.queue.intake import Delivery

_INSERT_DELIVERY = (
    "INSERT INTO deliveries (guid, event, action, installation_id, order_key, source, payload, "
    "received_at, next_attempt_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
    # Behind an unfinished delivery of the same key it waits; otherwise it is ready.
    "CASE WHEN EXISTS (SELECT 1 FROM deliveries WHERE order_key = ? "
    "AND state IN ('queued', 'running', 'waiting')) THEN 'waiting' ELSE 'queued' END) "
    "ON CONFLICT (guid) DO NOTHING"
)


_COLUMNS = (
    "guid", "event", "action", "installation_id", "order_key", "source", "payload", "received_at"
)
# PostgreSQL intake's transaction (insert_deliveries_on_server): the locks, then one insert.
# The stored rows are probed by scalar subqueries (LIMIT 1), one index lookup per new
# row: written as EXISTS, the planner joined the whole table for a large batch.
_LOCK_KEYS = "SELECT pg_advisory_xact_lock(lock) FROM unnest(%(locks)s::bigint[]) AS lock"
_INSERT_BATCH = """
WITH batch AS (
    SELECT * FROM unnest(
        %(guid)s::text[], %(event)s::text[], %(action)s::text[], %(installation_id)s::bigint[],
        %(order_key)s::text[], %(source)s::text[], %(payload)s::text[],
        %(received_at)s::double precision[]
    ) WITH ORDINALITY AS row (guid, event, action, installation_id, order_key, source,
                              payload, received_at, position)
), fresh AS (
    SELECT * FROM batch
    WHERE (SELECT 1 FROM deliveries WHERE guid = batch.guid LIMIT 1) IS NULL
)
INSERT INTO deliveries (guid, event, action, installation_id, order_key, source, payload,
                        received_at, next_attempt_at, state)
SELECT guid, event, action, installation_id, order_key, source, payload, received_at,
       received_at,
       CASE WHEN (SELECT 1 FROM deliveries AS stored WHERE stored.order_key = fresh.order_key
                  AND stored.state IN ('queued', 'running', 'waiting') LIMIT 1) IS NOT NULL
              OR EXISTS (SELECT 1 FROM fresh AS earlier WHERE earlier.order_key = fresh.order_key
                         AND earlier.position < fresh.position)
            THEN 'waiting' ELSE 'queued' END
FROM fresh ORDER BY position
ON CONFLICT (guid) DO NOTHING
RETURNING guid
"""
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
    transaction holding its ordering keys (see lock_ordering_keys).
    """

    def insert(delivery: Delivery, source: str) -> bool:
        cursor = connection.execute(_INSERT_DELIVERY, _insert_parameters(delivery, source))
        return cursor.rowcount == 1

    if len(rows) == 1 and connection_is_serialized(connection):
        return [insert(*rows[0])]
    with transaction(connection, ordering_keys=[delivery.order_key for delivery, _ in rows]):
        return [insert(delivery, source) for delivery, source in rows]


async def insert_deliveries_on_server(
    connection: Any, rows: list[tuple[Delivery, str]]
) -> list[bool]:
    """PostgreSQL intake's batch, on its asynchronous connection: True for each new one.

    One transaction of four statements, pipelined in one round trip: the
    ordering keys' locks (in the order every transaction takes them), one
    multi-row insert, the commit. Few statements, because between two of them
    the server waits for the bot while holding the locks, and the event loop
    may be serving something else (with a statement per delivery, another
    replica's intake waited on a flood's locks for seconds). A row waits when
    its key has an unfinished delivery stored, or an earlier new row in this
    batch.
    """
    first: dict[str, int] = {}
    for index, (delivery, _) in enumerate(rows):
        first.setdefault(delivery.guid, index)
    unique = [rows[index] for index in sorted(first.values())]
    columns = list(zip(*(_insert_parameters(d, source)[:8] for d, source in unique), strict=True))
    parameters = {
        "locks": ordered_lock_ids(delivery.order_key for delivery, _ in unique),
        **{name: list(values) for name, values in zip(_COLUMNS, columns, strict=True)},
    }
    try:
        async with connection.pipeline() as pipeline, connection.cursor() as cursor:
            await connection.execute("BEGIN")
            await connection.execute(_LOCK_KEYS, {"locks": parameters["locks"]})
            await cursor.execute(_INSERT_BATCH, parameters)
            await connection.execute("COMMIT")
            await pipeline.sync()
            inserted = {row[0] for row in await cursor.fetchall()}
    except BaseException:
        # An error aborted the transaction (its COMMIT was skipped): end it, if
        # the connection still answers, so the next batch starts clean.
        with contextlib.suppress(Exception):
            if not connection.broken and connection.info.transaction_status != _IDLE:
                await connection.execute("ROLLBACK")
        raise
    claimed: set[str] = set()
    results = []
    for delivery, _ in rows:  # a GUID twice in one batch: the first one counts
        results.append(delivery.guid in inserted and delivery.guid not in claimed)
        claimed.add(delivery.guid)
    return results
