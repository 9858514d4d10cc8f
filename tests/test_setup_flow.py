"""Setup mode: register the App from a manifest in headless Chromium, against the fake."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import aiohttp

from bot.settings import parse_env_file
from bot.setup_flow import EVENTS, PERMISSIONS
from tests.browser import chromium, page_wait, require_browser
from tests.conftest import free_port
from tests.fakegithub import FakeGitHub
from tests.harness import BotProcess


def register_in_browser(setup_url: str, screenshot: Path) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    with chromium() as driver:
        driver.get(setup_url)
        assert "Register ghsa-bot" in driver.title
        driver.find_element(By.ID, "register").click()
        page_wait(driver).until(expected_conditions.presence_of_element_located((By.ID, "done")))
        driver.save_screenshot(str(screenshot))
        return str(driver.find_element(By.ID, "done").text)


async def test_register_app_from_manifest_writes_env_and_then_serves(
    fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str], tmp_path: Path
) -> None:
    require_browser()
    fake, _api_url = fake_github
    port = free_port()
    env = {
        key: value
        for key, value in bot_env.items()
        if not key.startswith("GITHUB_") or key in {"GITHUB_API_URL", "GITHUB_WEB_URL"}
    }
    env.update(
        {f"GITHUB_{k}": "" for k in ("APP_ID", "CLIENT_ID", "PRIVATE_KEY", "WEBHOOK_SECRET")}
    )
    env["BOT_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    env_file = Path(env["BOT_ENV_FILE"])
    async with aiohttp.ClientSession() as session:
        setup = BotProcess(env, port, tmp_path / "setup.log")
        await setup.start(session, ready_path="/healthz")  # setup mode has no /readyz
        async with session.post(f"{setup.url}/webhook", data=b"{}") as response:
            assert response.status == 503  # no secret yet: nothing is accepted
        screenshot = tmp_path / "setup-done.png"
        text = await asyncio.to_thread(register_in_browser, f"{setup.url}/setup", screenshot)
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
    # The manifest asked for the permissions and events the README lists.
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


async def test_setup_page_targets_an_organization(
    fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    from aiohttp.test_utils import TestServer

    from bot.settings import load_settings
    from bot.setup_flow import create_setup_app

    _fake, api_url = fake_github
    settings = load_settings(
        {
            "GITHUB_WEB_URL": api_url,
            "GITHUB_API_URL": api_url,
            "BOT_ENV_FILE": bot_env["BOT_ENV_FILE"],
        }
    )
    server = TestServer(create_setup_app(settings), host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(server.make_url("/setup?org=python")) as response:
                page = await response.text()
            assert f'action="{api_url}/organizations/python/settings/apps/new?state=' in page
            async with session.get(server.make_url("/setup?org=<script>")) as response:
                assert response.status == 400
            async with session.get(
                server.make_url("/setup/callback?code=x&state=forged")
            ) as response:
                assert response.status == 400  # a state we did not issue
    finally:
        await server.close()
