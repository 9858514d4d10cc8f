"""The head of each ordering key: which one delivery of an advisory or repository may run.

Deliveries of one ordering key are handled one at a time, in the order they
were stored. The one that may run next (the head) is `queued`; the others are
`waiting` behind it, so a claim is an index range read however long a key's
backlog. When the head leaves the queue for good, the earliest waiting one is
promoted (`promote_next`), under the key's lock.

On SQLite intake and the worker share one writer, so intake's choice between
`queued` and `waiting` is always right. PostgreSQL intake takes no lock (it
never waits on the worker, or on another replica's intake), and two races
remain, both closed here rather than in intake:

- Two deliveries of an idle key stored at the same instant, by two replicas,
  both see nothing unfinished and are both `queued`. A claim therefore takes a
  queued delivery only when no delivery of its key is running or queued ahead
  of it, re-checked under the key's lock (`claimable_on_server`).
- A delivery stored `waiting` behind a head that is finishing at that instant
  may be missed by that head's promotion (each saw the other uncommitted), and
  would wait for nothing. Intake names the keys it stored waiting deliveries
  of, and the worker's next claim promotes their earliest waiting delivery if
  nothing holds the key (`promote_unheaded`); a periodic sweep does the same
  for every key (`unheaded_keys`), for a replica that died in between.

Both run under the key's transaction-scoped advisory lock, which a finishing
head also holds, so each sees the other's work committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from bot.db.backends import advisory_lock_id
from bot.db.connection import Connection, transaction
from bot.queue.rows import SELECT_DELIVERIES, StoredDelivery, delivery_of_row

# Claims one delivery for a worker: (owner, lease end, seq).
TAKE = (
    "UPDATE deliveries SET state = 'running', attempts = attempts + 1, "
    "lease_owner = ?, lease_until = ? WHERE seq = ?"
)

# On PostgreSQL a claimable delivery `d` is also the head of its key: nothing
# of the key is running or queued ahead of it.
HEAD_OF_ITS_KEY = (
    "AND NOT EXISTS (SELECT 1 FROM deliveries ahead WHERE ahead.order_key = d.order_key "
    "AND (ahead.state = 'running' OR (ahead.state = 'queued' AND ahead.seq < d.seq))) "
)
_HELD_AHEAD = (
    "SELECT 1 FROM deliveries WHERE order_key = ? AND (state = 'running' "
    "OR (state = 'queued' AND seq < ?)) LIMIT 1"
)

# Keys with waiting deliveries and nothing queued or running (PostgreSQL's sweep).
UNHEADED_KEYS = (
    "SELECT DISTINCT w.order_key FROM deliveries w WHERE w.state = 'waiting' "
    "AND NOT EXISTS (SELECT 1 FROM deliveries h WHERE h.order_key = w.order_key "
    "AND h.state IN ('queued', 'running'))"
)


def claimable_on_server(
    connection: Connection, candidates: Sequence[StoredDelivery]
) -> list[StoredDelivery]:
    """PostgreSQL, inside the claim's transaction: the candidates still at the head
    of their key once the transaction holds the key's lock. The lock is tried, never
    waited for: a key another replica is claiming or finishing is left for later."""
    heads = []
    for candidate in candidates:
        lock = advisory_lock_id(candidate.order_key)
        if not connection.execute("SELECT pg_try_advisory_xact_lock(?)", (lock,)).fetchone()[0]:
            continue
        ahead = connection.execute(_HELD_AHEAD, (candidate.order_key, candidate.seq)).fetchone()
        if ahead is None:
            heads.append(candidate)
    return heads


# Keys per transaction of promote_unheaded: each holds one advisory lock until
# commit, and PostgreSQL's lock table is shared and bounded (64 per connection
# by default), so a burst of many advisories must not take them all at once.
KEYS_PER_TRANSACTION = 32


def promote_unheaded(connection: Connection, keys: Iterable[str]) -> int:
    """Promote the earliest waiting delivery of each of `keys` that nothing holds;
    how many were promoted. Transactions of KEYS_PER_TRANSACTION keys, holding their locks."""
    ordered = sorted(set(keys))
    promoted = 0
    for start in range(0, len(ordered), KEYS_PER_TRANSACTION):
        chunk = ordered[start : start + KEYS_PER_TRANSACTION]
        with transaction(connection, ordering_keys=chunk):
            promoted += sum(promote_next(connection, key) is not None for key in chunk)
    return promoted


def promote_next(
    connection: Connection,
    order_key: str,
    *,
    owner: str | None = None,
    lease_until: float | None = None,
) -> StoredDelivery | None:
    """Make the earliest waiting delivery of `order_key` ready, if nothing holds the key;
    it is returned (None when nothing was promoted).

    With `lease_until`, it is claimed for `owner` instead of made ready. Runs
    inside a transaction holding the key's lock.
    """
    held = connection.execute(
        "SELECT 1 FROM deliveries WHERE order_key = ? AND state IN ('queued', 'running') LIMIT 1",
        (order_key,),
    ).fetchone()
    if held:
        return None
    row = connection.execute(
        SELECT_DELIVERIES + "WHERE order_key = ? AND state = 'waiting' ORDER BY seq LIMIT 1",
        (order_key,),
    ).fetchone()
    if row is None:
        return None
    following = delivery_of_row(row)
    if lease_until is None:
        connection.execute("UPDATE deliveries SET state = 'queued' WHERE seq = ?", (following.seq,))
        return replace(following, state="queued")
    connection.execute(TAKE, (owner, lease_until, following.seq))
    return replace(following, state="running", attempts=following.attempts + 1)
