"""The intake journal (bot/queue/journal.py): its file format, its import into
SQLite, when it deletes a segment, recovery after a crash, and its folder's rules.

The journal exists on SQLite only; every test here runs in the SQLite leg.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import struct
import sys
import threading
import time
import uuid
import zlib
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.core.env_file import SettingsError
from bot.core.settings import load_settings
from bot.db.backends import THREAD_BUSY_TIMEOUT
from bot.db.connection import Database, StoreUnavailable
from bot.queue.insert import insert_deliveries
from bot.queue.intake import Delivery, delivery_of
from bot.queue.journal import SEGMENT_SUFFIX, IntakeJournal
from bot.queue.journal_records import FILE_MAGIC, decode_records, encode_record
from bot.queue.store import Store
from tests.conftest import free_port
from tests.databases import locked_by_another_process, query
from tests.harness import BotProcess, BotUnderTest, load_payload, run_cli, send_webhook

pytestmark = pytest.mark.database_leg("sqlite")


def delivery(guid: str | None = None) -> Delivery:
    payload = load_payload("installation_repositories/added.payload.json")
    body = json.dumps(payload)
    return delivery_of(
        guid or str(uuid.uuid4()), "installation_repositories", body, payload, received_at=1.0
    )


def segments(folder: Path) -> list[Path]:
    """The segment files holding deliveries (not the empty one made ahead for the next)."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.name.endswith(SEGMENT_SUFFIX) and path.stat().st_size > len(FILE_MAGIC)
    )


def stored_guids(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        return [row[0] for row in connection.execute("SELECT guid FROM deliveries ORDER BY seq")]


async def gated_journal(
    tmp_path: Path, gate: asyncio.Event, backlog_limit_bytes: int
) -> tuple[IntakeJournal, Database]:
    """A journal on a real database whose import waits for `gate` (a database behind)."""
    database = Database(f"sqlite:///{tmp_path}/bot.sqlite3")
    await database.migrate()

    async def slow_import(rows: list[tuple[Delivery, str]], waited_for: bool) -> list[bool]:
        await gate.wait()
        return await database.run(partial(insert_deliveries, rows=rows))

    journal = IntakeJournal.open(
        tmp_path / "journal",
        insert=slow_import,
        is_stored=lambda guid: False,
        checkpoint=database.checkpoint,
        backlog_limit_bytes=backlog_limit_bytes,
    )
    assert journal is not None
    return journal, database


async def journaled_store(tmp_path: Path) -> Store:
    store = Store(Database(f"sqlite:///{tmp_path}/bot.sqlite3"))
    await store.open(serving=True)
    assert store.journal is not None
    return store


# -- the file format ----------------------------------------------------------------


def test_records_read_back_and_a_torn_tail_is_cut_off() -> None:
    first = encode_record("g1", "ping", "webhook", 1.5, 0, '{"a": "é"}')
    second = encode_record("g2", "ping", "webhook", 2.5, 0, "{}")
    whole = FILE_MAGIC + first + second
    contents = decode_records(whole)
    assert [(r.guid, r.body, r.received_at) for r in contents.records] == [
        ("g1", '{"a": "é"}', 1.5),
        ("g2", "{}", 2.5),
    ]
    assert contents.unreadable_bytes == 0
    for cut in range(1, len(second)):  # every torn length of the last write
        torn = decode_records(whole[: len(whole) - cut])
        assert [r.guid for r in torn.records] == ["g1"]
        assert torn.unreadable_at == len(FILE_MAGIC) + len(first)
        assert torn.unreadable_bytes == len(second) - cut


def test_a_record_whose_checksum_fails_ends_the_reading() -> None:
    first = encode_record("g1", "ping", "webhook", 1.0, 0, "{}")
    damaged = bytearray(encode_record("g2", "ping", "webhook", 1.0, 0, '{"x": 1}'))
    damaged[-2] ^= 0x01
    third = encode_record("g3", "ping", "webhook", 1.0, 0, "{}")
    contents = decode_records(FILE_MAGIC + first + bytes(damaged) + third)
    assert [r.guid for r in contents.records] == ["g1"]
    assert contents.unreadable_bytes == len(damaged) + len(third)


def test_a_foreign_file_or_a_forged_length_yields_nothing() -> None:
    assert decode_records(b"not a journal").records == []
    huge = struct.pack(">II", 2**31, zlib.crc32(b""))
    assert decode_records(FILE_MAGIC + huge + b"x" * 10).records == []


# -- the journal in front of SQLite ---------------------------------------------------


async def test_a_delivery_is_journaled_imported_and_its_segment_deleted(tmp_path: Path) -> None:
    store = await journaled_store(tmp_path)
    journal = store.journal
    assert journal is not None
    woken: list[int] = []
    store.on_stored = lambda: woken.append(1)
    try:
        item = delivery()
        assert await store.add_delivery(item) is True
        [segment] = segments(journal.folder)
        assert stat.S_IMODE(segment.stat().st_mode) == 0o600
        assert stat.S_IMODE(journal.folder.stat().st_mode) == 0o700
        assert [r.guid for r in decode_records(segment.read_bytes()).records] == [item.guid]
        await store.intake_settled()
        assert woken
        stored = await store.get_delivery(item.guid)
        assert stored is not None and stored.state == "queued"
        # A redelivery: a duplicate, answered from the journal before the segment goes...
        assert await store.add_delivery(item) is False
        for _ in range(250):  # ...and it goes once closed (a second) and checkpointed.
            if segment not in segments(journal.folder):
                break
            await asyncio.sleep(0.02)
        assert segment not in segments(journal.folder)
        # Then the database answers.
        assert await store.add_delivery(item) is False
    finally:
        await store.close()
    assert segments(tmp_path / "bot.sqlite3-intake") == []
    assert stored_guids(tmp_path / "bot.sqlite3") == [item.guid]


async def test_a_segment_stays_until_a_checkpoint_copies_the_whole_wal(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/bot.sqlite3")
    await database.migrate()
    store = Store(database)
    full_checkpoints = False

    async def checkpoint() -> bool:
        await database.checkpoint()
        return full_checkpoints

    async def insert(rows: list[tuple[Delivery, str]], waited_for: bool) -> list[bool]:
        return await database.run(partial(insert_deliveries, rows=rows))

    journal = IntakeJournal.open(
        tmp_path / "journal",
        insert=insert,
        is_stored=lambda guid: False,
        checkpoint=checkpoint,
        segment_seconds=0,  # closed at the first tick
    )
    assert journal is not None
    try:
        item = delivery()
        assert journal.append(item, "webhook")
        await journal.line.settled(5)
        for _ in range(3):
            await journal.tick()
        assert len(segments(journal.folder)) == 1, "deleted before the WAL was synced back"
        full_checkpoints = True
        await journal.tick()
        assert segments(journal.folder) == []
    finally:
        await journal.close()
        await store.close()
    assert stored_guids(tmp_path / "bot.sqlite3") == [item.guid]


@pytest.mark.parametrize("journal_now", [True, False], ids=["journal-on", "journal-off-now"])
async def test_what_a_dead_run_acknowledged_is_imported_once_at_start(
    tmp_path: Path, journal_now: bool
) -> None:
    """A run that journaled deliveries and died before importing them (its import
    never finished); the next start imports every whole record, and a GUID already
    in the database (imported before the crash) is stored once. So does a start
    with the journal turned off since."""
    database = tmp_path / "bot.sqlite3"
    folder = tmp_path / "bot.sqlite3-intake"
    earlier = Store(Database(f"sqlite:///{database}"))
    await earlier.open()
    already = delivery()
    assert await earlier.add_delivery(already, source="webhook")
    await earlier.close()

    never = asyncio.Event()

    async def import_that_never_finishes(
        rows: list[tuple[Delivery, str]], waited_for: bool
    ) -> list[bool]:
        await never.wait()
        return []

    async def no_checkpoint() -> bool:
        return False

    dead = IntakeJournal.open(
        folder,
        insert=import_that_never_finishes,
        is_stored=lambda guid: False,
        checkpoint=no_checkpoint,
    )
    assert dead is not None
    acknowledged = [already] + [delivery() for _ in range(5)]
    for item in acknowledged:
        assert dead.append(item, "webhook")
    [segment] = segments(folder)
    # The dead run's lock goes with its process; its last write was torn.
    dead._folder.close()
    with segment.open("ab") as file:
        file.write(encode_record("torn", "ping", "webhook", 1.0, 0, "{}")[:-3])

    store = Store(Database(f"sqlite:///{database}"))
    await store.open(serving=True, journal=journal_now)
    try:
        assert (store.journal is not None) is journal_now
        for _ in range(100):
            if not segments(folder):
                break
            await asyncio.sleep(0.02)
        assert segments(folder) == []
    finally:
        await store.close()
    assert stored_guids(database) == [item.guid for item in acknowledged]
    await dead.line.close(0)


async def test_a_second_process_stores_directly(tmp_path: Path) -> None:
    first = await journaled_store(tmp_path)
    second = Store(Database(f"sqlite:///{tmp_path}/bot.sqlite3"))
    await second.open(serving=True)
    try:
        assert second.journal is None
        item = delivery()
        assert await second.add_delivery(item) is True
        assert await second.get_delivery(item.guid) is not None
        # The first's journal sees it in the database: a duplicate there too.
        assert await first.add_delivery(item) is False
    finally:
        await second.close()
        await first.close()


async def test_synchronous_full_keeps_the_synced_commit(tmp_path: Path) -> None:
    store = Store(Database(f"sqlite:///{tmp_path}/bot.sqlite3", synchronous="FULL"))
    await store.open(serving=True)
    try:
        assert store.journal is None
    finally:
        await store.close()


async def test_intake_waits_for_an_import_far_behind(tmp_path: Path) -> None:
    """Past the backlog limit a delivery waits for the import (the web route answers
    503 after its bound); memory stays bounded, and it is taken once there is room."""
    gate = asyncio.Event()
    item = delivery()
    journal, database = await gated_journal(tmp_path, gate, 3 * sys.getsizeof(item.body))
    try:
        for _ in range(4):
            assert not journal.line.full
            assert journal.append(delivery(), "webhook")
        assert journal.line.full and journal.line.backlog == 4
        waiting = asyncio.ensure_future(journal.line.room())
        await asyncio.sleep(0.1)
        assert not waiting.done()
        gate.set()
        await asyncio.wait_for(waiting, 5)
        assert journal.append(item, "webhook")
        await journal.line.settled(5)
    finally:
        await journal.close()
        await database.close()
    assert len(stored_guids(tmp_path / "bot.sqlite3")) == 5


async def test_a_body_counts_the_memory_its_text_holds(tmp_path: Path) -> None:
    """Text past the Basic Multilingual Plane takes four bytes a character in memory:
    the line's limit counts those, not characters."""
    gate = asyncio.Event()
    wide = delivery()._replace(body=json.dumps({"title": "\U0001f600" * 2000}, ensure_ascii=False))
    journal, database = await gated_journal(tmp_path, gate, 6000)
    try:
        assert journal.append(wide, "webhook")
        assert journal.line.full  # 2,000-odd characters, over 8,000 bytes of memory
        gate.set()
        await journal.line.settled(5)
        assert not journal.line.full
    finally:
        await journal.close()
        await database.close()
    assert stored_guids(tmp_path / "bot.sqlite3") == [wide.guid]


async def test_a_delivery_is_taken_while_another_process_holds_the_database(
    start_bot: Any, tmp_path: Path
) -> None:
    """The journal needs no lock of the database: the ack is 202 at once, the import
    waits for the lock, and the delivery is handled once it is released."""
    path = tmp_path / "held" / "bot.sqlite3"
    bot: BotUnderTest = await start_bot(DATABASE_URL=f"sqlite:///{path}")
    await bot.settle()
    payload = bot.payload("installation_repositories/added.payload.json")
    payload["repositories_added"] = []
    with locked_by_another_process(path):
        started = time.monotonic()
        sent = await bot.send("installation_repositories", payload)
        assert sent.status == 202, sent.body
        assert time.monotonic() - started < 1.0
        await asyncio.sleep(THREAD_BUSY_TIMEOUT + 0.5)  # the import fails at least once
        assert await bot.services.store.get_delivery(sent.guid) is None
        again = await bot.send("installation_repositories", payload, guid=sent.guid)
        assert again.status == 200 and json.loads(again.body)["duplicate"] is True
    await bot.settle()
    stored = await bot.services.store.get_delivery(sent.guid)
    assert stored is not None and stored.state == "done"


@pytest.mark.parametrize("mode", [0o750, 0o705])
async def test_a_folder_others_may_enter_is_refused(tmp_path: Path, mode: int) -> None:
    folder = tmp_path / "bot.sqlite3-intake"
    folder.mkdir(mode=0o700)
    os.chmod(folder, mode)
    store = Store(Database(f"sqlite:///{tmp_path}/bot.sqlite3"))
    with pytest.raises(StoreUnavailable, match="chmod 700"):
        await store.open(serving=True)
    await store.close()


async def test_a_link_in_place_of_the_folder_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / "bot.sqlite3-intake").symlink_to(elsewhere)
    store = Store(Database(f"sqlite:///{tmp_path}/bot.sqlite3"))
    with pytest.raises(StoreUnavailable, match="must be a folder"):
        await store.open(serving=True)
    await store.close()
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("kind", ["link", "folder", "fifo"])
async def test_a_lock_entry_that_is_not_a_file_is_refused_with_its_name(
    tmp_path: Path, kind: str
) -> None:
    """The folder's `lock` is a link (to a file elsewhere), a folder or a pipe: the
    bot refuses to start with a message naming it, not an OS error, and nothing is
    written through it."""
    folder = tmp_path / "bot.sqlite3-intake"
    folder.mkdir(mode=0o700)
    target = tmp_path / "elsewhere"
    target.write_bytes(b"")
    lock = folder / "lock"
    if kind == "link":
        lock.symlink_to(target)
    elif kind == "folder":
        lock.mkdir()
    else:
        os.mkfifo(lock)
    descriptors_before = len(os.listdir("/proc/self/fd"))
    store = Store(Database(f"sqlite:///{tmp_path}/bot.sqlite3"))
    with pytest.raises(StoreUnavailable, match=r"bot\.sqlite3-intake/lock must be a regular file"):
        await store.open(serving=True)
    await store.close()
    assert len(os.listdir("/proc/self/fd")) == descriptors_before
    assert target.read_bytes() == b""
    assert not any(path.name.endswith(SEGMENT_SUFFIX) for path in folder.iterdir())


async def test_serve_with_a_linked_lock_entry_stops_in_one_line(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    """What the operator sees: `ghsa-bot serve` exits 2 with one line naming the entry,
    no traceback, and the link's target is left as it was."""
    folder = tmp_path / "bot.sqlite3-intake"
    folder.mkdir(mode=0o700)
    target = tmp_path / "elsewhere"
    target.write_bytes(b"")
    (folder / "lock").symlink_to(target)
    env = {**bot_env, "DATABASE_URL": f"sqlite:///{tmp_path}/bot.sqlite3", "PORT": str(free_port())}
    code, _, err = await run_cli(env, "serve")
    assert code == 2, err
    assert "Traceback" not in err, err
    assert err.startswith("ghsa-bot: store unavailable: "), err
    assert "bot.sqlite3-intake/lock must be a regular file" in err, err
    assert err.count("\n") == 1, err
    assert target.read_bytes() == b""


async def test_a_spare_made_while_its_tick_is_cancelled_is_not_left_behind(
    tmp_path: Path,
) -> None:
    """Shutdown cancels the periodic tick whose work (sealing, making the next segment)
    waits for the journal's thread: the work still runs, and the segment it makes is
    kept and deleted at close, its descriptor closed. (Before, a cancel that landed
    while the thread made the file dropped it: an empty file and an open descriptor
    until the process ended; a cancel before the thread began skipped the work.)"""
    descriptors_before = len(os.listdir("/proc/self/fd"))
    database = Database(f"sqlite:///{tmp_path}/bot.sqlite3")
    await database.migrate()

    async def insert(rows: list[tuple[Delivery, str]], waited_for: bool) -> list[bool]:
        return await database.run(partial(insert_deliveries, rows=rows))

    folder = tmp_path / "journal"
    journal = IntakeJournal.open(
        folder,
        insert=insert,
        is_stored=lambda guid: False,
        checkpoint=database.checkpoint,
        segment_seconds=0,  # the tick seals the segment and has a spare made
    )
    assert journal is not None
    item = delivery()
    busy = threading.Event()
    try:
        assert journal.append(item, "webhook")
        # The journal's one thread is busy: the tick's work queues behind this.
        journal._executor.submit(busy.wait, 10)
        tick = asyncio.create_task(journal.tick())
        await asyncio.sleep(0.05)
        tick.cancel()
        with pytest.raises(asyncio.CancelledError):
            await tick
        busy.set()
        for _ in range(500):  # the work ran, and the segment it made is the next one
            if journal._spare is not None:
                break
            await asyncio.sleep(0.01)
        assert journal._spare is not None
        await journal.line.settled(5)
    finally:
        busy.set()
        await journal.close()
        await database.close()
    assert sorted(path.name for path in folder.iterdir()) == ["lock"]
    assert len(os.listdir("/proc/self/fd")) == descriptors_before
    assert stored_guids(tmp_path / "bot.sqlite3") == [item.guid]


async def test_a_close_that_fails_still_lets_go_of_the_folder(tmp_path: Path) -> None:
    """A checkpoint that raises during close: the lock and the descriptors are let go
    (the same process can open the journal again), and a second close does nothing."""
    database = Database(f"sqlite:///{tmp_path}/bot.sqlite3")
    await database.migrate()

    async def insert(rows: list[tuple[Delivery, str]], waited_for: bool) -> list[bool]:
        return await database.run(partial(insert_deliveries, rows=rows))

    async def failing_checkpoint() -> bool:
        raise RuntimeError("the checkpoint failed")

    def open_journal() -> IntakeJournal | None:
        return IntakeJournal.open(
            tmp_path / "journal",
            insert=insert,
            is_stored=lambda guid: False,
            checkpoint=failing_checkpoint,
        )

    descriptors_before = len(os.listdir("/proc/self/fd"))
    journal = open_journal()
    assert journal is not None
    item = delivery()
    assert journal.append(item, "webhook")
    with pytest.raises(RuntimeError, match="the checkpoint failed"):
        await journal.close()
    await journal.close()  # nothing more to let go
    assert len(os.listdir("/proc/self/fd")) == descriptors_before
    again = open_journal()
    assert again is not None, "the lock was still held"
    await again.recover()  # the segment stayed: its delivery is stored already
    with pytest.raises(RuntimeError):
        await again.close()
    await database.close()
    assert stored_guids(tmp_path / "bot.sqlite3") == [item.guid]


async def test_a_folder_swapped_after_start_changes_nothing_the_journal_writes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A local user who may write in the database's folder renames the journal's folder
    once the bot has checked it and puts a link to their own in its place: every later
    segment (embargoed reports) is still made, read and deleted in the folder checked."""
    database = Database(f"sqlite:///{tmp_path}/bot.sqlite3")
    await database.migrate()

    async def insert(rows: list[tuple[Delivery, str]], waited_for: bool) -> list[bool]:
        return await database.run(partial(insert_deliveries, rows=rows))

    folder, moved, theirs = tmp_path / "journal", tmp_path / "moved", tmp_path / "theirs"
    journal = IntakeJournal.open(
        folder,
        insert=insert,
        is_stored=lambda guid: False,
        checkpoint=database.checkpoint,
        segment_seconds=0,  # closed at each tick: new segments get made after the swap
    )
    assert journal is not None
    first, second, third = delivery(), delivery(), delivery()
    try:
        assert journal.append(first, "webhook")
        folder.rename(moved)
        theirs.mkdir(mode=0o700)
        folder.symlink_to(theirs)
        await journal.tick()  # closes the first segment, makes the next one
        assert journal.append(second, "webhook")
        await journal.tick()
        assert journal.append(third, "webhook")
        assert list(theirs.iterdir()) == []
        assert len(segments(moved)) >= 1
        await journal.line.settled(5)
        for _ in range(5):
            await journal.tick()
        warnings = [r for r in caplog.records if "moved or replaced" in r.getMessage()]
        assert len(warnings) == 1, "the swap is logged, once"
        assert warnings[0].fields == {"folder": "journal"}  # type: ignore[attr-defined]
    finally:
        await journal.close()
        await database.close()
    assert list(theirs.iterdir()) == []
    assert segments(moved) == []  # deleted where they were made
    assert stored_guids(tmp_path / "bot.sqlite3") == [first.guid, second.guid, third.guid]


# -- a real process: killed, or unable to write ----------------------------------------

MARKER = "journal-test-marker-0f3c"


def journal_payload(padding: int = 0) -> dict[str, Any]:
    payload = load_payload("installation_repositories/added.payload.json")
    payload["installation"]["id"] = 1000
    payload["repositories_added"] = []
    payload["note"] = MARKER + "x" * padding  # text no log line may carry
    return payload


async def test_a_killed_process_loses_no_acknowledged_delivery(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    """Deliveries acknowledged while the database is locked (so none is imported),
    then SIGKILL, a torn last write: the next start stores every one exactly once,
    says what it could not read, and deletes the segments."""
    database = Path(bot_env["DATABASE_URL"].removeprefix("sqlite:///"))
    folder = database.with_name(database.name + "-intake")
    secret = bot_env["GITHUB_WEBHOOK_SECRET"].encode()
    async with aiohttp.ClientSession() as session:
        first = BotProcess(bot_env, free_port(), tmp_path / "first.log")
        await first.start(session)
        with locked_by_another_process(database):
            sent = [
                await send_webhook(
                    session, first.url, "installation_repositories", journal_payload(), secret
                )
                for _ in range(20)
            ]
            assert [s.status for s in sent] == [202] * 20
            await first.kill()  # SIGKILL while nothing could be imported
        segment = segments(folder)[-1]  # the last written (a segment per 100 ms)
        with segment.open("ab") as file:  # a write torn by a power loss
            file.write(encode_record("torn", "ping", "webhook", 1.0, 0, "{}")[:-5])

        second = BotProcess(bot_env, free_port(), tmp_path / "second.log")
        await second.start(session)
        guids = [s.guid for s in sent]
        placeholders = ", ".join("?" * len(guids))
        counted = (
            f"SELECT guid, COUNT(*) FROM deliveries WHERE guid IN ({placeholders}) GROUP BY guid"
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and segments(folder):
            await asyncio.sleep(0.05)
        assert segments(folder) == []
        assert dict(query(bot_env["DATABASE_URL"], counted, guids)) == dict.fromkeys(guids, 1)
        again = await send_webhook(
            session,
            second.url,
            "installation_repositories",
            journal_payload(),
            secret,
            guid=guids[0],
        )
        assert again.status == 200  # stored: a duplicate
        assert await second.stop() == 0
    log_text = (tmp_path / "second.log").read_text()
    assert "the end of a segment could not be read" in log_text
    assert segment.name in log_text
    assert MARKER not in log_text + (tmp_path / "first.log").read_text()


async def test_a_journal_that_cannot_be_written_answers_503_and_the_next_delivery_is_taken(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    """A write past the process's file size limit fails as a full disk does: 503 (GitHub
    redelivers later), the partly written record is never read, and intake goes on."""
    secret = bot_env["GITHUB_WEBHOOK_SECRET"].encode()
    database = Path(bot_env["DATABASE_URL"].removeprefix("sqlite:///"))
    async with aiohttp.ClientSession() as session:
        bot = BotProcess(bot_env, free_port(), tmp_path / "bot.log")
        await bot.start(session, file_size_limit=4 * 1024 * 1024)
        too_large = await send_webhook(
            session,
            bot.url,
            "installation_repositories",
            journal_payload(5 * 1024 * 1024),
            secret,
        )
        assert too_large.status == 503, too_large.body
        assert "store unavailable" in too_large.body
        taken = await send_webhook(
            session, bot.url, "installation_repositories", journal_payload(), secret
        )
        assert taken.status == 202, taken.body
        deadline = time.monotonic() + 15
        done: list[tuple[Any, ...]] = []
        while time.monotonic() < deadline and done != [("done",)]:
            done = query(
                bot_env["DATABASE_URL"],
                "SELECT state FROM deliveries WHERE guid = ?",
                (taken.guid,),
            )
            await asyncio.sleep(0.05)
        assert done == [("done",)]
        assert query(
            bot_env["DATABASE_URL"],
            "SELECT COUNT(*) FROM deliveries WHERE guid = ?",
            (too_large.guid,),
        ) == [(0,)]
        assert await bot.stop() == 0
    assert segments(database.with_name(database.name + "-intake")) == []
    log_text = (tmp_path / "bot.log").read_text()
    assert "the intake journal cannot be written: File too large" in log_text
    assert MARKER not in log_text


# -- order ----------------------------------------------------------------------------


async def test_the_bots_own_events_queue_behind_journaled_webhooks(tmp_path: Path) -> None:
    """A poller's event raised after a webhook's 202 is stored after it, though the
    webhook is still in the line (one line into the database for both)."""
    store = await journaled_store(tmp_path)
    try:
        webhook = delivery()
        own = delivery()
        assert await store.add_delivery(webhook) is True
        assert await store.add_delivery(own, source="poller") is True
        assert stored_guids(tmp_path / "bot.sqlite3") == [webhook.guid, own.guid]
    finally:
        await store.close()


async def test_recovery_follows_the_appends_not_the_file_names(tmp_path: Path) -> None:
    """A spare segment is named before it is used, so a run's later deliveries may sit
    in a file whose name sorts first: recovery orders by each record's sequence."""
    folder = tmp_path / "bot.sqlite3-intake"
    folder.mkdir(mode=0o700)
    first, second, third = delivery(), delivery(), delivery()

    def records(*numbered: tuple[int, Delivery]) -> bytes:
        return FILE_MAGIC + b"".join(
            encode_record(d.guid, d.event, "webhook", 1.0, n, d.body) for n, d in numbered
        )

    (folder / f"{1:020d}-{1:010d}{SEGMENT_SUFFIX}").write_bytes(records((3, third)))
    (folder / f"{1:020d}-{2:010d}{SEGMENT_SUFFIX}").write_bytes(records((1, first), (2, second)))
    store = await journaled_store(tmp_path)
    await store.close()
    assert stored_guids(tmp_path / "bot.sqlite3") == [first.guid, second.guid, third.guid]
    assert segments(folder) == []


async def test_who_waits_for_room_is_not_overtaken(tmp_path: Path) -> None:
    gate = asyncio.Event()
    filler = delivery()
    journal, database = await gated_journal(tmp_path, gate, len(filler.body))
    line = journal.line
    order: list[str] = []

    async def join(item: Delivery) -> None:
        if line.full:
            await line.room()
        journal.append(item, "webhook")
        order.append(item.guid)

    try:
        journal.append(filler, "webhook")
        journal.append(delivery(), "webhook")
        assert line.full
        early, late = delivery(), delivery()
        waiting = asyncio.ensure_future(join(early))
        await asyncio.sleep(0.01)
        gate.set()
        while line.backlog > 0 and not waiting.done():
            await asyncio.sleep(0)
        # The line has room now, but the early one has not run yet: the late one waits.
        await join(late)
        await waiting
        assert order == [early.guid, late.guid]
        await line.settled(5)
    finally:
        await journal.close()
        await database.close()
    assert stored_guids(tmp_path / "bot.sqlite3")[-2:] == [early.guid, late.guid]


@pytest.mark.parametrize(("value", "journal"), [("on", True), ("OFF", False), (None, True)])
def test_the_setting_turns_the_journal_on_or_off(
    tmp_path: Path, value: str | None, journal: bool
) -> None:
    env = {"BOT_ENV_FILE": str(tmp_path / "absent.env")}
    if value is not None:
        env["BOT_INTAKE_JOURNAL"] = value
    assert load_settings(env).intake_journal is journal


def test_a_setting_that_is_neither_on_nor_off_stops_the_bot(tmp_path: Path) -> None:
    env = {"BOT_ENV_FILE": str(tmp_path / "absent.env"), "BOT_INTAKE_JOURNAL": "maybe"}
    with pytest.raises(SettingsError, match="BOT_INTAKE_JOURNAL must be on or off"):
        load_settings(env)
