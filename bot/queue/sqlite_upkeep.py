"""What a SQLite store runs beside its queries: the WAL's checkpoints and the intake journal.

Every CHECKPOINT_SECONDS a PASSIVE checkpoint copies the WAL back into the
database file on a thread of its own (bot/db/connection.py). In the serving
process the intake journal (bot/queue/journal.py) takes webhooks in front of
the database; its tick does the checkpoint itself, between syncing what was
appended and deleting what the database now holds. This module connects the
journal to the database: the import (on the database thread), the duplicate
check (a read-only connection on the event loop) and the checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bot.core.logs import fields
from bot.db.backends import SqliteBackend
from bot.db.connection import Database
from bot.queue.insert import insert_deliveries
from bot.queue.intake import Delivery
from bot.queue.journal import IntakeJournal

log = logging.getLogger("ghsa_bot.store")

# How often the WAL is copied into the database file (on its own thread). With
# synchronous=NORMAL the WAL is fsynced before each checkpoint, so this is also
# the most a power loss can take back; the intake journal's segments are
# fdatasynced as often. Small, frequent checkpoints keep each flush short: one
# large flush stalls concurrent WAL writes on ext4 for its whole length
# (measured: 1 s and 10 s intervals gave p99 acks of 6-13 ms at 1,500/s, 0.1 s
# gave 3.8-4.3 ms).
CHECKPOINT_SECONDS = 0.1


def journal_folder(backend: SqliteBackend) -> Path:
    """The intake journal's folder, beside the database file (as its -wal and -shm)."""
    return backend.path.with_name(backend.path.name + "-intake")


class SqliteUpkeep:
    """The checkpoint task of a SQLite file, and its intake journal when serving."""

    def __init__(self, database: Database, on_stored: Callable[[], None]) -> None:
        self.database = database
        self.journal: IntakeJournal | None = None
        self._on_stored = on_stored
        self._reader: sqlite3.Connection | None = None
        self._checkpoints: asyncio.Task[None] | None = None

    async def start(self, *, serving: bool, journal: bool) -> None:
        """Start checkpointing. When `serving`: import what a previous run left in the
        journal, and with `journal` keep it open for intake (on synchronous=NORMAL only:
        FULL and EXTRA promise a synced commit before each acknowledgement, which the
        journal does not)."""
        backend = self.database.backend
        assert isinstance(backend, SqliteBackend)
        if serving and journal and backend.synchronous == "NORMAL":
            await self._open_journal(backend)
        elif serving:
            await self._import_leftovers(backend)
        self._checkpoints = asyncio.create_task(
            self._checkpoint_every(CHECKPOINT_SECONDS), name="wal-checkpoint"
        )

    async def _open(self, folder: Path) -> IntakeJournal | None:
        return await asyncio.get_running_loop().run_in_executor(
            None,
            partial(
                IntakeJournal.open,
                folder,
                insert=self._import,
                is_stored=self._is_stored,
                checkpoint=self.database.checkpoint,
            ),
        )

    async def _import_leftovers(self, backend: SqliteBackend) -> None:
        """The journal is off now, but a run that had it on may have left deliveries in it."""
        folder = journal_folder(backend)
        if not folder.exists():
            return
        leftovers = await self._open(folder)
        if leftovers is not None:
            try:
                await leftovers.recover()
            finally:
                await leftovers.close()

    async def _open_journal(self, backend: SqliteBackend) -> None:
        folder = journal_folder(backend)
        opened = await self._open(folder)
        if opened is None:
            log.warning(
                "intake journal: another process holds it; webhooks are stored directly",
                extra=fields(folder=folder.name),
            )
            return
        opened.line.on_imported = self._on_stored
        self.journal = opened
        await opened.recover()

    async def _import(self, rows: list[tuple[Delivery, str]], waited_for: bool) -> list[bool]:
        """Insert webhooks from the import line (bot/queue/journal_import.py). Journaled
        ones, acknowledged already, on the database thread, so no request waits behind
        the insert; when a caller waits for the commit (a flood), on the event loop as
        soon as the connection is free, as intake always did: on the thread each row's
        insert hands the GIL back and forth with the loop."""
        insert = partial(insert_deliveries, rows=rows)
        if waited_for:
            return await self.database.run_short(insert)
        return await self.database.run(insert)

    def _is_stored(self, guid: str) -> bool:
        """On the event loop: whether `guid` is in the database. False when the read
        fails: the import skips a stored GUID anyway (only the answer is 202, not 200)."""
        try:
            if self._reader is None:
                backend = self.database.backend
                assert isinstance(backend, SqliteBackend)
                self._reader = backend.connect_reader()
            found = self._reader.execute("SELECT 1 FROM deliveries WHERE guid = ?", (guid,))
            return found.fetchone() is not None
        except sqlite3.Error:
            return False

    async def _checkpoint_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                if self.journal is not None:
                    await self.journal.tick()
                else:
                    await self.database.checkpoint()
            except OSError as error:  # the journal's folder; tried again next time
                log.error(
                    "intake journal: a sync or a deletion failed",
                    extra=fields(error=error.strerror or type(error).__name__),
                )
            except Exception:  # never stop: the syncs bound what a power loss takes back
                log.exception("checkpoint or journal tick failed; tried again next time")

    async def settled(self, seconds: float) -> None:
        """Wait until every journaled delivery is in the database."""
        if self.journal is not None:
            await self.journal.line.settled(seconds)

    async def close(self) -> None:
        """Stop checkpointing; import and delete what the journal holds (what cannot be
        stays for the next start)."""
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoints
            self._checkpoints = None
        if self.journal is not None:
            await self.journal.close()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
