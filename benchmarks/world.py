"""The fake GitHub and the bot in one process, on loopback, for the benchmarks.

The one place the benchmarks get the fake GitHub (`FakeGitHub`) and the fixtures
path (`FIXTURES`, tests/fixtures) from.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import Services, attach, close_services, open_services
from bot.core.clock import Clock
from bot.core.config import load_config
from bot.core.settings import load_settings
from bot.web.routes import add_service_routes
from tests.fakegithub import FakeGitHub as FakeGitHub  # re-exported: the benchmarks' one source
from tests.harness import REPORT, fixtures_dir, reported_payload, send_webhook

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = fixtures_dir()
TEAM_FILES = {
    ("python/devguide", "security/psrt.csv"): "psrt.csv",
    ("python/devguide", "core-team/experts.rst"): "experts.rst",
    ("python/cpython", ".github/CODEOWNERS"): "CODEOWNERS",
}


def intake_payload(installation_id: int) -> dict[str, Any]:
    """The intake benchmarks' delivery: `installation_repositories.added`, addressed to
    `installation_id`, with no repositories (its handling makes one call to GitHub)."""
    payload: dict[str, Any] = json.loads(
        (FIXTURES / "webhooks/installation_repositories/added.payload.json").read_text()
    )
    payload["installation"]["id"] = installation_id
    payload["repositories_added"] = []
    return payload


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@dataclass
class World:
    fake: FakeGitHub
    installation: int
    services: Services
    bot_url: str
    runners: list[web.AppRunner]

    def payload(self, relative: str) -> dict[str, Any]:
        """A fixture payload addressed to this world's installation."""
        payload = dict(json.loads((FIXTURES / "webhooks" / relative).read_text()))
        if isinstance(payload.get("installation"), dict):
            payload["installation"]["id"] = self.installation
        return payload

    @property
    def installation_id(self) -> int:
        return self.installation

    def report_payload(self, advisory: dict[str, Any]) -> dict[str, Any]:
        """The `repository_advisory.reported` webhook for an advisory the fake holds."""
        return reported_payload(self, advisory, advisory["author"]["login"])  # type: ignore[arg-type]

    async def file_report(self, session: aiohttp.ClientSession, index: int) -> dict[str, Any]:
        """A private report on the fake, announced to the bot by its signed webhook."""
        advisory = self.fake.new_advisory(
            "python/cpython",
            summary=f"tarfile report {index}",
            description=REPORT,
            reporter=f"reporter{index}",
        )
        payload = self.report_payload(advisory)
        sent = await send_webhook(session, self.bot_url, "repository_advisory", payload, b"bench")
        assert sent.status == 202, sent.body
        return advisory

    async def close(self) -> None:
        for runner in self.runners:
            await runner.cleanup()
        if self.services.worker is not None and self.services.worker.running:
            await close_services(self.services)


async def start_world(
    *, config_dir: Path | None = None, background: bool = False, clock: Clock | None = None
) -> World:
    """CPython's team on the fake (no OpenAPI checking, to spare the CPU) and the bot."""
    fake = FakeGitHub(None, FIXTURES)
    installation = fake.add_installation("python", ["python/cpython", "python/devguide"])
    for (repo, path), name in TEAM_FILES.items():
        fake.set_content(repo, path, (FIXTURES / "cpython" / name).read_bytes())
    fake_runner, api = await serve(fake.web_app())
    workdir = Path(tempfile.mkdtemp(prefix="ghsa-bot-bench-"))
    settings = load_settings(
        {
            "GITHUB_APP_ID": str(fake.app.id),
            "GITHUB_CLIENT_ID": fake.app.client_id,
            "GITHUB_PRIVATE_KEY": fake.app.private_key,
            "GITHUB_WEBHOOK_SECRET": "bench",
            "GITHUB_API_URL": api,
            "DATABASE_URL": f"sqlite:///{workdir}/bot.sqlite3",
            "BOT_CONFIG": str(config_dir or ROOT / "config"),
            "BOT_ENV_FILE": str(workdir / ".env"),
            "BOT_MUTATION_INTERVAL": "0",
        }
    )
    services = await open_services(
        settings, load_config(settings.config_dir), start_background=background, clock=clock
    )
    app = web.Application()
    add_service_routes(app)
    attach(app, services)
    bot_runner, bot_url = await serve(app)
    return World(fake, installation, services, bot_url, [bot_runner, fake_runner])
