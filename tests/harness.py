"""Helpers the tests share: signed webhook sending, the bot under test, a subprocess bot."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import resource
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.app import Services
from bot.core.metrics import Metrics
from bot.github.client import GitHubApp
from bot.queue.intake import Delivery, signature_for
from tests.fakegithub import FakeGitHub

ROOT = Path(__file__).resolve().parents[1]


def fixtures_dir() -> Path:
    """The test data kept in the repository: tests/fixtures (sources and licences in its README)."""
    return ROOT / "tests" / "fixtures"


def load_payload(relative: str) -> dict[str, Any]:
    return dict(json.loads((fixtures_dir() / "webhooks" / relative).read_text()))


def signed_headers(
    event: str, body: bytes, secret: bytes, *, guid: str | None = None
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/test",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": guid or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "1",
        "X-Hub-Signature-256": signature_for(body, secret),
    }


def queued_delivery(order_key: str, payload: dict[str, Any], event: str = "test_event") -> Delivery:
    """A delivery as intake would store it, for tests that drive the store directly."""
    return Delivery(
        guid=str(uuid.uuid4()),
        event=event,
        action=None,
        installation_id=1,
        order_key=order_key,
        body=json.dumps(payload),
        payload=payload,
        received_at=time.time(),
    )


def repositories_added(fake: FakeGitHub, installation: int, repository: str) -> dict[str, Any]:
    """An `installation_repositories.added` payload for a repository new on the fake."""
    fake.add_repository(repository)
    fake.installation_repos[installation].append(repository)
    payload = load_payload("installation_repositories/added.payload.json")
    payload["installation"]["id"] = installation
    payload["repositories_added"] = [
        {"id": fake.repos[repository]["id"], "full_name": repository, "private": False}
    ]
    return payload


def resident_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process: its resident memory now and at its peak, in KiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


class SteppedClock:
    """A clock the test moves: the bot's notion of now (the handlers get it passed in)."""

    def __init__(self, start: float | None = None) -> None:
        self.current = time.time() if start is None else start

    def now(self) -> float:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += seconds


@dataclass
class Sent:
    status: int
    body: str
    guid: str
    headers: Mapping[str, str]


async def send_webhook(
    session: aiohttp.ClientSession,
    url: str,
    event: str,
    payload: Mapping[str, Any] | bytes,
    secret: bytes,
    *,
    guid: str | None = None,
    headers: Mapping[str, str | None] | None = None,
) -> Sent:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    all_headers: dict[str, str | None] = dict(signed_headers(event, body, secret, guid=guid))
    all_headers.update(headers or {})
    final = {k: v for k, v in all_headers.items() if v is not None}
    async with session.post(f"{url}/webhook", data=body, headers=final) as response:
        return Sent(
            response.status,
            await response.text(),
            final.get("X-GitHub-Delivery", ""),
            response.headers,
        )


def github_app_for(
    session: aiohttp.ClientSession, fake: FakeGitHub, url: str, **options: Any
) -> GitHubApp:
    """The bot's GitHub client, authenticated as the fake's App, without mutation spacing."""
    options.setdefault("mutation_interval", 0)
    return GitHubApp(
        session,
        api_url=url,
        app_id=str(fake.app.id),
        jwt_issuer=fake.app.client_id,
        private_key=fake.app.private_key,
        metrics=Metrics(),
        **options,
    )


@dataclass
class BotUnderTest:
    url: str
    services: Services
    secret: bytes
    session: aiohttp.ClientSession
    installation_id: int

    def payload(self, relative: str) -> dict[str, Any]:
        """A fixture payload, addressed to the fake's installation."""
        payload = load_payload(relative)
        if isinstance(payload.get("installation"), dict):
            payload["installation"]["id"] = self.installation_id
        return payload

    async def send(self, event: str, payload: Mapping[str, Any] | bytes, **options: Any) -> Sent:
        return await send_webhook(self.session, self.url, event, payload, self.secret, **options)

    async def started(self, limit_seconds: float = 10.0) -> None:
        """Wait for start-up: installations recorded, team files read, a first advisory poll."""
        deadline = time.monotonic() + limit_seconds
        services = self.services
        while time.monotonic() < deadline:
            ready = (
                await services.installations.repositories(self.installation_id)
                and services.team_data.get("roster") is not None
                and services.poller.cycles >= 1
            )
            if ready:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("start-up (installations, team files, first poll) did not finish")

    async def settle(self, limit_seconds: float = 10.0) -> None:
        """Wait until no delivery is journaled, queued or running."""
        deadline = time.monotonic() + limit_seconds
        while time.monotonic() < deadline:
            await self.services.store.intake_settled(max(0.0, deadline - time.monotonic()))
            counts = await self.services.store.counts_by_state()
            if not any(counts.get(state) for state in ("queued", "waiting", "running")):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"deliveries still pending: {counts}")


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env={**os.environ, **env},
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class BotProcess:
    """`python -m bot serve` in a subprocess, for tests that kill it or need its own process.

    Every one started is killed after its test, even one that failed midway
    (see `kill_leftover_processes` in conftest.py).
    """

    started: list[BotProcess] = []

    def __init__(self, env: Mapping[str, str], port: int, log: Path) -> None:
        self.env = dict(env)
        self.port = port
        self.process: asyncio.subprocess.Process | None = None
        self.url = f"http://127.0.0.1:{port}"
        self.log = log  # stdout and stderr, shown when it fails to start

    async def start(
        self,
        session: aiohttp.ClientSession,
        *,
        ready_path: str = "/readyz",
        limit_seconds: float = 20.0,
        file_size_limit: int | None = None,
    ) -> None:
        """Start the process and wait until `ready_path` answers 200.

        `file_size_limit` (bytes): the largest file the process may write (RLIMIT_FSIZE;
        Python ignores SIGXFSZ, so a write past it fails with EFBIG, as a full disk does).
        """

        def limit_file_size() -> None:
            if file_size_limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "serve",
                env={**os.environ, **self.env, "PORT": str(self.port)},
                cwd=str(ROOT),
                stdout=log,
                stderr=log,
                preexec_fn=limit_file_size if file_size_limit is not None else None,
            )
        BotProcess.started.append(self)
        deadline = time.monotonic() + limit_seconds
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise AssertionError(f"bot exited: {self.log.read_text()[-2000:]}")
            try:
                async with session.get(f"{self.url}{ready_path}") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError(f"bot did not become ready: {self.log.read_text()[-2000:]}")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    async def stop(self) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.terminate()
        return await self.process.wait()


# -- advisories on the fake ---------------------------------------------------------

REPORT = """### Summary
tarfile.extractall() with filter="data" follows a symlink out of the destination.

### Threat model
An attacker who controls an archive a victim extracts.

### Proof of concept
```python
import tarfile  # exits with 1 if vulnerable
```

### Versions tested
3.12.3 and 3.13.1
"""


def reported_payload(bot: BotUnderTest, advisory: dict[str, Any], reporter: str) -> dict[str, Any]:
    payload = bot.payload("repository_advisory/reported.payload.json")
    payload["installation"] = {"id": bot.installation_id, "node_id": "x"}
    payload["repository"]["full_name"] = "python/cpython"
    payload["repository_advisory"]["ghsa_id"] = advisory["ghsa_id"]
    payload["sender"]["login"] = reporter
    return payload


OUTSIDE_TEAM = {"sethmlarson"}


async def start_with_team(
    start_bot: Any, fake: FakeGitHub, clock: SteppedClock, **overrides: str
) -> BotUnderTest:
    bot: BotUnderTest = await start_bot(clock=clock, **overrides)
    await bot.started()
    roster = bot.services.team_data.roster()
    fake.team_members[("python", "psrt")] = {
        entry.login: "active" for entry in roster if entry.login not in OUTSIDE_TEAM
    }
    return bot


@dataclass
class World:
    bot: BotUnderTest
    fake: FakeGitHub
    clock: SteppedClock


async def world_with(
    start_bot: Callable[..., Any], fake_github: tuple[FakeGitHub, str], **env: str
) -> World:
    """The bot (started with `env` added) on a clock the test moves, and the fake with the team."""
    fake, _ = fake_github
    clock = SteppedClock()
    bot = await start_with_team(lambda **kw: start_bot(**kw, **env), fake, clock)
    return World(bot, fake, clock)


async def file_report(bot: BotUnderTest, fake: FakeGitHub, reporter: str) -> dict[str, Any]:
    advisory = fake.new_advisory(
        "python/cpython", summary="s", description=REPORT, reporter=reporter
    )
    await bot.send("repository_advisory", reported_payload(bot, advisory, reporter))
    await bot.settle()
    return advisory


async def scan(bot: BotUnderTest) -> int:
    added = await bot.services.deadlines.scan_once()
    await bot.settle()
    return added


def raw_request(
    base_url: str,
    method: str,
    target: str,
    headers: Sequence[tuple[str, str | bytes]] = (),
    body: bytes = b"",
) -> tuple[int, Mapping[str, str], bytes]:
    """One request exactly as given (any bytes in headers), over a fresh connection."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=15)
    try:
        own_host = any(name.lower() == "host" for name, _ in headers)
        connection.putrequest(method, target, skip_host=own_host, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        if body or method not in {"GET", "HEAD"}:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@contextlib.asynccontextmanager
async def catch_all_server(
    answer: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """A server on a free port answering every method and path with `answer`; its URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
