"""Triage costs: GitHub requests per triaged advisory, idle polling, a 1,000-repository cycle.

    .venv/bin/python -m benchmarks.triage

In one process: the fake GitHub (no OpenAPI checking, to spare the CPU) and
the bot's services, the bot serving webhooks on loopback. Writes its section
of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import aiohttp

from benchmarks.results import machine, now, write_section
from benchmarks.world import start_world
from bot.github.installations import sync_all

ADVISORIES = 50
IDLE_CYCLES = 60  # an hour at the default 60 s interval
BIG = 1000
CYCLES = (
    "first (backfill)",
    "second (reads the bot's own triage of the first)",
    "third (settled)",
)


def kind(method: str, path: str) -> str:
    if path.endswith("/access_tokens"):
        return "token"
    if "/comments" in path:
        return f"{method} comments"
    if "/teams/" in path:
        return f"{method} team members"
    if "/security-advisories" in path:
        return f"{method} advisory" if "GHSA-" in path else f"{method} advisory list"
    return f"{method} other"


async def settle(services: Any) -> None:
    while True:
        counts = await services.store.counts_by_state()
        if not any(counts.get(state) for state in ("queued", "waiting", "running")):
            return
        await asyncio.sleep(0.02)


async def main() -> None:
    world = await start_world()
    fake, services = world.fake, world.services
    results: dict[str, Any] = {}
    try:
        await sync_all(services.github, services.installations, now=time.time())
        await services.team_data.refresh_due(time.time())
        roster = services.team_data.roster()
        fake.team_members[("python", "psrt")] = {e.login: "active" for e in roster[2:]}
        await services.poller.poll_once()  # the backfill: nothing open yet
        await settle(services)

        # 1. Requests per triaged advisory.
        start = len(fake.requests)
        tokens_before = sum(fake.token_requests.values())
        async with aiohttp.ClientSession() as session:
            for index in range(ADVISORIES):
                await world.file_report(session, index)
        await settle(services)
        counts = collections.Counter(kind(r.method, r.path) for r in fake.requests[start:])
        results["per_advisory"] = {k: v / ADVISORIES for k, v in sorted(counts.items())}
        results["tokens"] = sum(fake.token_requests.values()) - tokens_before

        # 2. An hour of idle polling, once the bot's own changes are read: the first
        # cycle reads its PATCHes and comments, the second the moved comment cursors.
        for _ in range(2):
            await services.poller.poll_once()
            await settle(services)
        start = len(fake.requests)
        for _ in range(IDLE_CYCLES):
            await services.poller.poll_once()
        idle = fake.requests[start:]
        results["idle"] = {
            "requests": len(idle),
            "counted": sum(1 for r in idle if r.status != 304),
            "statuses": dict(collections.Counter(r.status for r in idle)),
        }

        # 3. One poll cycle over 1,000 repositories (another installation).
        names = [f"big-org/repo{index:04d}" for index in range(BIG)]
        big = fake.add_installation("big-org", names)
        for index, name in enumerate(names):
            if index % 10 == 0:
                fake.new_advisory(
                    name,
                    summary="s",
                    description="d",
                    state=("triage", "draft", "closed", "published")[index % 4],
                )
        await sync_all(services.github, services.installations, now=time.time())
        for label in CYCLES:
            await settle(services)
            start = len(fake.requests)
            started = time.perf_counter()
            report = await services.poller.poll_once()
            elapsed = time.perf_counter() - started
            cycle = [
                r
                for r in fake.requests[start:]
                if "big-org" in r.path and kind(r.method, r.path) == "GET advisory list"
            ]
            results[f"big {label}"] = {
                "seconds": round(elapsed, 2),
                "requests": len(cycle),
                "counted": sum(1 for r in cycle if r.status != 304),
                "events": report.events,
            }
        assert big
    finally:
        await world.close()
    write(results)


def write(results: dict[str, Any]) -> None:
    per = results["per_advisory"]
    gets = per.get("GET advisory", 0) + per.get("GET comments", 0)
    team_reads = per.get("GET team members", 0)
    lines = [
        "## Advisory triage",
        "",
        f"Run: {now()}, by `.venv/bin/python -m benchmarks.triage`. Machine: {machine()}.",
        "",
        f"{ADVISORIES} private reports, each a signed `repository_advisory.reported` webhook, "
        "triaged end to end against the fake GitHub with CPython's configuration "
        "(team access, reporter credit, acknowledgement, experts).",
        "",
        "| target | wanted | measured | met |",
        "|---|---|---|---|",
        f"| GETs per triaged advisory | <= 1 (+ amortized) | {gets:.2f} (+ {team_reads:.2f} "
        f"team-member list, re-read every 10 minutes) | {'yes' if gets <= 1 else '**no**'} |",
        f"| PATCHes per triaged advisory | <= 1 | {per.get('PATCH advisory', 0):.2f} | "
        f"{'yes' if per.get('PATCH advisory', 0) <= 1 else '**no**'} |",
        f"| comment POSTs per triaged advisory | <= 2 | {per.get('POST comments', 0):.2f} | "
        f"{'yes' if per.get('POST comments', 0) <= 2 else '**no**'} |",
        f"| rate-limited requests per hour of idle polling | 0 | {results['idle']['counted']} | "
        f"{'yes' if results['idle']['counted'] == 0 else '**no**'} |",
        "",
        "Requests per triaged advisory, by kind: "
        + ", ".join(f"{k}: {v:.2f}" for k, v in per.items())
        + f". Installation tokens for all {ADVISORIES}: {results['tokens']} (cached for the hour).",
        "",
        f"Idle polling: {IDLE_CYCLES} cycles over 2 repositories and the comments of "
        f"{ADVISORIES} open advisories made "
        f"{results['idle']['requests']} requests, statuses {results['idle']['statuses']}: "
        "a 304 costs no rate limit.",
        "",
        f"A poll cycle over {BIG:,} repositories ({BIG // 10} advisories) on the fake, in one "
        "process (advisory-list reads only; the worker triages what the backfill found meanwhile):",
        "",
        "| cycle | seconds | requests | rate-limited | events |",
        "|---|---|---|---|---|",
    ]
    for label in CYCLES:
        big = results[f"big {label}"]
        row = [label, big["seconds"], big["requests"], big["counted"], big["events"]]
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    write_section("triage", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
