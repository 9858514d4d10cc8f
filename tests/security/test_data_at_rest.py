"""Embargoed text does not stay at rest: a report's description and a comment's body
leave the store once handled, and on SQLite leave no trace in any of its files.

On PostgreSQL the payload column is checked instead: an updated row's old
version stays in the table's file as a dead tuple until VACUUM reclaims it (a
residual risk SECURITY.md names).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import close_services
from bot.commands.log import CommandLog
from bot.core.digests import Digester, changed_fields
from bot.core.settings import load_settings
from bot.db.connection import Database
from bot.queue.store import HandlingResult, Store
from tests.databases import only_on, query
from tests.harness import REPORT, World, file_report, queued_delivery, reported_payload, run_cli
from tests.scenarios import commented


def files_under(folder: Path) -> Iterator[Path]:
    return (path for path in folder.rglob("*") if path.is_file())


async def leave_markers(world: World, database_url: str) -> tuple[str, str]:
    """A report (by webhook) and a comment (by the poller), each holding a unique marker,
    handled to the end."""
    bot, fake = world.bot, world.fake
    report_marker = f"REPORT-{uuid.uuid4().hex}"
    comment_marker = f"COMMENT-{uuid.uuid4().hex}"
    description = REPORT + f"\n### Details\nThe archive is {report_marker}.\n"
    advisory = fake.new_advisory(
        "python/cpython", summary="tarfile escape", description=description, reporter="quinn"
    )
    payload = reported_payload(bot, advisory, "quinn")
    payload["repository_advisory"]["description"] = description  # the webhook carries it
    sent = await bot.send("repository_advisory", payload)
    assert sent.status == 202
    await bot.settle()
    # Prose, not a command: the comment's body travels in the poller's delivery only.
    await commented(world, advisory, "gpshead", f"I reproduced it with {comment_marker} on 3.13.")
    await bot.settle()
    rows = query(database_url, "SELECT event, state FROM deliveries ORDER BY seq")
    assert ("repository_advisory", "done") in rows and ("advisory_comment", "done") in rows
    return report_marker, comment_marker


def markers_in_files(database_url: str, markers: tuple[str, ...]) -> list[str]:
    folder = Path(database_url.removeprefix("sqlite:///")).parent
    found = []
    for path in files_under(folder):
        content = path.read_bytes()
        found += [f"{marker[:7]} in {path.name}" for marker in markers if marker.encode() in content]
    return found


async def test_report_and_comment_text_leave_no_trace_in_the_store(
    world: World, database_url: str
) -> None:
    markers = await leave_markers(world, database_url)
    await close_services(world.bot.services)  # the bot stops

    if not database_url.startswith("sqlite:///"):
        leftovers = query(
            database_url,
            "SELECT guid, state FROM deliveries WHERE payload LIKE ? OR payload LIKE ?",
            [f"%{markers[0]}%", f"%{markers[1]}%"],
        )
        assert leftovers == []
        assert query(database_url, "SELECT COUNT(*) FROM deliveries WHERE payload <> ''") == [(0,)]
        return
    folder = Path(database_url.removeprefix("sqlite:///")).parent
    assert "bot.sqlite3" in [path.name for path in files_under(folder)]
    assert markers_in_files(database_url, markers) == []


@only_on("sqlite")  # reads SQLite's files; the PostgreSQL leg checks the payload column above
async def test_handled_text_leaves_the_database_files_within_seconds_while_the_bot_runs(
    world: World, database_url: str
) -> None:
    """Not only on stop: the write-ahead log starts over (and is cut to zero) after each
    checkpoint that has caught up, so the page images of a purged payload go with it."""
    markers = await leave_markers(world, database_url)
    deadline = time.monotonic() + 15
    while (found := markers_in_files(database_url, markers)) and time.monotonic() < deadline:
        await world.bot.services.store.database.checkpoint()  # as the bot does every 0.1 s
        await world.bot.services.store.ping()
        await asyncio.sleep(0.5)
    assert found == []


async def test_a_parked_payload_is_purged_after_the_retention_and_retry_says_why(
    start_bot: Any, database_url: str, tmp_path: Path
) -> None:
    # A delivery parked 15 days ago, and one parked yesterday, before the bot starts.
    store = Store(Database(database_url))
    await store.open()
    old = queued_delivery("advisory:old", {"installation": {"id": 1}, "text": "embargoed"})
    recent = queued_delivery("advisory:new", {"installation": {"id": 1}, "text": "embargoed"})
    for item in (old, recent):
        await store.add_delivery(item)
    now = time.time()
    claimed = await store.claim("w", now=now + 1, limit=5, lease_seconds=60)
    for item in claimed:
        finished = now - (15 if item.guid == old.guid else 1) * 86400
        result = HandlingResult("failed", [("h", "x")], error="x", finished_at=finished)
        await store.complete(item, "w", result)
    await store.close()

    bot = await start_bot()  # BOT_PARKED_RETENTION_DAYS: 14 by default
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        stored = await bot.services.store.get_delivery(old.guid)
        if stored is not None and stored.payload_removed:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the parked payload past its retention was not removed")
    kept = await bot.services.store.get_delivery(recent.guid)
    assert kept is not None and not kept.payload_removed
    await close_services(bot.services)

    env = {"DATABASE_URL": database_url, "BOT_ENV_FILE": str(tmp_path / "none.env")}
    code, out, err = await run_cli(env, "deliveries", "retry", old.guid)
    assert code == 2, out + err
    [line] = err.strip().splitlines()
    assert old.guid in line and "payload was removed" in line and "14 days" in line
    code, out, _ = await run_cli(env, "deliveries", "retry", recent.guid)
    assert code == 0 and "queued again" in out


async def test_command_text_whose_reply_never_posted_is_removed_after_the_retention(
    start_bot: Any, database_url: str
) -> None:
    """A reply that could never be posted (its delivery parked, then purged) must not keep
    the command line and its outcome for ever."""
    database = Database(database_url)
    await database.migrate()
    log = CommandLog(database)
    now = time.time()
    for comment_id, age_days in ((1, 15), (2, 1)):
        await log.record_command(
            comment_id, "k#1", 0, '/reject bug "EMBARGO-NOTE"', "Closed.", at=now - age_days * 86400
        )
    await database.close()

    bot = await start_bot()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not await bot.services.command_log.unreplied_runs(1):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("old command text was not removed")
    assert await bot.services.command_log.command_keys(1) == {"k#1"}
    assert await bot.services.command_log.unreplied_runs(2)


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


async def test_a_new_sqlite_database_is_readable_by_the_bots_user_only(
    tmp_path: Path, umask_022: None
) -> None:
    path = tmp_path / "var" / "bot.sqlite3"
    store = Store(Database(f"sqlite:///{path}"))
    await store.open()
    try:
        await store.add_delivery(queued_delivery("repo:o/r", {"installation": {"id": 1}}))
        names = sorted(p.name for p in path.parent.iterdir())
        assert names == ["bot.sqlite3", "bot.sqlite3-shm", "bot.sqlite3-wal"]
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        for name in names:
            assert stat.S_IMODE((path.parent / name).stat().st_mode) == 0o600, name
        assert (
            await store.database.run(lambda c: c.execute("PRAGMA secure_delete").fetchone()[0]) == 1
        )
    finally:
        await store.close()
    settings = load_settings(
        {"DATABASE_URL": f"sqlite:///{path}", "BOT_ENV_FILE": str(tmp_path / "none.env")}
    )
    assert settings.warnings == ()


def test_a_database_others_can_read_is_warned_about(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    path = folder / "bot.sqlite3"
    path.write_bytes(b"")
    path.chmod(0o644)
    (folder / "bot.sqlite3-wal").write_bytes(b"")
    (folder / "bot.sqlite3-wal").chmod(0o644)
    settings = load_settings(
        {"DATABASE_URL": f"sqlite:///{path}", "BOT_ENV_FILE": str(tmp_path / "none.env")}
    )
    text = "\n".join(settings.warnings)
    assert f"chmod 700 {folder}" in text
    assert f"chmod 600 {path} {path}-wal" in text


async def test_digests_in_the_store_cannot_be_reversed_with_a_dictionary(
    world: World, database_url: str
) -> None:
    """A field with few values (a severity) or a command's words, hashed plainly, would be
    read back from a stolen store by trying every value: the store keeps keyed digests."""
    advisory = await file_report(world.bot, world.fake, "dia")
    await commented(world, advisory, "gpshead", "/severity critical\n/ping zlib")
    await world.bot.services.poller.poll_once()
    await world.bot.settle()
    plain = {
        hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]
        for value in ("critical", "ping zlib", "severity critical")
    } | {hashlib.sha256(b"ping zlib").hexdigest()[:16]}
    stored = query(database_url, "SELECT fingerprint FROM advisories", [])
    keys = query(database_url, "SELECT command_key FROM command_runs", [])
    text = json.dumps([stored, keys])
    assert keys and stored and not any(digest in text for digest in plain)


def test_a_new_key_gives_a_new_baseline_not_a_change_in_every_field() -> None:
    advisory = {"state": "draft", "severity": "high"}
    old, new = Digester.from_secret("old key"), Digester.from_secret("new key")
    assert changed_fields(old.fingerprint(advisory), new.fingerprint(advisory)) is None
    edited = {**advisory, "severity": "low"}
    assert changed_fields(new.fingerprint(advisory), new.fingerprint(edited)) == ["severity"]
