"""Backends and replicas: intake on SQLite and PostgreSQL, leader takeover, a 10,000 load.

    .venv/bin/python -m benchmarks.replicas            # 6 to 22 minutes, with the host
    .venv/bin/python -m benchmarks.replicas --quick    # a short smoke run
    .venv/bin/python -m benchmarks.replicas --quick --intake-only   # intake rows only

Needs PostgreSQL: BOT_BENCH_DATABASE_URL, else BOT_TEST_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/test (each run uses a fresh schema there,
dropped afterwards). Like `benchmarks.run`, every server and load process runs
on its own, over loopback, against the fake GitHub answering in 50 ms.

- Intake: throughput at saturation (64 concurrent senders) and p99 ack at a
  paced 1,000/s (issue 16's targets), for SQLite, PostgreSQL with one replica,
  and with two (the load split evenly between them, as a load balancer would;
  a run's p99 is the worse replica's). Stored == acknowledged is checked for
  each. Each measurement is followed by the same one of the bare
  verify-and-answer app (benchmarks/servers.py), so every row carries the
  machine's floor from the same minutes: this host's speed moves by a factor
  of two within an hour.
- Takeover: two replicas, the leader killed with SIGKILL; the time until the
  other holds the leader lease, with the default lease (15 s) and a short one.
- Load: 10,000 merged-pull-request deliveries as fast as the sender can, on
  SQLite and on PostgreSQL; the time until every one is handled, and the
  bot's resident memory before, at its peak and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks.results import machine, write_section
from benchmarks.results import now as results_now
from benchmarks.run import free_port, load, start, start_upstream, wait_http
from benchmarks.world import FIXTURES
from tests.databases import owner_pid, postgres_schema, query
from tests.harness import resident_kib

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
# The paced rate of the intake rows (deliveries per second, all replicas together).
PACED_RATE = 1000


def postgres_url() -> str:
    return (
        os.environ.get("BOT_BENCH_DATABASE_URL")
        or os.environ.get("BOT_TEST_DATABASE_URL")
        or DEFAULT_POSTGRES
    )


class Replicas:
    """`python -m bot serve` processes on one database."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str, count: int) -> None:
        self.ports = [free_port() for _ in range(count)]
        self.processes = [
            start(
                ["-m", "bot", "serve"],
                {**env, "PORT": str(port)},
                workdir / f"{name}-{index}.log",
            )
            for index, port in enumerate(self.ports)
        ]
        for port in self.ports:
            wait_http(f"http://127.0.0.1:{port}/readyz")

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def split_load(urls: list[str], payload: Path, *args: str) -> dict[str, Any]:
    """One load process per replica, at once; totals summed, the worse tail kept."""
    with ThreadPoolExecutor(len(urls)) as pool:
        runs = list(pool.map(lambda url: load(url, payload, *args), urls))
    statuses: dict[str, int] = {}
    for run in runs:
        for status, count in run["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    return {
        "sent": sum(run["sent"] for run in runs),
        "statuses": statuses,
        "throughput_per_s": sum(run["throughput_per_s"] for run in runs),
        "p50_ms": max(run["p50_ms"] for run in runs),
        "p99_ms": max(run["p99_ms"] for run in runs),
    }


def median_by_p99(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda run: run["p99_ms"])
    median = dict(ordered[len(ordered) // 2])
    median["p99_range_ms"] = [ordered[0]["p99_ms"], ordered[-1]["p99_ms"]]
    return median


def intake(
    name: str,
    env: dict[str, str],
    database: str,
    workdir: Path,
    payload: Path,
    plan: dict[str, Any],
    bare: str,
) -> dict[str, Any]:
    """The bot's rows, each run followed by the same run of the bare app at `bare`."""
    replicas = Replicas({**env, "DATABASE_URL": database}, workdir, name, plan["replicas"])
    try:
        count = len(replicas.urls)
        saturating = ("--concurrency", str(64 // count), "--total", str(plan["total"] // count))
        saturation = split_load(replicas.urls, payload, *saturating)
        bare_saturation = split_load([bare] * count, payload, *saturating)
        pacing = ("--rate", str(PACED_RATE / count), "--seconds", str(plan["seconds"]))
        paced, bare_paced = [], []
        for _ in range(plan["repeats"]):
            time.sleep(1)
            paced.append(split_load(replicas.urls, payload, *pacing))
            time.sleep(1)
            bare_paced.append(split_load([bare] * count, payload, *pacing))
        acknowledged = sum(run["statuses"].get("202", 0) for run in [saturation, *paced])
        stored = query(database, "SELECT COUNT(*) FROM deliveries")[0][0]
    finally:
        replicas.stop()
    return {
        "saturation": saturation,
        "paced": median_by_p99(paced),
        "bare_saturation": bare_saturation,
        "bare_paced": median_by_p99(bare_paced),
        "acknowledged": acknowledged,
        "stored": stored,
    }


def leader_pid(database: str) -> int | None:
    rows = query(database, "SELECT owner, expires_at FROM leases")
    return owner_pid(rows[0][0]) if rows and rows[0][1] > time.time() else None


def takeover(env: dict[str, str], database: str, workdir: Path, lease: str) -> float:
    replicas = Replicas(
        {**env, "DATABASE_URL": database, "BOT_LEADER_LEASE_SECONDS": lease},
        workdir,
        f"takeover-{lease}",
        2,
    )
    try:
        deadline = time.monotonic() + 60
        while leader_pid(database) is None:
            if time.monotonic() > deadline:
                raise RuntimeError("no leader was chosen")
            time.sleep(0.05)
        first = leader_pid(database)
        victim = next(p for p in replicas.processes if p.pid == first)
        # The worst case: the leader dies just after renewing, so its lease has
        # (nearly) its whole length left. Wait for a renewal, then kill.
        expires = query(database, "SELECT expires_at FROM leases")[0][0]
        while query(database, "SELECT expires_at FROM leases")[0][0] == expires:
            time.sleep(0.01)
        os.kill(victim.pid, signal.SIGKILL)
        killed = time.monotonic()
        victim.wait()
        while leader_pid(database) in (None, first):
            if time.monotonic() - killed > 120:
                raise RuntimeError("no replica took over")
            time.sleep(0.02)
        return time.monotonic() - killed
    finally:
        replicas.stop()


def heavy_load(
    name: str, env: dict[str, str], database: str, workdir: Path, total: int
) -> dict[str, Any]:
    payload_data = json.loads((FIXTURES / "webhooks/pull_request/closed.payload.json").read_text())
    payload_data["pull_request"]["merged"] = True
    payload_data["installation"] = {"id": 1000}
    payload = workdir / "pull_request.json"
    payload.write_text(json.dumps(payload_data))
    replicas = Replicas({**env, "DATABASE_URL": database}, workdir, f"load-{name}", 1)
    pid = replicas.processes[0].pid
    peak_sampled = 0
    sampling = threading.Event()

    def sample() -> None:
        nonlocal peak_sampled
        while not sampling.is_set():
            peak_sampled = max(peak_sampled, resident_kib(pid)[0])
            time.sleep(0.05)

    try:
        time.sleep(2)
        start_rss, _ = resident_kib(pid)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        sent = load(
            replicas.urls[0],
            payload,
            "--event",
            "pull_request",
            "--concurrency",
            "64",
            "--total",
            str(total),
        )
        acked_in = time.monotonic() - started
        while query(database, "SELECT COUNT(*) FROM deliveries WHERE state = 'done'")[0][0] < total:
            if time.monotonic() - started > 600:
                raise RuntimeError("the load was not handled in 10 minutes")
            time.sleep(0.1)
        handled_in = time.monotonic() - started
        time.sleep(2)
        sampling.set()
        sampler.join()
        end_rss, peak = resident_kib(pid)
        stored = query(database, "SELECT COUNT(*) FROM deliveries")[0][0]
    finally:
        replicas.stop()
    return {
        "acked": sent["statuses"].get("202", 0),
        "stored": stored,
        "acks_per_s": sent["throughput_per_s"],
        "acked_in_s": acked_in,
        "handled_in_s": handled_in,
        "rss_start_mib": start_rss / 1024,
        "rss_peak_mib": max(peak, peak_sampled) / 1024,
        "rss_end_mib": end_rss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--intake-only", action="store_true", help="the intake rows only; prints, writes nothing"
    )
    args = parser.parse_args()
    plan = {
        "total": 3_000 if args.quick else 20_000,
        "seconds": 3.0 if args.quick else 10.0,
        "repeats": 1 if args.quick else 3,
    }
    workdir = Path(tempfile.mkdtemp(prefix="ghsa-bot-replicas-"))
    processes: list[subprocess.Popen[bytes]] = []
    results: dict[str, Any] = {}
    try:
        _, env, payload_data = start_upstream(workdir, processes)
        payload = workdir / "payload.json"
        payload.write_text(json.dumps(payload_data))
        bare_port = free_port()
        processes.append(start(["-m", "benchmarks.servers", "bare", "--port", str(bare_port)]))
        bare = f"http://127.0.0.1:{bare_port}"
        wait_http(f"{bare}/webhook")
        with ExitStack() as schemas:

            def fresh_postgres() -> str:
                return schemas.enter_context(postgres_schema(postgres_url()))

            results["sqlite"] = intake(
                "sqlite",
                env,
                f"sqlite:///{workdir}/intake.sqlite3",
                workdir,
                payload,
                {**plan, "replicas": 1},
                bare,
            )
            results["postgresql-1"] = intake(
                "pg1", env, fresh_postgres(), workdir, payload, {**plan, "replicas": 1}, bare
            )
            results["postgresql-2"] = intake(
                "pg2", env, fresh_postgres(), workdir, payload, {**plan, "replicas": 2}, bare
            )
            if args.intake_only:
                print(intake_table(results))
                return
            results["takeover"] = {
                lease: takeover(env, fresh_postgres(), workdir, lease) for lease in ("15", "3")
            }
            load_total = 2_000 if args.quick else 10_000
            results["load-sqlite"] = heavy_load(
                "sqlite", env, f"sqlite:///{workdir}/load.sqlite3", workdir, load_total
            )
            results["load-postgresql"] = heavy_load(
                "postgresql", env, fresh_postgres(), workdir, load_total
            )
            results["load_total"] = load_total
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    write_section("replicas", report(results, quick=args.quick))
    print(json.dumps(results, indent=2))


def intake_table(results: dict[str, Any]) -> str:
    """The intake rows, each with the bare app's figures from the same minutes,
    and issue 16's PostgreSQL targets."""

    def row(name: str, result: dict[str, Any]) -> str:
        saturation, paced = result["saturation"], result["paced"]
        bare_saturation, bare_paced = result["bare_saturation"], result["bare_paced"]
        low, high = paced["p99_range_ms"]
        share = saturation["throughput_per_s"] / bare_saturation["throughput_per_s"] * 100
        return (
            f"| {name} | {saturation['throughput_per_s']:,.0f} "
            f"({bare_saturation['throughput_per_s']:,.0f}, {share:.0f} %) | "
            f"{paced['p99_ms']:.2f} ({low:.1f} to {high:.1f}) | {bare_paced['p99_ms']:.2f} | "
            f"{paced['p99_ms'] / bare_paced['p99_ms']:.1f}x | {paced['p50_ms']:.2f} | "
            f"{result['stored']:,} / {result['acknowledged']:,} |"
        )

    one, two = results["postgresql-1"], results["postgresql-2"]
    one_rate = one["saturation"]["throughput_per_s"]
    two_rate = two["saturation"]["throughput_per_s"]
    targets = [
        (
            "PostgreSQL, one replica: acks/s at saturation",
            ">= 2,000",
            f"{one_rate:,.0f}",
            one_rate >= 2000,
        ),
        (
            f"PostgreSQL, one replica: p99 at {PACED_RATE:,}/s",
            "<= 10 ms",
            f"{one['paced']['p99_ms']:.2f} ms",
            one["paced"]["p99_ms"] <= 10,
        ),
        (
            "PostgreSQL, two replicas: acks/s at saturation",
            ">= one replica's",
            f"{two_rate:,.0f}",
            two_rate >= one_rate,
        ),
        (
            f"PostgreSQL, two replicas: p99 at {PACED_RATE:,}/s",
            "<= 15 ms",
            f"{two['paced']['p99_ms']:.2f} ms",
            two["paced"]["p99_ms"] <= 15,
        ),
        (
            "nothing lost (stored = acknowledged)",
            "all rows",
            " · ".join(
                f"{results[name]['stored']:,} / {results[name]['acknowledged']:,}"
                for name in ("sqlite", "postgresql-1", "postgresql-2")
            ),
            all(
                results[name]["stored"] == results[name]["acknowledged"]
                for name in ("sqlite", "postgresql-1", "postgresql-2")
            ),
        ),
    ]
    return "\n".join(
        [
            f"| store | acks/s, 64 senders (bare app's, share) | p99 ms at {PACED_RATE:,}/s "
            "(range) | bare app's p99 | p99 / bare | p50 ms | stored / acked |",
            "|---|---|---|---|---|---|---|",
            row("SQLite, one process", results["sqlite"]),
            row("PostgreSQL, one replica", one),
            row("PostgreSQL, two replicas", two),
            "",
            "| target (issue 16) | wanted | measured | met |",
            "|---|---|---|---|",
            *(
                f"| {what} | {wanted} | {measured} | {'yes' if met else '**no**'} |"
                for what, wanted, measured, met in targets
            ),
        ]
    )


def report(results: dict[str, Any], *, quick: bool) -> str:
    def load_row(name: str, result: dict[str, Any]) -> str:
        return (
            f"| {name} | {result['stored']:,} / {result['acked']:,} | "
            f"{result['acks_per_s']:,.0f} | {result['handled_in_s']:.1f} s | "
            f"{result['rss_start_mib']:.1f} | {result['rss_peak_mib']:.1f} | "
            f"{result['rss_end_mib']:.1f} |"
        )

    takeover = results["takeover"]
    return "\n".join(
        [
            "## Backends, replicas, takeover and load",
            "",
            f"Run: {results_now()}{' (quick run)' if quick else ''}, by "
            "`.venv/bin/python -m benchmarks.replicas`.",
            f"Machine: {machine()}. PostgreSQL 15 on the same machine (loopback, default "
            "settings: every commit fsynced).",
            "",
            "Intake (`installation_repositories.added`; the worker handles deliveries meanwhile,",
            "one 50 ms GitHub call each). Two replicas share the load evenly; their p99 is the",
            "worse of the two. After each of the bot's runs the bare verify-and-answer app gets",
            "the same run (two load processes for the two-replica rows): its figures are the",
            "machine's floor in the same minutes.",
            "",
            intake_table(results),
            "",
            "Leader takeover: two replicas; the leader is killed (SIGKILL) just after renewing",
            "its lease, the worst case; measured until the other replica holds the lease and",
            "runs the poller.",
            "",
            "| `BOT_LEADER_LEASE_SECONDS` | takeover | bound (lease + a third) |",
            "|---|---|---|",
            *(
                f"| {lease} | {seconds:.1f} s | {float(lease) * 4 / 3:.0f} s |"
                for lease, seconds in takeover.items()
            ),
            "",
            f"Load: {results['load_total']:,} merged-pull-request deliveries (the real",
            "`fix_merged` handler runs and finds no linked advisory; all share one repository,",
            "so they are handled in order, one at a time) sent by 64 concurrent senders.",
            "",
            "| store | stored / acked | acks/s | all handled after | RSS start MiB | peak | "
            "after |",
            "|---|---|---|---|---|---|---|",
            load_row("SQLite", results["load-sqlite"]),
            load_row("PostgreSQL", results["load-postgresql"]),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
