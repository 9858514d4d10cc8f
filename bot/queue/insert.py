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
# PostgreSQL intake's transaction (insert_deliveries_on_server), one message.
_INSERT_BATCH = """
BEGIN;
SELECT pg_advisory_xact_lock(lock) FROM unnest(%(locks)s::bigint[]) AS lock;
WITH batch AS (
    SELECT * FROM unnest(
        %(guid)s::text[], %(event)s::text[], %(action)s::text[], %(installation_id)s::bigint[],
        %(order_key)s::text[], %(source)s::text[], %(payload)s::text[],
        %(received_at)s::double precision[]
    ) WITH ORDINALITY AS row (guid, event, action, installation_id, order_key, source,
                              payload, received_at, position)
), fresh AS (
    SELECT * FROM batch WHERE NOT EXISTS (SELECT 1 FROM deliveries WHERE guid = batch.guid)
)
INSERT INTO deliveries (guid, event, action, installation_id, order_key, source, payload,
                        received_at, next_attempt_at, state)
SELECT guid, event, action, installation_id, order_key, source, payload, received_at,
       received_at,
       CASE WHEN EXISTS (SELECT 1 FROM deliveries AS stored WHERE stored.order_key = fresh.order_key
                         AND stored.state IN ('queued', 'running', 'waiting'))
              OR EXISTS (SELECT 1 FROM fresh AS earlier WHERE earlier.order_key = fresh.order_key
                         AND earlier.position < fresh.position)
            THEN 'waiting' ELSE 'queued' END
FROM fresh ORDER BY position
ON CONFLICT (guid) DO NOTHING
RETURNING guid;
COMMIT;
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

    One transaction sent as one message (client-side parameters, several
    statements): the ordering keys' locks, in the order every transaction takes
    them, one multi-row insert, the commit. The server runs it without waiting
    for the bot in between, so the locks are held for the server's work and the
    commit's flush only, never while the event loop serves something else
    (another replica's intake waits on them). A row waits when its key has an
    unfinished delivery stored, or an earlier new row in this batch.
    """
    from psycopg import AsyncClientCursor  # SQLite installs need not load it

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
        async with AsyncClientCursor(connection) as cursor:
            await cursor.execute(_INSERT_BATCH, parameters)
            inserted: set[str] = set()
            while True:
                if cursor.description and cursor.description[0].name == "guid":
                    inserted = {row[0] for row in await cursor.fetchall()}
                if not cursor.nextset():
                    break
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
