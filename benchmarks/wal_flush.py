"""SQLite's insert alone at intake's pace, while the WAL is checkpointed as the bot does.

`benchmarks.run` measures intake end to end, and its p99 at a paced 1,500/s is
2 to 3 times the bare app's. This benchmark takes the HTTP server, the worker
and the load generator away and times only the bot's insert of a delivery
(`insert_deliveries`, the bot's schema and pragmas, the intake benchmark's
delivery, one a commit, as intake commits at that rate) at a paced 1,500/s,
while another thread does what the bot does every 100 ms, or a variant of it:

- `sqlite, quiet`: nothing else runs (the floor of the SQLite rows);
- `sqlite, checkpoint every 100 ms (the bot)`: a PASSIVE checkpoint on a
  connection of its own, as `Database._checkpoint` runs it, which fsyncs the
  WAL and then the database file;
- `sqlite, fsync of another file every 100 ms`: as many bytes as the WAL gains
  in 100 ms written to another file and fdatasynced.

And, for an append-only journal with the same power-loss bound, plain appends
of the same delivery to one file with `os.write`:

- `append, quiet`: never flushed (the floor of the two);
- `append, fsync of the file written every 100 ms`: fdatasynced while written.

It also counts the WAL frames a lone delivery's commit writes, and names the
b-tree each one belongs to (read from the WAL's frame headers).

Each case runs `--repeats` times, the cases interleaved; the table shows the
median run by p99, the range, and the ratio of the medians to the quiet row of
its kind. Run: `.venv/bin/python -m benchmarks.wal_flush` (about 3 minutes;
`--quick` for a short look that writes nothing). Files go to a temporary
directory in the system's temporary folder (`--dir` to measure another file
system); only the file system's type is written to RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sqlite3
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.load import percentile
from benchmarks.results import machine, now, write_section
from benchmarks.world import intake_payload
from bot.db.backends import SqliteBackend
from bot.db.migrations import apply_migrations
from bot.queue.insert import insert_deliveries
from bot.queue.intake import delivery_of
from bot.queue.store import CHECKPOINT_SECONDS

RATE = 1500
PAGE_BYTES = 4096  # SQLite's default page size, which the bot keeps
WAL_HEADER_BYTES, FRAME_HEADER_BYTES = 32, 24
# What the WAL gains in one checkpoint interval at RATE (7.5 frames a lone delivery).
OTHER_FILE_BYTES = int(7.5 * (PAGE_BYTES + FRAME_HEADER_BYTES) * RATE * CHECKPOINT_SECONDS)
# Rows stored before the commit whose pages are named, so the table has interior pages.
ROWS_BEFORE_THE_NAMED_COMMIT = 500


@functools.cache
def payload_text() -> str:
    """The intake benchmark's delivery, as its body (four-digit installation ids, as the
    fake GitHub numbers them)."""
    return json.dumps(intake_payload(1000))


class SqliteCase:
    """The bot's insert into a fresh database in `directory`, and a background flush."""

    def __init__(self, directory: Path, flush: str) -> None:
        self.path = directory / "bench.sqlite3"
        self.backend = SqliteBackend(self.path)
        self.connection = self.backend.connect()
        apply_migrations(self.connection, self.backend)
        self.flush_kind = flush
        self.other = directory / "other.bin"
        self.other_bytes = bytes(OTHER_FILE_BYTES if flush == "other-file" else 0)
        self.text = payload_text()
        self.payload = json.loads(self.text)
        self.checkpointer: sqlite3.Connection | None = None

    def write(self, index: int) -> None:
        delivery = delivery_of(
            f"bench-{index}",
            "installation_repositories",
            self.text,
            self.payload,
            received_at=time.time(),
        )
        insert_deliveries(self.connection, rows=[(delivery, "webhook")])

    def flush(self) -> None:
        if self.flush_kind == "checkpoint":
            if self.checkpointer is None:
                self.checkpointer = self.backend.connect_checkpointer()  # the bot's own
            self.checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        elif self.flush_kind == "other-file":
            descriptor = os.open(self.other, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.pwrite(descriptor, self.other_bytes, 0)
                os.fdatasync(descriptor)
            finally:
                os.close(descriptor)

    def frames_written(self) -> int:
        """WAL frames so far (only a checkpoint restarts the WAL)."""
        size = os.path.getsize(f"{self.path}-wal")
        return max(0, size - WAL_HEADER_BYTES) // (PAGE_BYTES + FRAME_HEADER_BYTES)

    def pages_of_one_commit(self, index: int) -> list[str]:
        """Store one more delivery; the b-tree of each page its commit wrote to the WAL."""
        wal = Path(f"{self.path}-wal")
        before = wal.stat().st_size
        self.write(index)
        with wal.open("rb") as handle:
            handle.seek(before)
            frames = handle.read()
        frame_bytes = PAGE_BYTES + FRAME_HEADER_BYTES
        pages = [
            struct.unpack(">I", frames[offset : offset + 4])[0]
            for offset in range(0, len(frames), frame_bytes)
        ]
        try:
            owners = dict(self.connection.execute("SELECT pageno, name FROM dbstat").fetchall())
        except sqlite3.Error:  # a SQLite built without the dbstat table
            owners = {}
        return [
            "the header page" if page == 1 else str(owners.get(page, f"page {page}"))
            for page in pages
        ]

    def close(self) -> None:
        try:
            if self.checkpointer is not None:
                self.checkpointer.close()
        finally:
            self.connection.close()


class AppendCase:
    """Appends of the delivery's bytes to one plain file, flushed as `flush` says."""

    def __init__(self, directory: Path, flush: str) -> None:
        self.flush_kind = flush
        self.record = payload_text().encode()
        self.descriptor = os.open(
            directory / "journal", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
        )

    def write(self, index: int) -> None:
        os.write(self.descriptor, self.record)

    def flush(self) -> None:
        if self.flush_kind == "fsync":
            os.fdatasync(self.descriptor)

    def close(self) -> None:
        os.close(self.descriptor)


Case = SqliteCase | AppendCase

CASES: dict[str, Callable[[Path], Case]] = {
    "sqlite, quiet": lambda directory: SqliteCase(directory, "none"),
    "sqlite, checkpoint every 100 ms (the bot)": lambda directory: SqliteCase(
        directory, "checkpoint"
    ),
    "sqlite, fsync of another file every 100 ms": lambda directory: SqliteCase(
        directory, "other-file"
    ),
    "append, quiet": lambda directory: AppendCase(directory, "none"),
    "append, fsync of the file written every 100 ms": lambda directory: AppendCase(
        directory, "fsync"
    ),
}


def run_case(make: Callable[[Path], Case], base: Path, count: int) -> dict[str, float]:
    """`count` writes at a paced RATE/s while a thread flushes every CHECKPOINT_SECONDS."""
    with tempfile.TemporaryDirectory(dir=base, prefix="wal-flush-") as name:
        case = make(Path(name))
        stopping = threading.Event()
        failures: list[BaseException] = []

        def flusher() -> None:
            try:
                while not stopping.wait(CHECKPOINT_SECONDS):
                    case.flush()
            except BaseException as error:  # reported below, not a quiet run mislabelled
                failures.append(error)

        thread = threading.Thread(target=flusher, name="flush")
        thread.start()
        latencies = []
        frames = 0
        try:
            start = time.perf_counter()
            for index in range(count):
                delay = start + index / RATE - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                began = time.perf_counter()
                case.write(index)
                latencies.append((time.perf_counter() - began) * 1e6)
            # A checkpoint restarts the WAL, so only the quiet case's file counts them all.
            if isinstance(case, SqliteCase) and case.flush_kind == "none":
                frames = case.frames_written()
        finally:
            stopping.set()
            thread.join()
            case.close()
        if failures:
            raise RuntimeError(f"the flush failed: {failures[0]!r}") from failures[0]
    return {
        "frames_per_write": frames / count,
        "p50_us": percentile(latencies, 0.50),
        "p99_us": percentile(latencies, 0.99),
        "p999_us": percentile(latencies, 0.999),
        "max_us": max(latencies),
    }


def pages_of_one_commit(base: Path) -> list[str]:
    with tempfile.TemporaryDirectory(dir=base, prefix="wal-flush-") as name:
        case = SqliteCase(Path(name), "none")
        try:
            for index in range(ROWS_BEFORE_THE_NAMED_COMMIT):
                case.write(index)
            return case.pages_of_one_commit(ROWS_BEFORE_THE_NAMED_COMMIT)
        finally:
            case.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="2 s a case, once; writes nothing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    repeats, seconds = (1, 2.0) if args.quick else (args.repeats, args.seconds)
    count = int(RATE * seconds)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in CASES}
    for _ in range(repeats):
        for name, make in CASES.items():
            runs[name].append(run_case(make, args.dir, count))
            print(name, runs[name][-1], flush=True)
    pages = pages_of_one_commit(args.dir)
    print("one commit's pages:", pages)
    if not args.quick:
        write_section("wal_flush", report(runs, count, pages, file_system(args.dir)))


def report(
    runs: dict[str, list[dict[str, float]]], count: int, pages: list[str], file_system: str
) -> str:
    medians: dict[str, dict[str, Any]] = {}
    for name, results in runs.items():
        ordered = sorted(results, key=lambda result: result["p99_us"])
        medians[name] = {
            **ordered[len(ordered) // 2],
            "low": ordered[0]["p99_us"],
            "high": ordered[-1]["p99_us"],
        }
    floors = {
        "sqlite": medians["sqlite, quiet"]["p99_us"],
        "append": medians["append, quiet"]["p99_us"],
    }
    frames = medians["sqlite, quiet"]["frames_per_write"]
    frame_kib = frames * (PAGE_BYTES + FRAME_HEADER_BYTES) / 1024
    lines = [
        "## SQLite's insert while the WAL is checkpointed",
        "",
        f"Run: {now()}, by `.venv/bin/python -m benchmarks.wal_flush`.",
        f"Machine: {machine()}. Files on {file_system}.",
        "",
        f"Each run times {count:,} writes of one {len(payload_text().encode()):,}-byte "
        f"delivery at a paced {RATE:,}/s in one thread, while another flushes every "
        f"{CHECKPOINT_SECONDS * 1000:.0f} ms. `sqlite` rows run the bot's own insert "
        "(`insert_deliveries`, one delivery a commit, the bot's schema and pragmas); "
        "`append` rows write the same bytes with `os.write`. The other file gets "
        f"{OTHER_FILE_BYTES / 1e6:.1f} MB a flush, what the WAL gains in that time. "
        f"The median run by p99 of {len(next(iter(runs.values())))}, the cases "
        "interleaved; the ratio is of the medians, to the quiet row of its kind.",
        "",
        f"Without a checkpoint, one delivery a commit wrote {frames:.1f} WAL frames "
        f"({frame_kib:.0f} KiB) a delivery. The pages of one such commit, after "
        f"{ROWS_BEFORE_THE_NAMED_COMMIT} rows, as the WAL names them: {', '.join(pages)}.",
        "",
        "| case | p50 µs | p99 µs (runs) | p99 / quiet | p99.9 µs | max µs |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in medians.items():
        floor = floors[name.split(",")[0]]
        lines.append(
            f"| {name} | {result['p50_us']:.0f} | {result['p99_us']:.0f} "
            f"({result['low']:.0f} to {result['high']:.0f}) | {result['p99_us'] / floor:.1f}x | "
            f"{result['p999_us']:.0f} | {result['max_us']:.0f} |"
        )
    return "\n".join(lines)


def file_system(directory: Path) -> str:
    """The type of the file system holding `directory` (its longest mount point)."""
    path = directory.resolve()
    best: Path | None = None
    kind = "an unknown file system"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) < 3:
                continue
            mount = Path(fields[1])
            if (path == mount or mount in path.parents) and (
                best is None or len(mount.parts) > len(best.parts)
            ):
                best, kind = mount, fields[2]
    return kind


if __name__ == "__main__":
    main()
