"""Fixtures: the fake GitHub and the bot, each on a free port, over real HTTP."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.app import attach, open_services
from bot.core.clock import Clock
from bot.core.config import load_config
from bot.core.settings import Settings, load_settings
from bot.db.connection import Database
from bot.queue.store import Store
from bot.web.routes import add_service_routes
from tests.databases import backend_name, fresh_database
from tests.fakecve import FakeCveServices
from tests.fakegithub import FakeGitHub
from tests.harness import (
    ROOT,
    BotProcess,
    BotUnderTest,
    World,
    fixtures_dir,
    world_with,
)

CPYTHON_FILES = {
    ("python/devguide", "security/psrt.csv"): "psrt.csv",
    ("python/devguide", "core-team/experts.rst"): "experts.rst",
    ("python/cpython", ".github/CODEOWNERS"): "CODEOWNERS",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "database_leg(backend): runs only in that leg of scripts/test"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of the other database leg are deselected here (and run there), not skipped.

    The PostgreSQL leg also leaves to the SQLite leg every test that does not use
    the database under test (no `database_url`, directly or through a fixture):
    its outcome cannot depend on the backend, and running it twice only made CI
    longer than its 15 minutes on a slow hour of the host.
    """
    leg = backend_name()
    other = [
        item
        for item in items
        if (marker := item.get_closest_marker("database_leg")) and marker.args[0] != leg
    ]
    no_database = [
        item
        for item in items
        if leg == "postgresql"
        and item not in other
        and item.get_closest_marker("database_leg") is None
        and "database_url" not in getattr(item, "fixturenames", ())
    ]
    if other or no_database:
        config.hook.pytest_deselected(items=other + no_database)
        left = {id(item) for item in other + no_database}
        items[:] = [item for item in items if id(item) not in left]
        config.stash[OTHER_LEG] = len(other)
        config.stash[NO_DATABASE] = len(no_database)


OTHER_LEG = pytest.StashKey[int]()
NO_DATABASE = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    count = config.stash.get(OTHER_LEG, 0)
    if count:
        other = "PostgreSQL" if backend_name() == "sqlite" else "SQLite"
        terminalreporter.write_line(
            f"{count} tests belong to the {other} leg of scripts/test and run there"
        )
    unused = config.stash.get(NO_DATABASE, 0)
    if unused:
        terminalreporter.write_line(
            f"{unused} tests do not use the database; the SQLite leg of scripts/test runs them"
        )


@pytest.fixture(autouse=True)
def kill_leftover_processes() -> Iterator[None]:
    """A test that failed midway must not leave a bot process running."""
    yield
    while BotProcess.started:
        process = BotProcess.started.pop().process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)


@pytest.fixture
def fixtures() -> Path:
    """tests/fixtures; a missing fixture is an error, never a skip."""
    path = fixtures_dir()
    required = path / "github-openapi-subset.json"
    if not required.is_file():
        pytest.fail(f"missing fixture {required} (see tests/fixtures/README.md)", pytrace=False)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def fake_github(fixtures: Path) -> AsyncIterator[tuple[FakeGitHub, str]]:
    """The fake GitHub, serving CPython's team files; fails the test on any API mismatch."""
    fake = FakeGitHub(fixtures / "github-openapi-subset.json", fixtures)
    installation = fake.add_installation("python", ["python/cpython", "python/devguide"])
    fake.primary_installation = installation  # type: ignore[attr-defined]
    for (repo, path), name in CPYTHON_FILES.items():
        fake.set_content(repo, path, (fixtures / "cpython" / name).read_bytes())
    server = TestServer(fake.web_app(), host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        yield fake, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
    assert fake.violations == [], (
        "fake GitHub saw requests or responses that break the API description"
    )


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """The bot's DATABASE_URL: SQLite, or a schema of its own on BOT_TEST_DATABASE_URL."""
    with fresh_database(tmp_path) as url:
        yield url


def bot_environment(
    fake: FakeGitHub, api_url: str, tmp_path: Path, database_url: str
) -> dict[str, str]:
    """The bot's environment; its configuration is a copy of config/ the test may edit."""
    config = tmp_path / "bot-config"
    if not config.exists():
        shutil.copytree(ROOT / "config", config)
    return {
        "GITHUB_APP_ID": str(fake.app.id),
        "GITHUB_CLIENT_ID": fake.app.client_id,
        "GITHUB_PRIVATE_KEY": fake.app.private_key,
        "GITHUB_WEBHOOK_SECRET": "test-secret",
        "GITHUB_API_URL": api_url,
        "GITHUB_WEB_URL": api_url,
        "DATABASE_URL": database_url,
        "BOT_CONFIG": str(config),
        "BOT_ENV_FILE": str(tmp_path / ".env"),
        "BOT_MUTATION_INTERVAL": "0",
        "BOT_RETRY_BASE_SECONDS": "0.05",
        "BOT_HOST": "127.0.0.1",
    }


@pytest.fixture
def bot_env(
    fake_github: tuple[FakeGitHub, str], tmp_path: Path, database_url: str
) -> dict[str, str]:
    fake, url = fake_github
    return bot_environment(fake, url, tmp_path, database_url)


StartBot = Callable[..., Any]


@pytest.fixture
async def start_bot(
    bot_env: dict[str, str], fake_github: tuple[FakeGitHub, str]
) -> AsyncIterator[StartBot]:
    """Start the bot in-process on a free port; call with setting overrides."""
    started: list[tuple[TestServer, aiohttp.ClientSession]] = []

    async def start(clock: Clock | None = None, **overrides: str) -> BotUnderTest:
        port = free_port()  # known first: sign-in needs BOT_PUBLIC_URL
        environment = {"BOT_PUBLIC_URL": f"http://127.0.0.1:{port}", **bot_env, **overrides}
        settings: Settings = load_settings(environment)
        services = await open_services(settings, load_config(settings.config_dir), clock=clock)
        app = web.Application()
        add_service_routes(app)
        attach(app, services)
        server = TestServer(app, host="127.0.0.1", port=port)
        # As `serve` runs it: request bodies are never decoded (bot/web/hardening.py).
        await server.start_server(auto_decompress=False)
        session = aiohttp.ClientSession()
        started.append((server, session))
        secret = settings.webhook_secrets[0]
        installation: int = fake_github[0].primary_installation  # type: ignore[attr-defined]
        return BotUnderTest(
            str(server.make_url("")).rstrip("/"), services, secret, session, installation
        )

    yield start
    for server, session in started:
        await session.close()
        await server.close()


@pytest.fixture
async def bot(start_bot: StartBot) -> BotUnderTest:
    """The bot and the fake GitHub, each on a free port."""
    result: BotUnderTest = await start_bot()
    return result


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def world(start_bot: Any, fake_github: tuple[FakeGitHub, str]) -> World:
    """The bot on a clock the test moves, and the fake with the PSRT team."""
    return await world_with(start_bot, fake_github)


@pytest.fixture
async def fake_cve(fixtures: Path) -> AsyncIterator[tuple[FakeCveServices, dict[str, str]]]:
    """The fake CVE Services, and the environment that points the bot at it."""
    fake = FakeCveServices(schema_path=fixtures / "schemas" / "CVE_JSON_bundled_5.1.1.json")
    server = TestServer(fake.web_app(), host="127.0.0.1", port=free_port())
    await server.start_server()
    env = {
        "CVE_SERVICES_URL": str(server.make_url("/api")),
        "CVE_SERVICES_ORG": fake.org,
        "CVE_SERVICES_USER": fake.user,
        "CVE_SERVICES_API_KEY": fake.api_key,
    }
    try:
        yield fake, env
    finally:
        await server.close()


@pytest.fixture
async def cna_world(
    start_bot: StartBot,
    fake_github: tuple[FakeGitHub, str],
    fake_cve: tuple[FakeCveServices, dict[str, str]],
) -> tuple[World, FakeCveServices]:
    """The bot on CPython's configuration, with the team's CNA in the fake CVE Services."""
    cna, env = fake_cve
    return await world_with(start_bot, fake_github, **env), cna


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """The delivery queue on the test's database, open (migrated)."""
    store = Store(Database(database_url))
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def replica_stores(database_url: str) -> AsyncIterator[list[Store]]:
    """Two delivery queues on the test's database, open: what two replicas have."""
    stores = [Store(Database(database_url)), Store(Database(database_url))]
    for store in stores:
        await store.open()
    try:
        yield stores
    finally:
        for store in stores:
            await store.close()


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two connections to the database under test (one SQLite file, or one PostgreSQL
    schema), migrated: what two bot processes have."""
    first, second = Database(database_url), Database(database_url)
    await first.migrate()
    await second.migrate()
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()
