"""The web surface: security headers, server-side sessions, sign-in's public URL, metrics
access, impossible ids and malformed cookies, and the bound on waiting for the store."""

from __future__ import annotations

import asyncio
import secrets
import socket
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, make_mocked_request

from bot.app import SERVICES
from bot.core.settings import load_settings
from bot.web.routes import add_service_routes, metrics_refusal
from bot.web.sessions import WebSessions
from bot.web.setup import SETUP_COOKIE, create_setup_app
from bot.web.signin import SESSION_COOKIE, STATE_COOKIE
from tests.conftest import free_port
from tests.databases import only_on
from tests.fakegithub import FakeGitHub
from tests.governance_helpers import GOVERNANCE, signed_in
from tests.harness import BotUnderTest, SteppedClock, raw_request, start_with_team

POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
DAY = 86400.0


# -- helpers ------------------------------------------------------------------------


async def request(
    base_url: str,
    method: str,
    target: str,
    headers: Sequence[tuple[str, str | bytes]] = (),
    body: bytes = b"",
) -> tuple[int, Mapping[str, str], bytes]:
    return await asyncio.to_thread(raw_request, base_url, method, target, headers, body)


async def member_bot(
    start_bot: Any, fake: FakeGitHub, **overrides: str
) -> tuple[BotUnderTest, str]:
    """The bot with sign-in configured and the team read; a member's login."""
    overrides.setdefault("GITHUB_CLIENT_SECRET", fake.app.client_secret)
    bot = await start_with_team(start_bot, fake, SteppedClock(), **overrides)
    roster = bot.services.team_data.roster()
    return bot, roster[0].login


async def open_nomination(bot: BotUnderTest) -> int:
    now = bot.services.clock.now()
    nomination, _ = await bot.services.governance.open_nomination(
        repository=GOVERNANCE,
        issue_number=1,
        nominee="octo-newcomer",
        nominator="warsaw",
        reason="reviews every ssl change",
        mode="ballot",
        source_comment=secrets.randbelow(10**9) + 1,
        opened_at=now,
        closes_at=now + 7 * DAY,
    )
    return nomination.id


def session_cookie(session: aiohttp.ClientSession) -> str:
    return next(c.value for c in session.cookie_jar if c.key == SESSION_COOKIE)


def assert_hardened(headers: Mapping[str, str], what: str, *, no_store: bool = True) -> None:
    assert headers.get("Content-Security-Policy") == POLICY, what
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("Referrer-Policy") == "no-referrer", what
    if no_store:
        assert headers.get("Cache-Control") == "no-store", what


# -- 2. every page is hardened -------------------------------------------------------


async def test_every_page_of_the_service_carries_the_security_headers(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    bot, member = await member_bot(start_bot, fake)
    number = await open_nomination(bot)
    async with aiohttp.ClientSession() as anonymous:
        for path in ("/credits", "/team", "/healthz", "/metrics", "/nope", "/vote/abc"):
            async with anonymous.get(f"{bot.url}{path}", allow_redirects=False) as page:
                assert_hardened(page.headers, path, no_store=path != "/credits")
        for path in (f"/vote/{number}", "/auth/login", "/auth/callback", "/auth/logout"):
            async with anonymous.get(f"{bot.url}{path}", allow_redirects=False) as page:
                assert page.status in {302, 400}, path
                assert_hardened(page.headers, path)
        async with anonymous.post(f"{bot.url}/webhook", data=b"{}") as answer:
            assert_hardened(answer.headers, "/webhook")
    async with await signed_in(bot.url, fake, member) as browser:
        async with browser.get(f"{bot.url}/vote/{number}") as page:
            assert page.status == 200 and "Nomination" in await page.text()
            assert_hardened(page.headers, "the ballot")
        async with browser.post(
            f"{bot.url}/vote/{number}", data={"choice": "yes", "token": "0" * 64}
        ) as refused:
            assert refused.status == 400
            assert_hardened(refused.headers, "a refused ballot")


async def test_every_page_of_setup_mode_carries_the_security_headers(
    fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    _, api_url = fake_github
    settings = load_settings(
        {"GITHUB_WEB_URL": api_url, "GITHUB_API_URL": api_url, "BOT_ENV_FILE": str(tmp_path / "e")}
    )
    token = secrets.token_urlsafe(32)
    server = TestServer(create_setup_app(settings, token), host="127.0.0.1", port=free_port())
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            for path in ("/setup", "/setup/callback", "/", "/nope", "/healthz"):
                async with browser.get(f"{url}{path}", allow_redirects=False) as page:
                    assert_hardened(page.headers, path)
            async with browser.get(f"{url}/setup", params={"token": token}) as page:
                assert page.status == 200 and 'id="register"' in await page.text()
                # Its form posts the manifest to GitHub: that one target is added.
                assert page.headers["Content-Security-Policy"] == f"{POLICY} {api_url}"
                assert page.headers["Referrer-Policy"] == "no-referrer"
                assert page.headers["Cache-Control"] == "no-store"
            async with browser.get(f"{url}/setup/callback?code=abc&state=x") as page:
                assert page.status == 400
                assert_hardened(page.headers, "callback")
    finally:
        await server.close()


async def test_logout_revokes_the_session_so_a_copied_cookie_stops_working(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    bot, member = await member_bot(start_bot, fake)
    number = await open_nomination(bot)
    async with await signed_in(bot.url, fake, member) as browser:
        copied = session_cookie(browser)
        async with browser.get(f"{bot.url}/auth/logout", allow_redirects=False) as answer:
            assert answer.status == 302
    headers = [("Cookie", f"{SESSION_COOKIE}={copied}")]
    status, answer_headers, _ = await request(bot.url, "GET", f"/vote/{number}", headers)
    assert status == 302 and answer_headers["Location"].startswith("/auth/login")
    rows = await bot.services.store.database.run(
        lambda c: c.execute("SELECT COUNT(*) FROM web_sessions").fetchone()
    )
    assert rows[0] == 0


async def test_sessions_live_in_the_store_hashed_and_expired_ones_are_pruned(
    bot: BotUnderTest,
) -> None:
    sessions = WebSessions(bot.services.store.database)
    now = time.time()
    old = await sessions.create("warsaw", now=now - 10 * 3600, seconds=8 * 3600)
    assert await sessions.login_of(old, now=now) is None  # expired
    live = await sessions.create("gpshead", now=now, seconds=8 * 3600)
    assert await sessions.login_of(live, now=now) == "gpshead"
    rows = await bot.services.store.database.run(
        lambda c: c.execute("SELECT session_id, login FROM web_sessions").fetchall()
    )
    assert [login for _, login in rows] == ["gpshead"]  # the expired one was pruned
    assert rows[0][0] != live  # only a digest of the id is stored
    await sessions.revoke(live)
    assert await sessions.login_of(live, now=now) is None


async def test_sign_in_requires_bot_public_url_and_never_follows_the_host_header(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    bot, _member = await member_bot(start_bot, fake, BOT_PUBLIC_URL="")
    for path in ("/auth/login", "/auth/callback?code=a&state=b", "/vote/1"):
        status, _, body = await request(bot.url, "GET", path, [("Host", "evil.example")])
        assert status == 503, path
        assert b"BOT_PUBLIC_URL" in body and b"evil.example" not in body
    from bot.app import close_services

    await close_services(bot.services)  # one leader at a time on one database
    configured, _ = await member_bot(start_bot, fake)
    status, headers, _ = await request(
        configured.url, "GET", "/auth/login", [("Host", "evil.example")]
    )
    assert status == 302
    redirect = parse_qs(urlsplit(headers["Location"]).query)["redirect_uri"][0]
    assert redirect == f"{configured.url}/auth/callback"  # BOT_PUBLIC_URL, not the Host


async def test_cookies_are_secure_when_the_public_url_is_https(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    bot, member = await member_bot(start_bot, fake, BOT_PUBLIC_URL="https://bot.example")
    async with aiohttp.ClientSession() as browser:
        async with browser.get(f"{bot.url}/auth/login", allow_redirects=False) as login:
            assert login.status == 302
            state_cookie = login.cookies[STATE_COOKIE]
            assert state_cookie["secure"] and state_cookie["httponly"]
            authorize = login.headers["Location"]
        fake.web_user = member
        async with browser.get(authorize, allow_redirects=False) as github:
            back = urlsplit(github.headers["Location"])
        assert back.netloc == "bot.example"  # GitHub sends the browser to BOT_PUBLIC_URL
        async with browser.get(
            f"{bot.url}/auth/callback?{back.query}",
            headers={"Cookie": f"{STATE_COOKIE}={state_cookie.value}"},
            allow_redirects=False,
        ) as callback:
            assert callback.status == 302, await callback.text()
            session = callback.cookies[SESSION_COOKIE]
            assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"


# -- 3. metrics ------------------------------------------------------------------------


async def test_metrics_without_a_token_answer_loopback_clients_without_forwarding_headers(
    bot: BotUnderTest,
) -> None:
    status, _, body = await request(bot.url, "GET", "/metrics")
    assert status == 200 and b"ghsa_bot_" in body
    for header, value in (
        ("X-Forwarded-For", "203.0.113.9"),
        ("Forwarded", "for=203.0.113.9"),
        ("X-Real-IP", "203.0.113.9"),
        ("x-forwarded-for", "127.0.0.1"),  # whatever it claims
    ):
        status, _, body = await request(bot.url, "GET", "/metrics", [(header, value)])
        assert status == 403, header
        assert b"ghsa_bot" not in body


def _peer_request(peer: tuple[str, int], headers: Mapping[str, str] | None = None) -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        peer if name == "peername" else default
    )
    return make_mocked_request("GET", "/metrics", headers=headers or {}, transport=transport)


def test_metrics_refuse_a_peer_that_is_not_loopback() -> None:
    assert metrics_refusal(_peer_request(("127.0.0.1", 5000)), None) is None
    assert metrics_refusal(_peer_request(("::1", 5000)), None) is None
    assert metrics_refusal(_peer_request(("::ffff:127.0.0.1", 5000)), None) is None
    for peer in ("192.0.2.9", "10.0.0.1", "::ffff:192.0.2.9", "2001:db8::1"):
        refused = metrics_refusal(_peer_request((peer, 5000)), None)
        assert refused is not None and refused.status == 403, peer


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


async def test_metrics_refuse_a_client_on_a_non_loopback_address(bot: BotUnderTest) -> None:
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this host has no non-loopback IPv4 address")
    app = web.Application()  # the same services, listening on every interface
    add_service_routes(app)
    app[SERVICES] = bot.services
    server = TestServer(app, host="0.0.0.0", port=free_port())
    await server.start_server()
    try:
        status, _, body = await request(f"http://{address}:{server.port}", "GET", "/metrics")
        assert status == 403 and b"ghsa_bot" not in body
        status, _, _ = await request(f"http://127.0.0.1:{server.port}", "GET", "/metrics")
        assert status == 200
    finally:
        await server.close()


async def test_metrics_with_a_token_need_the_bearer_token_from_everyone(start_bot: Any) -> None:
    bot: BotUnderTest = await start_bot(BOT_METRICS_TOKEN="s3cret-metrics")
    for headers in (
        [],
        [("Authorization", "Bearer wrong")],
        [("Authorization", "Basic s3cret-metrics")],
        [("Authorization", "Bearer s3cret-metrics-and-more")],
        [("Authorization", "Bearer s3cret-métrics".encode())],
    ):
        status, answer, body = await request(bot.url, "GET", "/metrics", headers)
        assert status == 401, headers
        assert answer["WWW-Authenticate"].startswith("Bearer")
        assert b"ghsa_bot" not in body
    for extra in ([], [("X-Forwarded-For", "203.0.113.9")]):
        headers = [("Authorization", "Bearer s3cret-metrics"), *extra]
        status, _, body = await request(bot.url, "GET", "/metrics", headers)
        assert status == 200 and b"ghsa_bot_" in body


# -- 4. impossible ids and malformed input ------------------------------------------------


async def test_nomination_numbers_that_cannot_exist_are_404_signed_in_or_not(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    bot, member = await member_bot(start_bot, fake)
    impossible = ("99999999999999999999999", "9223372036854775808", "-1", "0", "abc", "1.5")
    async with aiohttp.ClientSession() as anonymous:
        for number in impossible:
            async with anonymous.get(f"{bot.url}/vote/{number}", allow_redirects=False) as page:
                assert page.status == 404, number
    async with await signed_in(bot.url, fake, member) as browser:
        for number in (*impossible, "9223372036854775807"):
            for method in ("GET", "POST"):
                async with browser.request(
                    method, f"{bot.url}/vote/{number}", data={"choice": "yes"}
                ) as page:
                    assert page.status == 404, (method, number)


async def test_malformed_cookies_states_codes_and_form_tokens_are_400(
    start_bot: Any, fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    fake, api_url = fake_github
    bot, member = await member_bot(start_bot, fake)
    number = await open_nomination(bot)
    non_ascii = "é€".encode()
    for name in (SESSION_COOKIE, STATE_COOKIE):
        for value in (non_ascii, b"abc.\xff" + b"0" * 63, "x." + "é" * 64, b"no-dot"):
            cookie = name.encode() + b"=" + (value if isinstance(value, bytes) else value.encode())
            path = f"/vote/{number}" if name == SESSION_COOKIE else "/auth/callback?state=s&code=c"
            status, _, body = await request(bot.url, "GET", path, [("Cookie", cookie)])
            assert status == 400, (name, value)
            assert b"<html" in body
    # A valid state cookie with a non-ASCII or wrong state, or a malformed code.
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(f"{bot.url}/auth/login", allow_redirects=False) as login,
    ):
        state_cookie = login.cookies[STATE_COOKIE].value
        state = parse_qs(urlsplit(login.headers["Location"]).query)["state"][0]
    cookie = ("Cookie", f"{STATE_COOKIE}={state_cookie}")
    for query in (
        "state=%C3%A9%E2%82%AC&code=abc",
        "state=%FF%FE&code=abc",
        f"state={state}x&code=abc",
        f"state={state}&code=%C3%A9",
        f"state={state}&code=" + "a" * 5000,
        f"state={state}&code=a%20b",
    ):
        status, _, _ = await request(bot.url, "GET", f"/auth/callback?{query}", [cookie])
        assert status == 400, query
    # A code GitHub refuses is the sender's fault too: 400, not 502.
    status, _, body = await request(
        bot.url, "GET", f"/auth/callback?state={state}&code=not-a-real-code", [cookie]
    )
    assert status == 400 and b"GitHub refused" in body
    # Form tokens that are not ASCII, or not a string at all.
    async with await signed_in(bot.url, fake, member) as browser:
        session = ("Cookie", f"{SESSION_COOKIE}={session_cookie(browser)}")
        for form in (
            b"choice=yes&token=%C3%A9%E2%82%AC",
            b"choice=yes&token=\xff\xfe",
            b"choice=%FF&token=",
        ):
            status, _, _ = await request(
                bot.url,
                "POST",
                f"/vote/{number}",
                [session, ("Content-Type", "application/x-www-form-urlencoded")],
                form,
            )
            assert status == 400, form
        multipart = (
            b"--b\r\nContent-Disposition: form-data; name=token; filename=t\r\n\r\nxx\r\n--b--\r\n"
        )
        for content_type, body in (
            ("multipart/form-data; boundary=b", multipart),
            ("multipart/form-data", b"garbage"),
            ("multipart/form-data; boundary=b", b"--b\r\ngarbage"),
        ):
            status, _, _ = await request(
                bot.url, "POST", f"/vote/{number}", [session, ("Content-Type", content_type)], body
            )
            assert status == 400, (content_type, body)
    # Setup mode's cookie.
    settings = load_settings({"GITHUB_WEB_URL": api_url, "BOT_ENV_FILE": str(tmp_path / "e")})
    server = TestServer(create_setup_app(settings, "t" * 43), host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        setup_url = str(server.make_url("")).rstrip("/")
        for value in (non_ascii, b"short", b"A" * 24 + b"." + b"\xff" * 64):
            for path in ("/setup", "/setup/callback?code=a&state=b"):
                cookie_header = ("Cookie", SETUP_COOKIE.encode() + b"=" + value)
                status, _, _ = await request(setup_url, "GET", path, [cookie_header])
                assert status == 400, (path, value)
        status, _, _ = await request(setup_url, "GET", "/setup?token=%FF%C3%A9")
        assert status == 403
    finally:
        await server.close()


# -- 5. the store's answer is waited for 2 s at most ----------------------------------------


@only_on("sqlite")  # holds SQLite's write lock from another connection; PostgreSQL has none
async def test_a_store_that_does_not_answer_gets_503_within_the_bound(
    start_bot: Any, database_url: str
) -> None:
    # Stored directly: the intake journal (the default) acknowledges without the
    # database's lock (tests/queue/test_intake_journal.py).
    bot: BotUnderTest = await start_bot(BOT_INTAKE_JOURNAL="off")
    path = database_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    payload = bot.payload("installation_repositories/added.payload.json")
    await bot.settle()
    try:
        await asyncio.to_thread(holder.execute, "BEGIN EXCLUSIVE")
        started = time.monotonic()
        sent = await bot.send("installation_repositories", payload)
        took = time.monotonic() - started
        assert sent.status == 503, sent.body
        assert "store unavailable; redeliver later" in sent.body
        assert took < 2.5, f"answered after {took:.1f} s"
        started = time.monotonic()
        async with bot.session.get(f"{bot.url}/healthz") as health:
            assert health.status == 200  # never waits for the store
        assert time.monotonic() - started < 0.5
        started = time.monotonic()
        async with bot.session.get(f"{bot.url}/readyz") as ready:
            assert ready.status in (200, 503)  # readers go on in WAL mode; never a hang
        assert time.monotonic() - started < 2.5
    finally:
        await asyncio.to_thread(holder.execute, "ROLLBACK")
        holder.close()
