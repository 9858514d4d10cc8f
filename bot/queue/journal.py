"""SQLite intake's journal: a webhook is acknowledged once appended to a file.

Storing a delivery in SQLite on the request's path costs a commit that writes
about eight WAL pages (30 KiB for a 4 KB delivery), and it waits while the
database thread holds the connection; a checkpoint running at that moment
made it slower still. Together they put SQLite intake's p99 at two to three
times the bare app's (benchmarks/RESULTS.md). Here intake appends the body to
a segment file (one `write`, a few microseconds) and answers; a task imports
the journaled deliveries into SQLite on the database thread, in chunks, every
IMPORT_GATHER_SECONDS, and wakes the worker (bot/queue/journal_import.py, which
also stores the bot's own events and webhooks in a flood, in the same order).

What an acknowledgement promises is unchanged. A process that dies keeps what
`write` handed to the kernel: the next start imports every segment left over
(`recover`), and a GUID already stored is skipped (a redelivery, or a
delivery imported before the crash); records are imported in the order they
were appended (a sequence number in each). Against a power loss the open
segment is fdatasynced every CHECKPOINT_SECONDS, as the WAL is by the
checkpoint: the same window as before.

A segment is closed once it holds SEGMENT_BYTES or is SEGMENT_SECONDS old
(not every tick: a file made and deleted each time would add the folder's
metadata to every sync), and deleted only when every record in it is imported and a
checkpoint that ran after the import copied the whole WAL back into the
database file (SQLite syncs both on the way). A journaled GUID is kept in
memory until its import, so a redelivery is answered as a duplicate before
it; after, the database answers (a read-only connection on the event loop; in
WAL mode a reader never waits for the writer).

The segment files hold embargoed reports, like the database: their folder is
0700 and owned by the bot's user, or the bot refuses to start; each file is
0600, and the folder is locked so one process at a time uses it (another
process on the same database stores directly, as PostgreSQL and SQLite with
`BOT_SQLITE_SYNCHRONOUS=FULL` do).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bot.core.logs import fields
from bot.db.connection import StoreUnavailable
from bot.queue.intake import Delivery, decode_json, delivery_of
from bot.queue.journal_folder import JournalFolder
from bot.queue.journal_import import (
    BACKLOG_LIMIT_BYTES,
    IMPORT_CHUNK,
    ImportLine,
    Insert,
)
from bot.queue.journal_records import FILE_MAGIC, JournalRecord, decode_records, encode_record

log = logging.getLogger("ghsa_bot.journal")

SEGMENT_SUFFIX = ".journal"
# A segment is closed (and deleted once the database holds it) when it holds this
# many bytes or is this old, whichever comes first: a report's text stays in the
# folder about a second.
SEGMENT_BYTES = 4 * 1024 * 1024
SEGMENT_SECONDS = 1.0
# Closed segments waiting for a checkpoint of the whole WAL past which a warning is
# logged (a minute of them at one a second).
WAITING_SEGMENTS_WARNING = 60
_NO_PAYLOAD: Mapping[str, Any] = MappingProxyType({})


@dataclass(eq=False)
class _Segment:
    name: str  # in the journal's folder
    descriptor: int | None
    records: int = 0
    imported: int = 0
    # The journal's GUIDs not yet in the database (shared by its segments).
    pending: set[str] = field(default_factory=set)
    size: int = 0
    opened: float = 0.0  # when its first record was appended

    def imported_one(self, guid: str) -> None:
        """One of its deliveries is in the database: from now on the database answers
        for its GUID."""
        self.imported += 1
        self.pending.discard(guid)

    def close_file(self) -> None:
        """Close its descriptor if open; an error is logged. The descriptor is cleared
        first: a failed close has released the number too."""
        descriptor, self.descriptor = self.descriptor, None
        if descriptor is None:
            return
        try:
            os.close(descriptor)
        except OSError as error:
            log.error(
                "intake journal: closing a segment failed", extra=fields(error=error.strerror)
            )


class IntakeJournal:
    """Append-only segment files in front of the SQLite store (see the module docstring).

    `insert` stores rows in the database, `is_stored` says whether a GUID is
    stored already, `checkpoint` copies the WAL back and says whether all of it
    was (so everything committed before the call is in the synced database
    file), and `on_imported` is called after each import (it wakes the worker).
    """

    def __init__(
        self,
        folder: JournalFolder,
        *,
        insert: Insert,
        is_stored: Callable[[str], bool],
        checkpoint: Callable[[], Awaitable[bool]],
        backlog_limit_bytes: int = BACKLOG_LIMIT_BYTES,
        segment_seconds: float = SEGMENT_SECONDS,
    ) -> None:
        self._folder = folder
        self.folder = folder.path
        self._segment_seconds = segment_seconds
        self._insert = insert
        self._is_stored = is_stored
        self._checkpoint = checkpoint
        # Every webhook's way into the database, journaled or waited for, in one order.
        self.line = ImportLine(insert, backlog_limit_bytes=backlog_limit_bytes)
        self._run_id = time.time_ns()
        self._count = 0
        self._active: _Segment | None = None
        self._spare: _Segment | None = None
        self._sealed: list[_Segment] = []
        self._guids: set[str] = set()  # journaled GUIDs not yet in the database
        self._sequence = 0  # numbers the appends, across segments, for recovery's order
        self._folder_unsynced = False  # a segment was made since the folder's last fsync
        self._waiting_warned = False
        self._let_go = False  # close has let go of the folder and the files
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ghsa-bot-journal")
        self._closed = False

    @classmethod
    def open(
        cls,
        folder: Path,
        *,
        insert: Insert,
        is_stored: Callable[[str], bool],
        checkpoint: Callable[[], Awaitable[bool]],
        backlog_limit_bytes: int = BACKLOG_LIMIT_BYTES,
        segment_seconds: float = SEGMENT_SECONDS,
    ) -> IntakeJournal | None:
        """The journal in `folder` (made 0700 if missing), or None when another process
        holds it. Raises StoreUnavailable for a folder others may enter or replace."""
        opened = JournalFolder.open(folder)
        if opened is None:
            return None
        return cls(
            opened,
            insert=insert,
            is_stored=is_stored,
            checkpoint=checkpoint,
            backlog_limit_bytes=backlog_limit_bytes,
            segment_seconds=segment_seconds,
        )

    # -- intake --------------------------------------------------------------------

    def append(self, delivery: Delivery, source: str) -> bool:
        """Journal `delivery` (on the event loop); False when its GUID is stored already.

        Raises StoreUnavailable when the file cannot be written.
        """
        if self._closed:
            raise StoreUnavailable("the store is closed")
        guid = delivery.guid
        if guid in self._guids or self._is_stored(guid):
            return False
        self._sequence += 1
        record = encode_record(
            guid, delivery.event, source, delivery.received_at, self._sequence, delivery.body
        )
        segment = None
        try:
            segment = self._writable_segment()
            _write_all(segment.descriptor, record)
        except OSError as error:
            # A partial record may end the file: it is read up to there, and
            # nothing more is written to it.
            if segment is not None:
                self._seal(segment)
            raise StoreUnavailable(
                f"the intake journal cannot be written: {error.strerror or error}"
            ) from None
        if not segment.records:
            segment.opened = time.monotonic()
        segment.records += 1
        segment.size += len(record)
        self._guids.add(guid)
        self.line.add(delivery._replace(payload=_NO_PAYLOAD), source, segment)
        return True

    async def store_directly(self, delivery: Delivery, source: str) -> bool:
        """Under a flood: store `delivery` before answering, in the line's next commit
        (no file write); False when its GUID is stored already."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        if delivery.guid in self._guids:
            return False
        return await self.line.add_and_wait(delivery._replace(payload=_NO_PAYLOAD), source)

    def _writable_segment(self) -> _Segment:
        if self._active is None:
            if self._spare is not None:
                self._active, self._spare = self._spare, None
            else:
                self._active = self._create_segment(self._next_name())
        assert self._active.descriptor is not None
        return self._active

    def _next_name(self) -> str:
        """A new segment's name (on the event loop only): this run's, numbered."""
        self._count += 1
        return f"{self._run_id:020d}-{self._count:010d}{SEGMENT_SUFFIX}"

    def _create_segment(self, name: str) -> _Segment:
        descriptor = self._folder.create(name)
        try:
            _write_all(descriptor, FILE_MAGIC)
        except OSError:
            os.close(descriptor)
            with contextlib.suppress(OSError):
                self._folder.delete(name)
            raise
        self._folder_unsynced = True
        return _Segment(name, descriptor, pending=self._guids)

    def _seal(self, segment: _Segment) -> None:
        """No more appends to `segment`: it waits for its import and a checkpoint."""
        if segment is self._active:
            self._active = None
        self._sealed.append(segment)

    @property
    def segments(self) -> int:
        """Segment files on disk (open, or waiting to be deleted)."""
        return len(self._sealed) + (self._active is not None) + (self._spare is not None)

    # -- durability and deletion ---------------------------------------------------

    async def tick(self) -> None:
        """Every CHECKPOINT_SECONDS: sync what was appended, checkpoint the WAL, and
        delete the segments the database now holds durably."""
        loop = asyncio.get_running_loop()
        active = self._active
        sealing = False
        if active is not None and self._due(active):
            # Appends go on in the spare at once; the next spare is made off the loop.
            self._sealed.append(active)
            self._active, self._spare = self._spare, None
            sealing = True
        # The open segment is synced in place: appends to a file synced so stayed under
        # 0.25 ms (benchmarks.wal_flush); a file made and deleted each tick would add
        # the folder's metadata to every sync.
        unsynced = None if sealing or active is None or not active.records else active.descriptor
        wants_spare = sealing and self._spare is None and not self._closed
        spare_name = self._next_name() if wants_spare else None
        made = loop.run_in_executor(self._executor, self._close_sealed, spare_name, unsynced)
        # Cancelled meanwhile (close), the thread still makes the spare: keep it anyway.
        made.add_done_callback(self._keep_spare)
        await asyncio.shield(made)
        done = [
            segment
            for segment in self._sealed
            if segment.descriptor is None and segment.imported == segment.records
        ]
        self._warn_when_segments_wait()
        self._folder.warn_once_if_replaced()
        if not await self._checkpoint() or not done:
            return
        await loop.run_in_executor(self._executor, self._delete, done)
        deleted = set(done)
        self._sealed = [segment for segment in self._sealed if segment not in deleted]

    def _keep_spare(self, made: asyncio.Future[_Segment | None]) -> None:
        """On the loop, once the journal's thread has made a spare (before the tick that
        awaits it goes on): the next segment to append to; or, when there is one
        already or the journal has let go, an empty file closed (deleted after the next
        checkpoint, or at the next start)."""
        spare = None if made.cancelled() or made.exception() else made.result()
        if spare is None:
            return
        if self._spare is None and not self._let_go:
            self._spare = spare
            return
        spare.close_file()
        if not self._let_go:
            self._sealed.append(spare)

    def _warn_when_segments_wait(self) -> None:
        """Once, when closed segments pile up: a checkpoint has not copied the whole WAL
        back for a minute (another process holding a long read, a failing disk)."""
        waiting = len(self._sealed) > WAITING_SEGMENTS_WARNING
        if waiting and not self._waiting_warned:
            log.warning(
                "intake journal: segments wait for a checkpoint of the whole WAL",
                extra=fields(segments=len(self._sealed)),
            )
        self._waiting_warned = waiting

    def _due(self, active: _Segment) -> bool:
        """Whether the open segment is to be closed now (it holds deliveries)."""
        if not active.records:
            return False
        age = time.monotonic() - active.opened
        return self._closed or active.size >= SEGMENT_BYTES or age >= self._segment_seconds

    def _close_sealed(self, spare_name: str | None, active: int | None) -> _Segment | None:
        """On the journal's thread: fdatasync the open segment (`active`), fdatasync and
        close the sealed segments, make a spare named `spare_name`, and fsync the folder
        when a segment was made (so the new names survive a power loss)."""
        if active is not None:
            try:
                os.fdatasync(active)
            except OSError as error:
                log.error("intake journal: fdatasync failed", extra=fields(error=error.strerror))
        for segment in list(self._sealed):
            descriptor = segment.descriptor
            if descriptor is None:
                continue
            try:
                os.fdatasync(descriptor)
            except OSError as error:
                # Its deliveries are still imported, and the segment kept until the
                # database holds them durably; only the power-loss window widens.
                log.error("intake journal: fdatasync failed", extra=fields(error=error.strerror))
            segment.close_file()
        spare = None
        if spare_name is not None:
            with contextlib.suppress(OSError):  # the next append tries, and answers 503
                spare = self._create_segment(spare_name)
        if self._folder_unsynced:
            self._folder_unsynced = False
            try:
                self._folder.sync()
            except OSError as error:
                log.error(
                    "intake journal: syncing its folder failed",
                    extra=fields(error=error.strerror),
                )
        return spare

    def _delete(self, segments: list[_Segment]) -> None:
        for segment in segments:
            segment.close_file()
            self._folder.delete(segment.name)

    async def recover(self) -> int:
        """Import the segments a previous process left (at start, before serving); how
        many deliveries they held. They are deleted after the next durable checkpoint."""
        loop = asyncio.get_running_loop()
        names = self._folder.names(SEGMENT_SUFFIX)
        records: list[tuple[str, int, JournalRecord]] = []
        for name in names:
            data = await loop.run_in_executor(self._executor, self._folder.read, name)
            contents = decode_records(data)
            if contents.unreadable_bytes:
                log.warning(
                    "intake journal: the end of a segment could not be read (a write torn "
                    "by a crash, or damage); what came before it is imported",
                    extra=fields(
                        file=name,
                        offset=contents.unreadable_at,
                        bytes=contents.unreadable_bytes,
                    ),
                )
            run = name.split("-", 1)[0]
            records.extend((run, record.sequence, record) for record in contents.records)
        # In the order they were appended: by run, then by each run's sequence (a run's
        # segment names need not follow it: a spare is named before it is used).
        records.sort(key=lambda entry: entry[:2])
        rows = [row for row in (_stored_form(entry[2]) for entry in records) if row is not None]
        for start in range(0, len(rows), IMPORT_CHUNK):
            await self._insert(rows[start : start + IMPORT_CHUNK], True)
        self._sealed.extend(_Segment(name, None) for name in names)
        recovered = len(rows)
        if names:
            log.info(
                "intake journal: imported what the last run acknowledged",
                extra=fields(segments=len(names), deliveries=recovered),
            )
        return recovered

    async def close(self, seconds: float = 5.0) -> None:
        """Stop taking deliveries, import the rest, and delete what the database holds.
        What could not be imported stays on disk for the next start. Whatever fails,
        the folder and its lock are let go (a second call does nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.line.close(seconds)
            with contextlib.suppress(OSError):  # then left for the next start
                await self.tick()
            empty = [s for s in (self._active, self._spare) if s is not None and not s.records]
            with contextlib.suppress(OSError):  # empty: the next start skips them
                await asyncio.get_running_loop().run_in_executor(
                    self._executor, self._delete, empty
                )
            if self._sealed:
                log.warning(
                    "intake journal: deliveries left for the next start to import",
                    extra=fields(segments=len(self._sealed), deliveries=self.line.backlog),
                )
        finally:
            self._executor.shutdown(wait=True)
            self._let_go = True
            for segment in (*self._sealed, self._active, self._spare):
                if segment is not None:
                    segment.close_file()
            self._active = self._spare = None
            self._folder.close()


def _stored_form(record: JournalRecord) -> tuple[Delivery, str] | None:
    """The delivery a record holds, as intake built it; None for one that does not parse."""
    try:
        payload = decode_json(record.body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        log.warning("intake journal: a record's body is not a JSON object; left out")
        return None
    delivery = delivery_of(
        record.guid, record.event, record.body, payload, received_at=record.received_at
    )
    return delivery._replace(payload=_NO_PAYLOAD), record.source


def _write_all(descriptor: int | None, data: bytes) -> None:
    assert descriptor is not None
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]
