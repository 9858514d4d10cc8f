"""Where SQLite intake's tail comes from: a flush of the file being written.

`benchmarks.run` measures intake end to end, and its p99 at a paced 1,500/s is
2 to 3 times the bare app's. This benchmark takes the HTTP server, the worker
and the load generator away and times only the bot's insert of a delivery
(`insert_deliveries`, the bot's schema, one 3,842-byte delivery per commit, as
intake commits at that rate) at a paced 1,500/s, while another thread does what
the bot does every 100 ms, or a variant of it:

- `sqlite, quiet`: nothing else runs (this table's floor);
- `sqlite, checkpoint every 100 ms`: the bot's default, a PASSIVE checkpoint on
  a connection of its own, which fsyncs the WAL and then the database file;
- `sqlite, fsync of another file`: 600 KB written to another file and
  fdatasynced every 100 ms, the checkpoint's I/O without touching the WAL.

And, for an append-only journal with the same power-loss bound, plain appends
of the same delivery to one file with `os.write`:

- `append, quiet`: never flushed (the floor of the two);
- `append, fsync every 100 ms`: the file fdatasynced while it is written.

The quiet SQLite case also counts the WAL frames each commit writes.

Each case runs `--repeats` times, interleaved; the table shows the median run by
p99 and the range. Run: `.venv/bin/python -m benchmarks.wal_flush` (about four
minutes; `--quick` for a short look that writes nothing). Files go to a
temporary directory beside the bot's default database (`--dir` to choose),
since the file system is what is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.results import machine, now, write_section
from benchmarks.world import FIXTURES
from bot.db.backends import SqliteBackend
from bot.db.migrations import apply_migrations
from bot.queue.insert import insert_deliveries
from bot.queue.intake import delivery_of

RATE = 1500
FLUSH_SECONDS = 0.1  # the bot's CHECKPOINT_SECONDS (bot/queue/store.py)
OTHER_FILE_BYTES = 600_000  # about what the checkpoint copies in 100 ms at 1,500/s
PAGE_BYTES = 4096  # SQLite's default page size, which the bot keeps
WAL_HEADER_BYTES, FRAME_HEADER_BYTES = 32, 24

Writer = Callable[[int], None]


def payload_text() -> str:
    """The intake benchmark's delivery (`installation_repositories.added`, 3,842 bytes)."""
    data = json.loads(
        (FIXTURES / "webhooks/installation_repositories/added.payload.json").read_text()
    )
    data["installation"]["id"] = 1
    data["repositories_added"] = []
    return json.dumps(data)


class SqliteCase:
    """The bot's insert into a fresh database in `directory`, and a background flush."""

    def __init__(self, directory: Path, flush: str) -> None:
        self.path = directory / "bench.sqlite3"
        self.backend = SqliteBackend(self.path)
        self.connection = self.backend.connect()
        apply_migrations(self.connection, self.backend)
        self.flush_kind = flush
        self.other = directory / "other.bin"
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
            if self.checkpointer is None:  # as Database._checkpoint_connection_for
                self.checkpointer = sqlite3.connect(
                    str(self.path), isolation_level=None, check_same_thread=False
                )
                self.checkpointer.execute("PRAGMA secure_delete=ON")
            self.checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        elif self.flush_kind == "other-file":
            descriptor = os.open(self.other, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.pwrite(descriptor, os.urandom(OTHER_FILE_BYTES), 0)
                os.fdatasync(descriptor)
            finally:
                os.close(descriptor)

    def frames_written(self) -> int:
        """WAL frames so far (the WAL is never reset without a checkpoint)."""
        size = os.path.getsize(f"{self.path}-wal")
        return max(0, size - WAL_HEADER_BYTES) // (PAGE_BYTES + FRAME_HEADER_BYTES)

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
        self.connection.close()


class AppendCase:
    """Appends of the delivery's bytes to plain files, flushed as `flush` says."""

    def __init__(self, directory: Path, flush: str) -> None:
        self.directory = directory
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


CASES: dict[str, Callable[[Path], SqliteCase | AppendCase]] = {
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


def run_case(
    make: Callable[[Path], SqliteCase | AppendCase], base: Path, count: int
) -> dict[str, float]:
    """`count` writes at a paced RATE/s while a thread flushes every FLUSH_SECONDS."""
    with tempfile.TemporaryDirectory(dir=base, prefix="wal-flush-") as name:
        case = make(Path(name))
        stopping = threading.Event()

        def flusher() -> None:
            while not stopping.wait(FLUSH_SECONDS):
                case.flush()

        thread = threading.Thread(target=flusher, name="flush")
        thread.start()
        latencies = []
        try:
            start = time.perf_counter()
            for index in range(count):
                delay = start + index / RATE - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                began = time.perf_counter()
                case.write(index)
                latencies.append(time.perf_counter() - began)
        finally:
            stopping.set()
            thread.join()
            # A checkpoint restarts the WAL, so only the quiet case's file counts them all.
            frames = 0
            if isinstance(case, SqliteCase) and case.flush_kind == "none":
                frames = case.frames_written()
            case.close()
    latencies.sort()
    micro = [value * 1e6 for value in latencies]
    return {
        "frames_per_write": frames / count,
        "p50_us": statistics.median(micro),
        "p99_us": micro[int(len(micro) * 0.99)],
        "p999_us": micro[int(len(micro) * 0.999)],
        "max_us": micro[-1],
    }


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
    if not args.quick:
        write_section("wal_flush", report(runs, count, args.dir))


def report(runs: dict[str, list[dict[str, float]]], count: int, directory: Path) -> str:
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
        "## Where SQLite intake's tail comes from",
        "",
        f"Run: {now()}, by `.venv/bin/python -m benchmarks.wal_flush`.",
        f"Machine: {machine()}. Files in {directory} ({file_system(directory)}).",
        "",
        f"Each run times {count:,} writes of one 3,842-byte delivery at a paced {RATE:,}/s "
        "in one thread, while another flushes every 100 ms. `sqlite` rows run the bot's "
        "own insert (`insert_deliveries`, one delivery a commit, the bot's schema and "
        "pragmas); `append` rows write the same bytes with `os.write`. The median run by "
        f"p99 of {len(next(iter(runs.values())))}; the ratio is to the quiet row of its kind, "
        "from the same run.",
        "",
        f"Without a checkpoint, one delivery a commit wrote {frames:.1f} WAL frames "
        f"({frame_kib:.0f} KiB) a delivery. One commit's frames, read from the WAL: the "
        "header page, the table's root and its new leaf, a leaf of each of the three "
        "indexes (the GUID's among them) and AUTOINCREMENT's sequence.",
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
    """The file system type of `directory`, from /proc/mounts (the longest mount prefix)."""
    best, kind = "", "unknown file system"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            if (
                len(fields) > 2
                and str(directory.resolve()).startswith(fields[1])
                and len(fields[1]) > len(best)
            ):
                best, kind = fields[1], fields[2]
    except OSError:
        pass
    return kind


if __name__ == "__main__":
    main()
