"""The load process: signed deliveries over loopback, at saturation or at a paced rate.

A lean HTTP/1.1 client on asyncio streams: each request is pre-built bytes
(only the delivery GUID differs), sent on a kept-alive connection, and timed
from the write to the last byte of the answer. It spends far less CPU than a
general client, so on a small machine it disturbs the server it measures less.
Prints one JSON line: sent, status counts, elapsed seconds, throughput, and
ack latency percentiles (milliseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
import uuid
from collections import Counter
from urllib.parse import urlsplit

from bot.queue.intake import signature_for


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class Connection:
    """One kept-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, data: bytes) -> int:
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


class Load:
    def __init__(self, url: str, body: bytes, event: str, secret: bytes) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        signature = signature_for(body, secret)
        self.prefix = (
            f"POST /webhook HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\nUser-Agent: GitHub-Hookshot/bench\r\n"
            f"X-GitHub-Event: {event}\r\nX-Hub-Signature-256: {signature}\r\n"
            f"Content-Length: {len(body)}\r\nX-GitHub-Delivery: "
        ).encode()
        self.body = body
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.idle: list[Connection] = []

    def build(self) -> bytes:
        # Time-based, as GitHub's delivery GUIDs are (e.g. 0b989ba4-242f-11e5-81e1-...):
        # consecutive deliveries sort next to each other in the store's GUID index.
        return self.prefix + str(uuid.uuid1()).encode() + b"\r\n\r\n" + self.body

    async def send(self) -> None:
        data = self.build()
        connection = self.idle.pop() if self.idle else await Connection.open(self.host, self.port)
        started = time.perf_counter()
        try:
            status = await connection.request(data)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self.statuses[0] += 1
            connection.close()
            return
        self.latencies.append((time.perf_counter() - started) * 1000)
        self.statuses[status] += 1
        self.idle.append(connection)

    def close(self) -> None:
        for connection in self.idle:
            connection.close()

    def summary(self, elapsed: float) -> dict[str, object]:
        ok = sum(count for status, count in self.statuses.items() if 200 <= status < 300)
        return {
            "sent": sum(self.statuses.values()),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "elapsed_s": round(elapsed, 3),
            "throughput_per_s": round(ok / elapsed, 1) if elapsed else 0.0,
            "p50_ms": round(percentile(self.latencies, 0.50), 3),
            "p99_ms": round(percentile(self.latencies, 0.99), 3),
            "mean_ms": round(statistics.fmean(self.latencies), 3) if self.latencies else None,
        }


async def saturate(load: Load, concurrency: int, total: int) -> dict[str, object]:
    remaining = total

    async def sender() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await load.send()

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    load.close()
    return load.summary(elapsed)


async def paced(load: Load, rate: float, seconds: float) -> dict[str, object]:
    total = int(rate * seconds)
    tasks = []
    started = time.perf_counter()
    for index in range(total):
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(load.send()))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    load.close()
    result = load.summary(elapsed)
    result["target_rate"] = rate
    return result


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
    load = Load(args.url, body, args.event, args.secret.encode())
    # The load generator is the measuring instrument: a full collection here,
    # over the thousands of send tasks a paced run keeps, stalls its event loop
    # for 10-20 ms and would be counted as the server's latency. Nothing it
    # allocates in one run needs collecting before the process exits.
    gc.disable()
    if args.rate:
        result = asyncio.run(paced(load, args.rate, args.seconds))
    else:
        result = asyncio.run(saturate(load, args.concurrency, args.total))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
