"""Slash-command costs: parsing speed on large comments, and comment-to-effect time.

    .venv/bin/python -m benchmarks.commands

1. A 64 KiB comment full of fenced code, quotes and inline code, with three
   commands: comments parsed per second.
2. The bot with its background poller every 5 s, on the fake, with an
   organization of 1,000 repositories and 100 open advisories installed beside
   CPython's: `/accept` is written as a comment at a random moment, and the time
   until the advisory is a draft is measured (target: poll interval + 2 s).

    .venv/bin/python -m benchmarks.commands --quick --output /tmp/commands.md
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from benchmarks.results import RESULTS, machine, now, write_section
from benchmarks.world import ROOT, start_world
from bot.commands.parser import find_commands
from bot.github.installations import sync_all
from tests.harness import REPORT

INTERVAL = 5
TRIALS = 6
ORG_REPOSITORIES = 1000
ORG_OPEN = 100


def big_comment(size: int = 64 * 1024) -> str:
    block = (
        "Here is the reproducer, run it with `/usr/bin/python3`:\n\n"
        "```python\nimport tarfile\n/accept  # not a command inside code\n"
        + "x = tarfile.open('evil.tar')\n" * 8
        + "```\n\n> /reject quoted, so ignored\n\n    /indented code\n\n"
    )
    parts = ["/accept", "/credit @alice finder"]
    while sum(len(p) for p in parts) < size:
        parts.append(block)
    parts.append("/invite @bob")
    return "\n".join(parts)


def parse_speed() -> dict[str, float]:
    comment = big_comment()
    assert [c.verb for c in find_commands(comment)] == ["accept", "credit", "invite"]
    rounds = 50
    started = time.perf_counter()
    for _ in range(rounds):
        find_commands(comment)
    elapsed = time.perf_counter() - started
    return {
        "bytes": len(comment.encode()),
        "per_second": rounds / elapsed,
        "ms_each": elapsed / rounds * 1000,
    }


async def comment_to_effect(trials: int) -> list[float]:
    config = Path(tempfile.mkdtemp(prefix="ghsa-bot-config-")) / "config"
    shutil.copytree(ROOT / "config", config)
    toml = config / "bot.toml"
    toml.write_text(
        toml.read_text().replace("interval_seconds = 60", f"interval_seconds = {INTERVAL}")
    )
    world = await start_world(config_dir=config, background=True)
    fake, services = world.fake, world.services
    latencies = []
    try:
        names = [f"big-org/repo{index:04d}" for index in range(ORG_REPOSITORIES)]
        fake.add_installation("big-org", names)
        for index in range(ORG_OPEN):
            fake.new_advisory(names[index * 9], summary="s", description=REPORT, state="draft")
        await sync_all(services.github, services.installations, now=time.time())
        cycles = services.poller.cycles
        while services.poller is None or services.poller.cycles < cycles + 2:
            await asyncio.sleep(0.1)
        fake.team_members[("python", "psrt")] = {"gpshead": "active"}
        async with aiohttp.ClientSession() as session:
            for index in range(trials):
                advisory = await world.file_report(session, index)
                while await services.advisories.get("python/cpython", advisory["ghsa_id"]) is None:  # type: ignore[union-attr]
                    await asyncio.sleep(0.05)
                await asyncio.sleep(random.uniform(0, INTERVAL))
                written = time.perf_counter()
                fake.add_advisory_comment(
                    "python/cpython", advisory["ghsa_id"], "gpshead", "/accept"
                )
                while advisory["state"] != "draft":
                    await asyncio.sleep(0.02)
                latencies.append(time.perf_counter() - written)
    finally:
        await world.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="three trials")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    speed = parse_speed()
    latencies = asyncio.run(comment_to_effect(3 if args.quick else TRIALS))
    worst = max(latencies)
    lines = [
        "## Slash commands",
        "",
        f"Run: {now()}{' (quick run)' if args.quick else ''}, by "
        f"`.venv/bin/python -m benchmarks.commands`. Machine: {machine()}.",
        "",
        "| target | wanted | measured | met |",
        "|---|---|---|---|",
        f"| comment to effect, poller every {INTERVAL} s, {ORG_REPOSITORIES:,} more repositories "
        f"(worst of {len(latencies)}) | <= {INTERVAL + 2} s "
        f"| {worst:.2f} s (median {statistics.median(latencies):.2f} s) | "
        f"{'yes' if worst <= INTERVAL + 2 else '**no**'} |",
        "",
        f"Parsing a {speed['bytes'] / 1024:.0f} KiB comment full of fenced code, quotes and "
        f"inline code (3 commands found): {speed['per_second']:,.0f} comments/s "
        f"({speed['ms_each']:.1f} ms each, markdown-it-py).",
        "",
        "Each `/accept` was written at a random moment of the poll cycle; the effect is the "
        "advisory becoming a draft on the fake. With the default 60 s interval the bound is "
        "60 s + the same handling time. The organization beside CPython's repositories "
        f"({ORG_REPOSITORIES:,} repositories, {ORG_OPEN} open advisories) is listed once a "
        "cycle; an advisory's comments are read when its comment count moves.",
    ]
    write_section("commands", "\n".join(lines), args.output)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
