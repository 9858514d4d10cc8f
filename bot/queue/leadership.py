"""Leadership: exactly one replica at a time runs the jobs that must not run twice.

The advisory poller, the deadline scan and missed-delivery recovery each act
on the whole installation base; two replicas running them would double the
GitHub requests (and race on reminders). A lease row in the store decides who
runs them: the holder renews it every third of its length; when the holder
dies, the lease runs out and another replica takes it on its next renewal, so
a takeover takes at most `seconds` plus a third. A graceful stop releases the
lease at once. The same code runs on SQLite, where the one process always wins.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from bot.core.logs import fields, process_owner
from bot.db.connection import Connection, Database, StoreUnavailable

log = logging.getLogger("ghsa_bot.leadership")

LEASE_NAME = "singleton-jobs"


class Leadership:
    def __init__(
        self,
        database: Database,
        *,
        seconds: float = 15.0,
        name: str = LEASE_NAME,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.seconds = seconds
        self.name = name
        # Leases compare times written by different machines: wall-clock time,
        # never a test's stepped clock.
        self.wall_clock = wall_clock
        self.owner = process_owner("leader")
        self._held = asyncio.Event()

    @property
    def held(self) -> bool:
        return self._held.is_set()

    async def wait_until_held(self) -> None:
        await self._held.wait()

    async def renew_once(self) -> bool:
        """Take or extend the lease; a store that cannot be reached means not held."""
        try:
            held = await self._hold(
                self.name, self.owner, now=self.wall_clock(), seconds=self.seconds
            )
        except StoreUnavailable as error:
            log.warning("could not renew the leader lease", extra=fields(error=str(error)))
            held = False
        if held and not self.held:
            log.info("this replica now runs the singleton jobs", extra=fields(owner=self.owner))
            self._held.set()
        elif not held and self.held:
            log.warning("lost the leader lease", extra=fields(owner=self.owner))
            self._held.clear()
        return held

    async def run(self) -> None:
        while True:
            await self.renew_once()
            await asyncio.sleep(self.seconds / 3)

    async def release(self) -> None:
        """On a graceful stop: let another replica take over at once."""
        if not self.held:
            return
        self._held.clear()
        try:
            await self._release(self.name, self.owner)
        except StoreUnavailable as error:
            log.warning("could not release the leader lease", extra=fields(error=str(error)))

    # -- the lease row (table `leases`) ---------------------------------------------

    async def _hold(self, name: str, owner: str, *, now: float, seconds: float) -> bool:
        """Take the lease `name` for `owner`, or extend it; False while another holds it."""
        cursor_count = await self._execute(
            "INSERT INTO leases (name, owner, expires_at, acquired_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
            "expires_at = excluded.expires_at, acquired_at = CASE WHEN leases.owner = "
            "excluded.owner THEN leases.acquired_at ELSE excluded.acquired_at END "
            "WHERE leases.owner = excluded.owner OR leases.expires_at < excluded.acquired_at",
            (name, owner, now + seconds, now),
        )
        return cursor_count == 1

    async def _release(self, name: str, owner: str) -> None:
        await self._execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    async def _execute(self, sql: str, args: tuple[Any, ...]) -> int:
        def work(connection: Connection) -> int:
            return int(connection.execute(sql, args).rowcount)

        return await self.database.run_short(work)
