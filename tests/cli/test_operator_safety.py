"""What protects a careless operator, a local user and the network from the bot's own
plumbing: `.env` written by rename and warned about when loose, redirects refused in
sign-in and setup, private folders under any umask, finite numbers only, plain-http
URLs warned about, database credentials never echoed, `/readyz` quiet about the store,
and one line (no traceback) when the CLI finds the store unavailable."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from bot.core.env_file import SettingsError, parse_env_file, write_env_file
from bot.core.private_paths import make_private_folders
from bot.core.settings import load_settings
from bot.db.backends import PostgresBackend, SqliteBackend
from bot.db.connection import Database, StoreUnavailable
from bot.records.documents import write_record
from bot.web.signin import STATE_COOKIE
from tests.conftest import StartBot
from tests.fakegithub import FakeGitHub
from tests.harness import catch_all_server, run_cli
from tests.web.test_setup_flow import setup_app

KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIsecret\n-----END RSA PRIVATE KEY-----\n"


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- 1. `.env`: a new 0600 file by rename; a loose one is warned about -----------------


def test_env_is_replaced_by_a_new_private_file_and_a_loose_one_is_warned_about(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text('DATABASE_URL="sqlite:///var/bot.sqlite3"\n')  # copied from the example
    env_file.chmod(0o644)
    environment = {"BOT_ENV_FILE": str(env_file)}
    warnings = load_settings(environment).warnings
    assert any(
        str(env_file) in w and "readable by others" in w and f"chmod 600 {env_file}" in w
        for w in warnings
    ), warnings
    with env_file.open() as reader:  # another process holding the old file open
        write_env_file(env_file, {"GITHUB_PRIVATE_KEY": KEY})
        reader.seek(0)
        assert "PRIVATE KEY" not in reader.read()  # the key never went into the 0644 file
    assert mode(env_file) == 0o600
    assert parse_env_file(env_file.read_text()) == {
        "DATABASE_URL": "sqlite:///var/bot.sqlite3",
        "GITHUB_PRIVATE_KEY": KEY,
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]  # no temporary left
    assert not [w for w in load_settings(environment).warnings if ".env" in w]


# -- 2. redirects in sign-in and setup: refused, the canary sees nothing ---------------


@dataclass
class Canary:
    """Another server: it records every request and answers as GitHub would."""

    url: str = ""
    seen: list[tuple[str, str, str]] = field(default_factory=list)

    async def answer(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, request.path, await request.text()))
        if request.path.endswith("/access_token"):
            return web.json_response({"access_token": "gho_canary", "token_type": "bearer"})
        if request.path == "/user":
            return web.json_response({"login": "mallory", "id": 666})
        if request.path.endswith("/conversions"):
            credentials = {"client_id": "Iv1.mallory", "client_secret": "s", "pem": KEY}
            return web.json_response(
                {"id": 666, "name": "mallory", "webhook_secret": "w", **credentials}, status=201
            )
        return web.json_response({})


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    canary = Canary()
    async with catch_all_server(canary.answer) as url:
        canary.url = url
        yield canary


@pytest.mark.parametrize("step", ["/login/oauth/access_token", "/user"])
async def test_sign_in_never_follows_a_redirect_with_the_secret_or_the_token(
    start_bot: StartBot, fake_github: tuple[FakeGitHub, str], canary: Canary, step: str
) -> None:
    fake, _ = fake_github
    bot = await start_bot(GITHUB_CLIENT_SECRET=fake.app.client_secret)
    fake.web_user = "gpshead"
    fake.inject(step + "$", status=307, headers={"Location": f"{canary.url}{step}"})
    async with aiohttp.ClientSession() as browser:
        async with browser.get(f"{bot.url}/auth/login", allow_redirects=False) as login:
            assert login.status == 302
            state = login.cookies[STATE_COOKIE].value
            authorize = login.headers["Location"]
        async with browser.get(authorize, allow_redirects=False) as github:
            back = urlsplit(github.headers["Location"])
        async with browser.get(
            f"{bot.url}/auth/callback?{back.query}",
            headers={"Cookie": f"{STATE_COOKIE}={state}"},
            allow_redirects=False,
        ) as callback:
            text = await callback.text()
            assert callback.status == 502, text
            assert "Sign-in failed" in text
    assert canary.seen == []  # neither the client secret nor the user's token left


async def test_setup_never_follows_a_redirect_for_the_apps_credentials(
    fake_github: tuple[FakeGitHub, str], tmp_path: Path, canary: Canary
) -> None:
    fake, _ = fake_github
    async with setup_app(fake_github, tmp_path) as setup, setup.browser() as operator:
        await setup.open_link(operator)
        action, manifest = await setup.form(operator)
        query = urlsplit(await setup.github_redirect(action, manifest)).query
        code = dict(pair.split("=", 1) for pair in query.split("&"))["code"]
        path = f"/app-manifests/{code}/conversions"
        fake.inject(path + "$", status=307, headers={"Location": f"{canary.url}{path}"})
        async with operator.get(f"{setup.url}/setup/callback?{query}") as page:
            text = await page.text()
            assert page.status == 502, text
            assert "redirect" in text and "nothing was written" in text
    assert canary.seen == []
    assert not setup.env_file.exists()  # the canary's "credentials" were never written


# -- 3. every folder the bot creates is 0700, whatever the umask -----------------------


def test_folders_the_bot_creates_are_private_under_umask_000(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    with umask(0):
        SqliteBackend(tmp_path / "db" / "a" / "b" / "bot.sqlite3").create_file()
        write_record(tmp_path / "records" / "out", "osv", "GHSA-1234-5678-9abc", {"id": "x"})
        write_env_file(tmp_path / "etc" / "ghsa" / ".env", {"GITHUB_APP_ID": "1"})
    for folder in ("db", "db/a", "db/a/b", "records", "records/out", "records/out/osv"):
        assert mode(tmp_path / folder) == 0o700, folder
    assert mode(tmp_path / "db" / "a" / "b" / "bot.sqlite3") == 0o600
    for folder in ("etc", "etc/ghsa"):
        assert mode(tmp_path / folder) == 0o700, folder
    assert mode(tmp_path / "etc" / "ghsa" / ".env") == 0o600
    assert mode(tmp_path) == 0o755  # a folder that existed is left as it was


def test_a_new_folder_replaced_by_a_link_before_its_mode_is_set_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another local user swaps the folder the bot just made for a link to one of the
    bot user's own folders, before the bot sets its mode: the bot stops (an OSError) and
    the link's target keeps its mode."""
    target = tmp_path / "theirs-to-loosen"
    target.mkdir(mode=0o755)
    target.chmod(0o755)
    made = tmp_path / "new"
    real_mkdir = Path.mkdir

    def mkdir_then_swap(self: Path, mode: int = 0o777, *args: Any, **kwargs: Any) -> None:
        real_mkdir(self, mode, *args, **kwargs)
        if self == made:  # the race, won by the other user
            self.rmdir()
            self.symlink_to(target)

    monkeypatch.setattr(Path, "mkdir", mkdir_then_swap)
    with pytest.raises(OSError) as refused:
        make_private_folders(made / "inner")
    assert refused.value.errno in (errno.ELOOP, errno.ENOTDIR)
    assert mode(target) == 0o755
    assert not (target / "inner").exists()


# -- 4. numbers must be finite -----------------------------------------------------


@pytest.mark.parametrize(
    "name", ["BOT_PARKED_RETENTION_DAYS", "BOT_RETRY_BASE_SECONDS", "PORT", "BOT_LEASE_SECONDS"]
)
@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "1e400", "NaN"])
def test_numbers_that_are_not_finite_are_refused_naming_the_variable(
    tmp_path: Path, name: str, raw: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({name: raw, "BOT_ENV_FILE": str(tmp_path / ".env")})
    message = str(refused.value)
    assert name in message and "finite" in message and "\n" not in message


async def test_an_infinite_port_is_one_line_from_the_cli(tmp_path: Path) -> None:
    env = {"PORT": "inf", "BOT_ENV_FILE": str(tmp_path / ".env")}
    code, _, err = await run_cli(env, "check-config")
    assert code == 2, err
    assert err.startswith("ghsa-bot: PORT must be a finite number") and "Traceback" not in err


# -- 5. plain http to another host is warned about ----------------------------------


def test_plain_http_urls_to_other_hosts_are_warned_about(tmp_path: Path) -> None:
    base = {"BOT_ENV_FILE": str(tmp_path / ".env")}
    plain = {
        "GITHUB_API_URL": "http://ghes.example/api/v3",
        "GITHUB_WEB_URL": "HTTP://10.0.0.5:8080",
        "CVE_SERVICES_URL": "http://cveawg.example/api",
    }
    warnings = load_settings({**base, **plain}).warnings
    for name in plain:
        assert any(w.startswith(f"{name} is plain http") for w in warnings), (name, warnings)
    for loopback in (
        "http://127.0.0.1:9000",
        "http://127.8.9.1",
        "http://[::1]:80",
        "http://localhost:3000",
    ):
        urls = dict.fromkeys(plain, loopback)
        assert load_settings({**base, **urls}).warnings == (), loopback
    secure = dict.fromkeys(plain, "https://ghes.example")
    assert load_settings({**base, **secure}).warnings == ()


# -- 6. the database URL's credentials are never echoed ------------------------------

PASSWORD_URLS = [
    "postgresql://bob:S3CRE%ZZTPW@127.0.0.1:1/db",  # psycopg: invalid percent-encoded token
    "postgresql://127.0.0.1:1/db?user=bob&password=S3CRE%ZZTPW",
    "postgresql://bob:S3CRE%ZZTPW@[bad",  # libpq quotes the whole URI
]


@pytest.mark.parametrize("url", PASSWORD_URLS)
async def test_store_errors_never_quote_the_database_password(url: str) -> None:
    database = Database(url)
    try:
        with pytest.raises(StoreUnavailable) as unavailable:
            await database.run(lambda connection: connection.execute("SELECT 1"))
    finally:
        await database.close()
    message = str(unavailable.value)
    assert message.startswith("database error: ")
    assert "S3CRE" not in message and "bob" not in message, message
    assert "S3CRE" not in repr(unavailable.value.__cause__)  # a traceback would show it


async def test_migrate_never_prints_the_database_password(tmp_path: Path) -> None:
    for url in PASSWORD_URLS:
        env = {"DATABASE_URL": url, "BOT_ENV_FILE": str(tmp_path / ".env")}
        code, out, err = await run_cli(env, "migrate")
        assert code == 2, err
        assert "S3CRE" not in out + err and "bob" not in out + err, err
        assert err.startswith("ghsa-bot: ") and err.count("\n") == 1, err


@pytest.mark.parametrize(
    "url",
    ["postgresql://[bad", "postgresql://db.internal:notaport/x", "postgres://u:p@[::1/x"],
)
def test_describing_a_malformed_database_url_never_raises(url: str) -> None:
    described = PostgresBackend(url).describe()
    assert described.startswith(("postgresql://", "postgres://"))
    assert "u:p" not in described


def test_describing_a_database_url_leaves_the_credentials_out() -> None:
    described = PostgresBackend("postgresql://bob:pa%2Fss@db.internal:5433/bot").describe()
    assert described == "postgresql://db.internal:5433/bot"


# -- 7. /readyz tells anyone only that the store is unavailable ----------------------


async def test_readyz_says_the_store_is_unavailable_and_logs_the_detail(
    start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await start_bot()
    detail = 'database error: connection to server at "10.9.8.7", port 5432 failed'

    async def ping() -> None:
        raise StoreUnavailable(detail)

    bot.services.store.ping = ping  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="ghsa_bot.web"):
        async with bot.session.get(f"{bot.url}/readyz") as response:
            assert response.status == 503
            body: dict[str, Any] = await response.json()
    problems = body["problems"]
    assert body["ok"] is False and problems[0] == "store: unavailable"
    assert all(p in ("store: unavailable", "worker: not running") for p in problems)
    assert "10.9.8.7" not in str(body)
    logged = [getattr(r, "fields", {}).get("error") for r in caplog.records]
    assert detail in logged  # the operator still learns why


# -- 8. the CLI says the store is unavailable in one line --------------------------


async def test_cli_commands_say_the_store_is_unavailable_in_one_line(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a SQLite database, not at all" * 100)
    garbage.chmod(0o600)
    folder = tmp_path / "a-folder.sqlite3"
    folder.mkdir(mode=0o700)
    cases = [
        (f"sqlite:///{garbage}", ("deliveries",)),
        (f"sqlite:///{folder}", ("advisories",)),
        ("postgresql://127.0.0.1:1/ghsa_bot", ("deliveries",)),  # PostgreSQL down
    ]
    for url, args in cases:
        code, _, err = await run_cli({**bot_env, "DATABASE_URL": url}, *args)
        assert code == 2, (url, err)
        assert "Traceback" not in err, err
        assert err.startswith("ghsa-bot: store unavailable: database error: "), err
        assert err.count("\n") == 1, err
