"""Payload retention: what the queue keeps of a delivery's text, and for how long.

A done delivery's payload is removed in the transaction that finishes it
(bot/queue/store.py). A parked (failed) one keeps it for
`BOT_PARKED_RETENTION_DAYS`, then :meth:`PayloadRetention.purge` removes it
(a removed payload can no longer be retried); the same call catches up, in
batches, on done deliveries stored before completion removed payloads.
"""

from __future__ import annotations

from functools import partial

from bot.db.connection import Connection, Database
from bot.queue.store import REMOVED_PAYLOAD

# Done deliveries whose payload outlived them (stored before payloads were removed
# on completion) are purged this many at a time, so other jobs interleave.
PURGE_BATCH = 500


class PayloadRetention:
    """Removes payloads no longer needed; idempotent, every replica may run it."""

    def __init__(self, database: Database) -> None:
        self.database = database
        # Where the catch-up over done deliveries is (seq); None once it has finished.
        self._done_purge_cursor: int | None = 0

    async def purge(self, *, parked_before: float) -> int:
        """Remove the payloads no longer needed; how many were removed.

        Parked deliveries finished before `parked_before` (the retention), and
        done ones that still hold theirs (stored before completion removed it).
        Idempotent: every replica may run it.
        """

        def parked(connection: Connection) -> int:
            return int(
                connection.execute(
                    "UPDATE deliveries SET payload = ? WHERE state = 'failed' "
                    "AND finished_at < ? AND payload <> ?",
                    (REMOVED_PAYLOAD, parked_before, REMOVED_PAYLOAD),
                ).rowcount
            )

        removed = await self.database.run(parked)
        while self._done_purge_cursor is not None:
            count, self._done_purge_cursor = await self.database.run(
                partial(_purge_done_batch, after=self._done_purge_cursor)
            )
            removed += count
        return removed


def _purge_done_batch(connection: Connection, *, after: int) -> tuple[int, int | None]:
    """Remove the payloads of the next PURGE_BATCH done deliveries after seq `after`:
    (how many held one, the cursor for the next batch or None at the end)."""
    seqs = [
        row[0]
        for row in connection.execute(
            "SELECT seq FROM deliveries WHERE state = 'done' AND seq > ? ORDER BY seq LIMIT ?",
            (after, PURGE_BATCH),
        ).fetchall()
    ]
    if not seqs:
        return 0, None
    marks = ", ".join("?" * len(seqs))
    removed = connection.execute(
        # Built from placeholders only; every value is a bound parameter.
        f"UPDATE deliveries SET payload = ? WHERE seq IN ({marks}) "  # noqa: S608
        "AND state = 'done' AND length(payload) > 0",
        (REMOVED_PAYLOAD, *seqs),
    ).rowcount
    return int(removed), (seqs[-1] if len(seqs) == PURGE_BATCH else None)
