"""Setup mode: register the App from a manifest, in headless Chromium and over plain HTTP.

Only the operator may register it: the link printed on the console carries a
one-time token, the manifest's state is tied to the browser that used it, and
`.env` is written once, never over credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import socket
import stat
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.core.env_file import parse_env_file
from bot.core.settings import load_settings
from bot.web.setup import EVENTS, PERMISSIONS, SETUP, SETUP_COOKIE, create_setup_app
from tests.browser import chromium, page_wait, require_browser
from tests.conftest import free_port
from tests.fakegithub import FakeGitHub
from tests.harness import ROOT, BotProcess

LINK = re.compile(r"open (http://\S+/setup\?token=[A-Za-z0-9_-]+)")


def register_in_browser(setup_link: str, screenshot: Path) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    with chromium() as driver:
        driver.get(setup_link)  # the token sets this browser's cookie, then /setup
        assert "Register ghsa-bot" in driver.title
        assert "token=" not in driver.current_url  # the token left the address bar
        driver.find_element(By.ID, "register").click()
        page_wait(driver).until(expected_conditions.presence_of_element_located((By.ID, "done")))
        driver.save_screenshot(str(screenshot))
        return str(driver.find_element(By.ID, "done").text)


def setup_mode_env(bot_env: dict[str, str]) -> dict[str, str]:
    """The test bot's environment without App credentials (so `serve` starts setup mode)."""
    env = {
        key: value
        for key, value in bot_env.items()
        if not key.startswith("GITHUB_") or key in {"GITHUB_API_URL", "GITHUB_WEB_URL"}
    }
    env.update(
        {f"GITHUB_{k}": "" for k in ("APP_ID", "CLIENT_ID", "PRIVATE_KEY", "WEBHOOK_SECRET")}
    )
    return env


def printed_link(log: Path) -> str:
    found = LINK.search(log.read_text())
    assert found, log.read_text()
    return found.group(1)


async def test_register_app_from_manifest_writes_env_and_then_serves(
    fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str], tmp_path: Path
) -> None:
    require_browser()
    fake, _api_url = fake_github
    port = free_port()
    env = setup_mode_env(bot_env)
    env["BOT_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    env_file = Path(env["BOT_ENV_FILE"])
    async with aiohttp.ClientSession() as session:
        setup = BotProcess(env, port, tmp_path / "setup.log")
        await setup.start(session, ready_path="/healthz")  # setup mode has no /readyz
        async with session.post(f"{setup.url}/webhook", data=b"{}") as response:
            assert response.status == 503  # no secret yet: nothing is accepted
        link = printed_link(setup.log)
        assert link.startswith(f"http://127.0.0.1:{port}/setup?token=")  # BOT_PUBLIC_URL
        async with session.get(f"{setup.url}/setup") as response:
            assert response.status == 403  # without the link's token
        screenshot = tmp_path / "setup-done.png"
        text = await asyncio.to_thread(register_in_browser, link, screenshot)
        assert "is registered" in text and screenshot.stat().st_size > 0
        await setup.stop()

    registered = [app for app in fake.apps.values() if app.id != fake.app.id]
    assert len(registered) == 1
    app = registered[0]
    values = parse_env_file(env_file.read_text())
    assert values["GITHUB_APP_ID"] == str(app.id)
    assert values["GITHUB_CLIENT_ID"] == app.client_id
    assert values["GITHUB_CLIENT_SECRET"] == app.client_secret
    assert values["GITHUB_WEBHOOK_SECRET"] == app.webhook_secret
    assert values["GITHUB_PRIVATE_KEY"] == app.private_key
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    # The manifest asked for the permissions and events docs/operating.md lists.
    assert app.permissions == PERMISSIONS
    assert app.events == EVENTS

    # Restarted with the new .env, the bot serves webhooks with the new credentials.
    fake.add_installation("octo-org", ["octo-org/one"])
    served_env = {k: v for k, v in env.items() if not k.startswith("GITHUB_") or k.endswith("_URL")}
    async with aiohttp.ClientSession() as session:
        serving = BotProcess(served_env, free_port(), tmp_path / "serve.log")
        await serving.start(session)
        async with session.get(f"{serving.url}/readyz") as response:
            assert response.status == 200
        assert await serving.stop() == 0


# -- the setup app in-process, driven over HTTP like a browser -------------------------


@dataclass
class SetupUnderTest:
    url: str
    token: str
    app: web.Application
    env_file: Path
    fake: FakeGitHub

    def browser(self) -> aiohttp.ClientSession:
        """A browser: its own cookie jar (IP hosts allowed)."""
        return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def open_link(self, browser: aiohttp.ClientSession) -> None:
        async with browser.get(f"{self.url}/setup", params={"token": self.token}) as page:
            assert page.status == 200 and "Register ghsa-bot" in await page.text()
            assert page.url.path == "/setup" and "token" not in page.url.query

    async def form(self, browser: aiohttp.ClientSession) -> tuple[str, str]:
        """The manifest form's action (with its state) and the manifest."""
        async with browser.get(f"{self.url}/setup") as page:
            assert page.status == 200, await page.text()
            text = await page.text()
        action = re.search(r'<form method="post" action="([^"]+)"', text)
        manifest = re.search(r'name="manifest" value="([^"]+)"', text)
        assert action and manifest, text
        return unescape(action.group(1)), unescape(manifest.group(1))

    async def github_redirect(self, action: str, manifest: str) -> str:
        """Post the manifest to (fake) GitHub as the browser would; the callback URL it gives."""
        async with (
            aiohttp.ClientSession() as github,
            github.post(action, data={"manifest": manifest}, allow_redirects=False) as answer,
        ):
            assert answer.status == 302, await answer.text()
            return answer.headers["Location"]

    def env_snapshot(self) -> tuple[bytes, int] | None:
        if not self.env_file.exists():
            return None
        return self.env_file.read_bytes(), self.env_file.stat().st_mtime_ns


@contextlib.asynccontextmanager
async def setup_app(
    fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> AsyncIterator[SetupUnderTest]:
    fake, api_url = fake_github
    env_file = tmp_path / "setup.env"
    settings = load_settings(
        {"GITHUB_WEB_URL": api_url, "GITHUB_API_URL": api_url, "BOT_ENV_FILE": str(env_file)}
    )
    token = secrets.token_urlsafe(32)
    app = create_setup_app(settings, token)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        yield SetupUnderTest(str(server.make_url("")).rstrip("/"), token, app, env_file, fake)
    finally:
        await server.close()


async def test_setup_page_targets_an_organization(
    fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    async with setup_app(fake_github, tmp_path) as setup, setup.browser() as browser:
        await setup.open_link(browser)
        async with browser.get(f"{setup.url}/setup?org=python") as response:
            page = await response.text()
        _, api_url = fake_github
        assert f'action="{api_url}/organizations/python/settings/apps/new?state=' in page
        async with browser.get(f"{setup.url}/setup?org=<script>") as response:
            assert response.status == 400
        async with browser.get(f"{setup.url}/setup/callback?code=x&state=forged") as response:
            assert response.status == 400  # a state we did not issue


async def test_setup_refuses_requests_without_the_printed_token(
    fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    async with setup_app(fake_github, tmp_path) as setup, setup.browser() as browser:
        for path in ("/setup", "/setup?org=python", "/setup/callback?code=abc&state=x", "/"):
            async with browser.get(f"{setup.url}{path}") as page:
                assert page.status == 403, path
                assert "printed on the console" in await page.text()
                assert SETUP_COOKIE not in page.cookies


async def test_setup_refuses_a_wrong_token_and_the_link_works_once(
    fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    async with setup_app(fake_github, tmp_path) as setup:
        for wrong in ("wrong", setup.token[:-1], setup.token + "x", "é" + setup.token, ""):
            async with setup.browser() as browser:
                async with browser.get(f"{setup.url}/setup", params={"token": wrong}) as page:
                    assert page.status == 403, wrong
                async with browser.get(f"{setup.url}/setup") as page:
                    assert page.status == 403  # and no cookie came with the refusal
        async with setup.browser() as operator:
            await setup.open_link(operator)  # wrong tries did not spend it
        async with (
            setup.browser() as other,
            other.get(f"{setup.url}/setup", params={"token": setup.token}) as page,
        ):
            assert page.status == 403  # spent: a second browser cannot use it


async def test_the_callback_needs_the_browser_cookie_and_a_state_given_to_that_browser(
    fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    async with setup_app(fake_github, tmp_path) as setup, setup.browser() as operator:
        await setup.open_link(operator)
        action, manifest = await setup.form(operator)
        callback = await setup.github_redirect(action, manifest)
        assert "/setup/callback?" in callback
        query = urlsplit(callback).query
        path = f"{setup.url}/setup/callback?{query}"
        # Another browser: no cookie at all, a forged one, and a valid one for another browser.
        async with aiohttp.ClientSession() as stranger, stranger.get(path) as page:
            assert page.status == 403
        forged = f"{'A' * 24}.{'0' * 64}"
        async with aiohttp.ClientSession() as stranger:
            cookie = {"Cookie": f"{SETUP_COOKIE}={forged}"}
            async with stranger.get(path, headers=cookie) as page:
                assert page.status == 403
            other_browser = setup.app[SETUP].browser_cookie(secrets.token_urlsafe(18))
            cookie = {"Cookie": f"{SETUP_COOKIE}={other_browser}"}
            async with stranger.get(path, headers=cookie) as page:
                assert page.status == 400  # the state was given to the operator's browser
        assert setup.env_snapshot() is None
        code = parse_qs(query)["code"][0]
        assert code in setup.fake.manifest_codes  # nobody converted the code
        async with operator.get(path) as page:  # the browser that started it finishes it
            assert page.status == 200 and "is registered" in await page.text()
        assert parse_env_file(setup.env_file.read_text())["GITHUB_APP_ID"]


async def test_a_second_callback_after_registration_is_refused_and_env_is_unchanged(
    fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    async with setup_app(fake_github, tmp_path) as setup, setup.browser() as operator:
        await setup.open_link(operator)
        action, manifest = await setup.form(operator)
        second_action, second_manifest = await setup.form(operator)  # a second state
        first = urlsplit(await setup.github_redirect(action, manifest)).query
        async with operator.get(f"{setup.url}/setup/callback?{first}") as page:
            assert page.status == 200
        written = setup.env_snapshot()
        assert written is not None
        await asyncio.sleep(0.05)  # a rewrite would change the mtime
        second = urlsplit(await setup.github_redirect(second_action, second_manifest)).query
        async with operator.get(f"{setup.url}/setup/callback?{second}") as page:
            assert page.status == 409 and "already registered" in await page.text()
        async with operator.get(f"{setup.url}/setup/callback?{first}") as page:
            assert page.status == 409  # replaying the first one too
        assert setup.env_snapshot() == written  # bytes and mtime
        assert parse_qs(second)["code"][0] in setup.fake.manifest_codes  # never converted


async def test_env_holding_app_credentials_is_never_rewritten_by_the_web(
    fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    async with setup_app(fake_github, tmp_path) as setup, setup.browser() as operator:
        await setup.open_link(operator)
        action, manifest = await setup.form(operator)
        query = urlsplit(await setup.github_redirect(action, manifest)).query
        setup.env_file.write_text('DATABASE_URL="sqlite:///x"\nGITHUB_CLIENT_ID="Iv1.kept"\n')
        before = setup.env_snapshot()
        await asyncio.sleep(0.05)
        async with operator.get(f"{setup.url}/setup/callback?{query}") as page:
            assert page.status == 409
            assert "GITHUB_CLIENT_ID" in await page.text()
        assert setup.env_snapshot() == before
        assert parse_qs(query)["code"][0] in setup.fake.manifest_codes


def listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as /proc/net/tcp* writes them) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                address, _, local_port = fields[1].partition(":")
                if int(local_port, 16) == port and fields[3] == "0A":  # LISTEN
                    found.add(address)
    return found


async def test_setup_mode_listens_on_loopback_unless_bot_host_is_set(
    fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str], tmp_path: Path
) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/net/tcp and uses 127.0.0.2 (Linux)")
    env = setup_mode_env(bot_env)
    del env["BOT_HOST"]
    port = free_port()
    async with aiohttp.ClientSession() as session:
        setup = BotProcess(env, port, tmp_path / "setup.log")
        await setup.start(session, ready_path="/healthz")
        assert printed_link(setup.log).startswith(f"http://127.0.0.1:{port}/setup?token=")
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only
        with pytest.raises(OSError), socket.create_connection(("127.0.0.2", port), timeout=2):
            pass  # another address of this host: nobody listens there
        await setup.stop()


async def test_a_broken_configuration_stops_setup_mode_with_exit_2(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    env = setup_mode_env(bot_env)
    (Path(env["BOT_CONFIG"]) / "bot.toml").write_text("[team\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        env={**os.environ, **env, "PORT": str(free_port())},
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _out, err = await asyncio.wait_for(process.communicate(), 20)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail("setup mode started despite the broken bot.toml")
    assert process.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "bot.toml: not valid TOML" in lines[0], lines
    assert lines[0].startswith("ghsa-bot: ")
