"""The load process: signed deliveries over loopback, at saturation or at a paced rate.

Prints one JSON line: sent, status counts, elapsed seconds, throughput, and
ack latency percentiles (milliseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections import Counter

import aiohttp

from bot.intake import signature_for


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def send_one(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    latencies: list[float],
    statuses: Counter[int],
) -> None:
    request_headers = dict(headers, **{"X-GitHub-Delivery": str(uuid.uuid4())})
    started = time.perf_counter()
    try:
        async with session.post(url, data=body, headers=request_headers) as response:
            await response.read()
            statuses[response.status] += 1
    except aiohttp.ClientError:
        statuses[0] += 1
        return
    latencies.append((time.perf_counter() - started) * 1000)


async def saturate(
    url: str, body: bytes, headers: dict[str, str], concurrency: int, total: int
) -> dict[str, object]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    remaining = total
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def sender() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await send_one(session, url, body, headers, latencies, statuses)

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return summary(latencies, statuses, elapsed)


async def paced(
    url: str, body: bytes, headers: dict[str, str], rate: float, seconds: float
) -> dict[str, object]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    total = int(rate * seconds)
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = []
        started = time.perf_counter()
        for index in range(total):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(
                asyncio.create_task(send_one(session, url, body, headers, latencies, statuses))
            )
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    result = summary(latencies, statuses, elapsed)
    result["target_rate"] = rate
    return result


def summary(latencies: list[float], statuses: Counter[int], elapsed: float) -> dict[str, object]:
    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    return {
        "sent": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "elapsed_s": round(elapsed, 3),
        "throughput_per_s": round(ok / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(latencies, 0.50), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "mean_ms": round(statistics.fmean(latencies), 3) if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--payload", required=True, help="JSON file to send")
    parser.add_argument("--event", default="installation_repositories")
    parser.add_argument("--secret", default="bench-secret")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--total", type=int, default=10_000)
    parser.add_argument("--rate", type=float, help="paced mode: deliveries per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with open(args.payload, "rb") as handle:
        body = handle.read()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/bench",
        "X-GitHub-Event": args.event,
        "X-Hub-Signature-256": signature_for(body, args.secret.encode()),
    }
    url = args.url.rstrip("/") + "/webhook"
    if args.rate:
        result = asyncio.run(paced(url, body, headers, args.rate, args.seconds))
    else:
        result = asyncio.run(saturate(url, body, headers, args.concurrency, args.total))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
