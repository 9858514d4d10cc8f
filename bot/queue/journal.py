"""SQLite intake's journal: a webhook is acknowledged once appended to a file.

Storing a delivery in SQLite on the request's path costs a commit that writes
about eight WAL pages (30 KiB for a 4 KB delivery), and it waits while the
database thread holds the connection; a checkpoint running at that moment
made it slower still. Together they put SQLite intake's p99 at two to three
times the bare app's (benchmarks/RESULTS.md). Here intake appends the body to
a segment file (one `write`, a few microseconds) and answers; a task imports
the journaled deliveries into SQLite on the database thread, in chunks, a
few milliseconds later, and wakes the worker.

What an acknowledgement promises is unchanged. A process that dies keeps what
`write` handed to the kernel: the next start imports every segment left over
(`recover`), and a GUID already stored is skipped (a redelivery, or a
delivery imported before the crash). Against a power loss the segment is
fdatasynced every CHECKPOINT_SECONDS, as the WAL was by the checkpoint: the
same window as before.

A segment is deleted only when it is closed, every record in it is imported,
and a checkpoint that ran after the import copied the whole WAL back into the
database file (SQLite syncs both on the way). Until then its GUIDs are kept in
memory, so a redelivery of one is answered as a duplicate before its import;
after, the database answers (a read-only connection on the event loop; in WAL
mode a reader never waits for the writer).

The segment files hold embargoed reports, like the database: their folder is
0700 and owned by the bot's user, or the bot refuses to start; each file is
0600, and the folder is locked so one process at a time uses it (another
process on the same database stores directly, as PostgreSQL and SQLite with
`BOT_SQLITE_SYNCHRONOUS=FULL` do).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
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
from bot.core.private_paths import make_private_folders, private_folder_problem
from bot.db.connection import StoreUnavailable
from bot.queue.intake import Delivery, decode_json, delivery_of
from bot.queue.journal_import import (
    BACKLOG_LIMIT_BYTES,
    IMPORT_CHUNK,
    ImportLine,
    Insert,
)
from bot.queue.journal_records import FILE_MAGIC, JournalRecord, encode_record, read_segment

log = logging.getLogger("ghsa_bot.journal")

SEGMENT_SUFFIX = ".journal"
_NO_PAYLOAD: Mapping[str, Any] = MappingProxyType({})



@dataclass(eq=False)
class _Segment:
    path: Path
    descriptor: int | None
    records: int = 0
    imported: int = 0
    guids: set[str] = field(default_factory=set)


class IntakeJournal:
    """Append-only segment files in front of the SQLite store (see the module docstring).

    `insert` stores rows in the database, `is_stored` says whether a GUID is
    stored already, `checkpoint` copies the WAL back and says whether all of it
    was (so everything committed before the call is in the synced database
    file), and `on_imported` is called after each import (it wakes the worker).
    """

    def __init__(
        self,
        folder: Path,
        lock_descriptor: int,
        *,
        insert: Insert,
        is_stored: Callable[[str], bool],
        checkpoint: Callable[[], Awaitable[bool]],
        backlog_limit_bytes: int = BACKLOG_LIMIT_BYTES,
    ) -> None:
        self.folder = folder
        self._lock_descriptor = lock_descriptor
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
        self._guids: set[str] = set()  # GUIDs of segments not yet deleted
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
    ) -> IntakeJournal | None:
        """The journal in `folder` (made 0700 if missing), or None when another process
        holds it. Raises StoreUnavailable for a folder others may enter or replace."""
        make_private_folders(folder)
        problem = private_folder_problem(folder)
        if problem is not None:
            raise StoreUnavailable(f"{problem}; it holds embargoed reports")
        descriptor = os.open(
            folder / "lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return None
        return cls(
            folder,
            descriptor,
            insert=insert,
            is_stored=is_stored,
            checkpoint=checkpoint,
            backlog_limit_bytes=backlog_limit_bytes,
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
        record = encode_record(guid, delivery.event, source, delivery.received_at, delivery.body)
        segment = self._writable_segment()
        try:
            _write_all(segment.descriptor, record)
        except OSError as error:
            # A partial record may end the file: it is read up to there, and
            # nothing more is written to it.
            self._seal(segment)
            raise StoreUnavailable(
                f"the intake journal cannot be written: {error.strerror}"
            ) from None
        segment.records += 1
        segment.guids.add(guid)
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
                self._active = self._create_segment()
        assert self._active.descriptor is not None
        return self._active

    def _create_segment(self) -> _Segment:
        self._count += 1
        path = self.folder / f"{self._run_id:020d}-{self._count:010d}{SEGMENT_SUFFIX}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        descriptor = os.open(path, flags, 0o600)
        try:
            _write_all(descriptor, FILE_MAGIC)
        except OSError:
            os.close(descriptor)
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        return _Segment(path, descriptor)

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
        if active is not None and active.records:
            # Appends go on in the spare at once; the next spare is made off the loop.
            self._sealed.append(active)
            self._active, self._spare = self._spare, None
            sealing = True
        need_spare = sealing and self._spare is None and not self._closed
        spare = await loop.run_in_executor(self._executor, self._close_sealed, need_spare)
        if spare is not None:
            if self._spare is None and not self._closed:
                self._spare = spare
            else:
                await loop.run_in_executor(self._executor, _delete, [spare])
        done = [
            segment
            for segment in self._sealed
            if segment.descriptor is None and segment.imported == segment.records
        ]
        if not await self._checkpoint() or not done:
            return
        await loop.run_in_executor(self._executor, _delete, done)
        deleted = set(done)
        self._sealed = [segment for segment in self._sealed if segment not in deleted]
        for segment in done:
            self._guids -= segment.guids

    def _close_sealed(self, need_spare: bool) -> _Segment | None:
        """On the journal's thread: fdatasync and close the sealed segments; a spare."""
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
            os.close(descriptor)
            segment.descriptor = None
        if not need_spare:
            return None
        try:
            return self._create_segment()
        except OSError:
            return None  # the next append tries, and answers 503 if it cannot

    async def recover(self) -> int:
        """Import the segments a previous process left (at start, before serving); how
        many deliveries they held. They are deleted after the next durable checkpoint."""
        loop = asyncio.get_running_loop()
        recovered = 0
        paths = sorted(path for path in self.folder.iterdir() if path.name.endswith(SEGMENT_SUFFIX))
        for path in paths:
            contents = await loop.run_in_executor(self._executor, read_segment, path)
            if contents.unreadable_bytes:
                log.warning(
                    "intake journal: the end of a segment could not be read (a write torn "
                    "by a crash, or damage); what came before it is imported",
                    extra=fields(
                        file=path.name,
                        offset=contents.unreadable_at,
                        bytes=contents.unreadable_bytes,
                    ),
                )
            rows = [row for row in map(_stored_form, contents.records) if row is not None]
            for start in range(0, len(rows), IMPORT_CHUNK):
                await self._insert(rows[start : start + IMPORT_CHUNK], True)
            self._sealed.append(_Segment(path, None, len(rows), len(rows)))
            recovered += len(rows)
        if paths:
            log.info(
                "intake journal: imported what the last run acknowledged",
                extra=fields(segments=len(paths), deliveries=recovered),
            )
        return recovered

    async def close(self, seconds: float = 5.0) -> None:
        """Stop taking deliveries, import the rest, and delete what the database holds.
        What could not be imported stays on disk for the next start."""
        self._closed = True
        await self.line.close(seconds)
        with contextlib.suppress(OSError):  # then left for the next start
            await self.tick()
        if self._spare is not None:
            await asyncio.get_running_loop().run_in_executor(None, _delete, [self._spare])
            self._spare = None
        if self._sealed:
            log.warning(
                "intake journal: deliveries left for the next start to import",
                extra=fields(segments=len(self._sealed), deliveries=self.line.backlog),
            )
        self._executor.shutdown(wait=True)
        os.close(self._lock_descriptor)


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


def _delete(segments: list[_Segment]) -> None:
    for segment in segments:
        if segment.descriptor is not None:
            os.close(segment.descriptor)
            segment.descriptor = None
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()
