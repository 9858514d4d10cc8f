"""Triage and polling costs against the fake GitHub.

    .venv/bin/python -m benchmarks.triage                 # a few minutes; writes RESULTS.md
    .venv/bin/python -m benchmarks.triage --quick --output /tmp/triage.md   # a short run

1. GitHub requests per triaged advisory (signed `repository_advisory.reported` webhooks).
2. One organization of 1,000 repositories with 100 open advisories (and 100 closed
   or published): the first cycles, then an hour of idle polling at the default
   60 s interval and 10-minute edit sweep on a clock the benchmark moves, as
   GitHub requests per cycle, with 0, 10 and 100 of the open advisories carrying
   a person's comment (only those are swept for edits). Target: <= 3 a cycle.
3. A report filed in that organization without a webhook, at a random moment of
   the cycle, with the poller running on its own: time until the acknowledgement
   (target: one interval + 2 s).
4. A burst of 100 reports at once: GitHub points in every 60 s window (never above
   `github.points_per_minute`), and all 100 triaged. Real time: about 3 minutes.

In one process: the fake GitHub (no OpenAPI checking, to spare the CPU) and the
bot's services, the bot serving webhooks on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.results import RESULTS, machine, now, write_section
from benchmarks.world import ROOT, World, start_world
from bot.github.installations import sync_all
from handlers.triage import ACK_MARKER
from tests.harness import REPORT, SteppedClock

ORG = "big-org"
REPOSITORIES = 1000
OPEN = 100
IDLE_CYCLES = 60  # an hour at the default 60 s interval
INTERVAL = 5  # the background poller's interval for the no-webhook report
BURST = 100


def step(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def kind(method: str, path: str) -> str:
    if path.endswith("/access_tokens"):
        return "token"
    if "/comments" in path:
        return f"{method} comments"
    if "/teams/" in path:
        return f"{method} team members"
    if path.startswith("/orgs/") and path.endswith("/security-advisories"):
        return f"{method} org advisory list"
    if "/security-advisories" in path:
        return f"{method} advisory" if "GHSA-" in path else f"{method} advisory list"
    return f"{method} other"


@contextlib.asynccontextmanager
async def ticking(clock: SteppedClock) -> AsyncIterator[None]:
    """The stepped clock runs (a quarter second per 5 ms) while the bot is busy, so
    requests waiting for the points budget see the minute pass."""

    async def tick() -> None:
        while True:
            await asyncio.sleep(0.005)
            clock.advance(0.25)

    task = asyncio.create_task(tick())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def settle(services: Any, clock: SteppedClock | None = None) -> None:
    """Until nothing is queued; on a stepped clock, time moves meanwhile (the budget
    frees points as the clock passes, so handlers waiting for it go on)."""
    while True:
        counts = await services.store.counts_by_state()
        if not any(counts.get(state) for state in ("queued", "waiting", "running")):
            return
        if clock is not None:
            clock.advance(0.25)
        await asyncio.sleep(0.005 if clock is not None else 0.02)


def config_with_interval(seconds: int) -> Path:
    config = Path(tempfile.mkdtemp(prefix="ghsa-bot-config-")) / "config"
    shutil.copytree(ROOT / "config", config)
    toml = config / "bot.toml"
    toml.write_text(
        toml.read_text().replace("interval_seconds = 60", f"interval_seconds = {seconds}")
    )
    return config


async def add_organization(world: World) -> list[dict[str, Any]]:
    """1,000 repositories; 100 open advisories among them and 100 closed or published."""
    fake = world.fake
    names = [f"{ORG}/repo{index:04d}" for index in range(REPOSITORIES)]
    fake.add_installation(ORG, names)
    opened = []
    for index in range(2 * OPEN):
        states = ("triage", "draft") if index < OPEN else ("closed", "published")
        state = states[index % 2]
        advisory = fake.new_advisory(
            names[index * 5 % REPOSITORIES],
            summary="s",
            description=REPORT,
            reporter=f"finder{index}",
            state=state,
        )
        if index >= OPEN:
            advisory["updated_at"] = "2025-01-01T00:00:00Z"  # settled long ago
        else:
            opened.append(advisory)
    await sync_all(world.services.github, world.services.installations, now=time.time())
    return opened


async def per_advisory(world: World, clock: SteppedClock, count: int) -> dict[str, Any]:
    fake, services = world.fake, world.services
    start = len(fake.requests)
    tokens_before = sum(fake.token_requests.values())
    async with aiohttp.ClientSession() as session:
        for index in range(count):
            await world.file_report(session, index)
    await settle(services, clock)
    counts = collections.Counter(kind(r.method, r.path) for r in fake.requests[start:])
    return {
        "per_advisory": {k: v / count for k, v in sorted(counts.items())},
        "tokens": sum(fake.token_requests.values()) - tokens_before,
    }


async def idle_hour(world: World, clock: SteppedClock, cycles: int) -> dict[str, Any]:
    fake, poller = world.fake, world.services.poller
    start = len(fake.requests)
    sweeps = 0
    for _ in range(cycles):
        clock.advance(poller.interval)
        report = await poller.poll_once()
        sweeps += report.sweeps
    await settle(world.services, clock)
    idle = [r for r in fake.requests[start:] if r.auth != "jwt" and ORG in r.path]
    return {
        "per_cycle": len(idle) / cycles,
        "kinds": dict(collections.Counter(kind(r.method, r.path) for r in idle)),
        "statuses": dict(collections.Counter(r.status for r in idle)),
        "sweeps": sweeps,
    }


async def organization(quick: bool) -> dict[str, Any]:
    clock = SteppedClock()
    world = await start_world(clock=clock)
    # The fake keeps real time (the App's JWT is dated by it); its tokens outlive the
    # hours the stepped clock runs ahead, as a cached token would.
    world.fake.token_lifetime = 30 * 86400.0
    world.services.worker.lease_seconds = 86400.0  # leases renew on real time; minutes fly here
    results: dict[str, Any] = {}
    try:
        await sync_all(world.services.github, world.services.installations, now=clock.now())
        await world.services.team_data.refresh_due(clock.now())
        roster = world.services.team_data.roster()
        world.fake.team_members[("python", "psrt")] = {e.login: "active" for e in roster[2:]}
        step("requests per triaged advisory")
        results.update(await per_advisory(world, clock, 20 if quick else 50))
        step("an organization of 1,000 repositories")
        opened = await add_organization(world)
        cycles = []
        for label in ("first (backfill; triages the 100)", "second", "third"):
            start = len(world.fake.requests)
            started = time.perf_counter()
            async with ticking(clock):
                report = await world.services.poller.poll_once()
                elapsed = time.perf_counter() - started
                await settle(world.services)
            org = [r for r in world.fake.requests[start:] if ORG in r.path]
            cycles.append((label, round(elapsed, 2), len(org), report.events))
        results["cycles"] = cycles
        hours = {}
        step("idle polling")
        hours[0] = await idle_hour(world, clock, 20 if quick else IDLE_CYCLES)
        for share in (10, 100):
            for advisory in opened[:share]:
                if advisory.get("people"):
                    continue
                advisory["people"] = True
                world.fake.add_advisory_comment(
                    advisory["url"].split("/repos/")[1].split("/security-advisories")[0],
                    advisory["ghsa_id"],
                    "gpshead",
                    "Thanks, looking into it.",
                )
            for _ in range(2):  # the new comments are read once
                clock.advance(world.services.poller.interval)
                async with ticking(clock):
                    await world.services.poller.poll_once()
                    await settle(world.services)
            hours[share] = await idle_hour(world, clock, 20 if quick else IDLE_CYCLES)
        results["idle"] = hours
    finally:
        await world.close()
    return results


async def report_without_webhook(trials: int) -> list[float]:
    world = await start_world(config_dir=config_with_interval(INTERVAL), background=True)
    latencies = []
    try:
        fake, services = world.fake, world.services
        names = [f"{ORG}/repo{index:04d}" for index in range(REPOSITORIES)]
        fake.add_installation(ORG, names)
        await sync_all(services.github, services.installations, now=time.time())
        while services.poller.cycles < 2:
            await asyncio.sleep(0.1)
        fake.team_members[("python", "psrt")] = {"gpshead": "active"}
        for index in range(trials):
            await asyncio.sleep(random.uniform(0, INTERVAL))
            advisory = fake.new_advisory(
                names[index * 7], summary="s", description=REPORT, reporter=f"quiet{index}"
            )
            filed = time.perf_counter()
            key = (names[index * 7], advisory["ghsa_id"])
            while not any(c["body"].startswith(ACK_MARKER) for c in fake.comments[key]):
                await asyncio.sleep(0.02)
            latencies.append(time.perf_counter() - filed)
    finally:
        await world.close()
    return latencies


def worst_minute(requests: list[Any]) -> int:
    spent = sorted((r.at, 1 if r.method in ("GET", "HEAD") else 5) for r in requests)
    worst, total, start = 0, 0, 0
    for at, points in spent:
        total += points
        while spent[start][0] <= at - 60:
            total -= spent[start][1]
            start += 1
        worst = max(worst, total)
    return worst


async def burst() -> dict[str, Any]:
    world = await start_world()
    try:
        fake, services = world.fake, world.services
        await sync_all(services.github, services.installations, now=time.time())
        await services.team_data.refresh_due(time.time())
        roster = services.team_data.roster()
        fake.team_members[("python", "psrt")] = {e.login: "active" for e in roster[2:]}
        start = len(fake.requests)
        started = time.perf_counter()
        async with aiohttp.ClientSession() as session:
            advisories = await asyncio.gather(
                *(world.file_report(session, 1000 + index) for index in range(BURST))
            )
        await settle(services)
        elapsed = time.perf_counter() - started
        sent = fake.requests[start:]
        triaged = sum(
            any(c["body"].startswith(ACK_MARKER) for c in fake.comments[key])
            for key in (("python/cpython", a["ghsa_id"]) for a in advisories)
        )
        budget = services.github.budget
        assert budget is not None
        return {
            "seconds": round(elapsed, 1),
            "points": sum(1 if r.method in ("GET", "HEAD") else 5 for r in sent),
            "worst_minute": worst_minute(sent),
            "budget": budget.limit,
            "triaged": triaged,
            "waits": budget.waits,
        }
    finally:
        await world.close()


def write(results: dict[str, Any], output: Path, quick: bool) -> None:
    per = results["per_advisory"]
    gets = per.get("GET advisory", 0)
    idle = results["idle"]
    acks = results["acks"]
    burst_ = results["burst"]
    yes = {True: "yes", False: "**no**"}
    lines = [
        "## Advisory triage and polling",
        "",
        f"Run: {now()}{' (quick run)' if quick else ''}, by `.venv/bin/python -m "
        f"benchmarks.triage`. Machine: {machine()}.",
        "",
        "| target | wanted | measured | met |",
        "|---|---|---|---|",
        f"| GETs per triaged advisory | <= 1 (+ amortized) | {gets:.2f} | {yes[gets <= 1]} |",
        f"| PATCHes per triaged advisory | <= 1 | {per.get('PATCH advisory', 0):.2f} | "
        f"{yes[per.get('PATCH advisory', 0) <= 1]} |",
        f"| idle polling, {REPOSITORIES:,} repositories, {OPEN} open advisories, none with a "
        f"person's comment: requests per cycle | <= 3 | {idle[0]['per_cycle']:.2f} | "
        f"{yes[idle[0]['per_cycle'] <= 3]} |",
        f"| the same, 10 of the {OPEN} with a person's comment | <= 3 | "
        f"{idle[10]['per_cycle']:.2f} | {yes[idle[10]['per_cycle'] <= 3]} |",
        f"| the same, all {OPEN} with a person's comment | <= 3 | "
        f"{idle[100]['per_cycle']:.2f} | {yes[idle[100]['per_cycle'] <= 3]} |",
        f"| report without a webhook to acknowledgement, poller every {INTERVAL} s "
        f"(worst of {len(acks)}) | <= {INTERVAL + 2} s | {max(acks):.2f} s (median "
        f"{statistics.median(acks):.2f} s) | {yes[max(acks) <= INTERVAL + 2]} |",
        f"| burst of {BURST} reports: points in any 60 s | <= {burst_['budget']} | "
        f"{burst_['worst_minute']} | {yes[burst_['worst_minute'] <= burst_['budget']]} |",
        f"| burst of {BURST} reports: triaged | {BURST} | {burst_['triaged']} | "
        f"{yes[burst_['triaged'] == BURST]} |",
        "",
        "Requests per triaged advisory, by kind: "
        + ", ".join(f"{k}: {v:.2f}" for k, v in per.items())
        + f". Installation tokens: {results['tokens']} (cached for the hour).",
        "",
        f"Idle polling ({20 if quick else IDLE_CYCLES} cycles of 60 s each, "
        "edit sweep every 10 minutes), requests by kind: "
        + "; ".join(f"{share} with a person's comment: {idle[share]['kinds']}" for share in idle)
        + ". Only advisories with a person's comment are swept (an edit of a bot's comment "
        "changes nothing), each once per sweep period: 1 organization list (a 304) + "
        "people-commented advisories / 10 a cycle.",
        "",
        "The organization's first cycles (requests to it, events):",
        "",
        "| cycle | seconds | requests | events |",
        "|---|---|---|---|",
        *(f"| {' | '.join(str(cell) for cell in cycle)} |" for cycle in results["cycles"]),
        "",
        f"Burst: {burst_['points']} points in {burst_['seconds']} s; {burst_['waits']} "
        "requests waited for the budget.",
    ]
    text = "\n".join(lines)
    write_section("triage", text, output)
    print(text)


async def run(quick: bool) -> dict[str, Any]:
    results = await organization(quick)
    step("reports without a webhook")
    results["acks"] = await report_without_webhook(3 if quick else 6)
    step(f"a burst of {BURST} reports")
    results["burst"] = await burst()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer advisories, cycles, trials")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = asyncio.run(run(args.quick))
    write(results, args.output, args.quick)


if __name__ == "__main__":
    main()
