"""Slash-command costs: parsing speed on large comments, and comment-to-effect time.

    .venv/bin/python -m benchmarks.commands

1. A 64 KiB comment full of fenced code, quotes and inline code, with three
   commands: comments parsed per second.
2. The bot with its background poller every 5 s, on the fake: `/accept` is
   written as a comment at a random moment, and the time until the advisory
   is a draft is measured (target: poll interval + 2 s).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from benchmarks.results import machine, now, write_section
from benchmarks.world import ROOT, start_world
from bot.commands.parser import find_commands

INTERVAL = 5
TRIALS = 6


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


async def comment_to_effect() -> list[float]:
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
        while services.poller is None or services.poller.cycles < 1:
            await asyncio.sleep(0.1)
        fake.team_members[("python", "psrt")] = {"gpshead": "active"}
        async with aiohttp.ClientSession() as session:
            for index in range(TRIALS):
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
    speed = parse_speed()
    latencies = asyncio.run(comment_to_effect())
    worst = max(latencies)
    lines = [
        "## Slash commands",
        "",
        f"Run: {now()}, by `.venv/bin/python -m benchmarks.commands`. Machine: {machine()}.",
        "",
        "| target | wanted | measured | met |",
        "|---|---|---|---|",
        f"| comment to effect, poller every {INTERVAL} s (worst of {TRIALS}) | <= {INTERVAL + 2} s "
        f"| {worst:.2f} s (median {statistics.median(latencies):.2f} s) | "
        f"{'yes' if worst <= INTERVAL + 2 else '**no**'} |",
        "",
        f"Parsing a {speed['bytes'] / 1024:.0f} KiB comment full of fenced code, quotes and "
        f"inline code (3 commands found): {speed['per_second']:,.0f} comments/s "
        f"({speed['ms_each']:.1f} ms each, markdown-it-py).",
        "",
        "Each `/accept` was written at a random moment of the poll cycle; the effect is the "
        "advisory becoming a draft on the fake. With the default 60 s interval the bound is "
        "60 s + the same handling time.",
    ]
    write_section("commands", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
