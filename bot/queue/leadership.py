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

from bot.core.logs import fields, process_owner
from bot.queue.store import Store, StoreUnavailable

log = logging.getLogger("ghsa_bot.leadership")

LEASE_NAME = "singleton-jobs"


class Leadership:
    def __init__(
        self,
        store: Store,
        *,
        seconds: float = 15.0,
        name: str = LEASE_NAME,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
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
            held = await self.store.hold_lease(
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
            await self.store.release_lease(self.name, self.owner)
        except StoreUnavailable as error:
            log.warning("could not release the leader lease", extra=fields(error=str(error)))
