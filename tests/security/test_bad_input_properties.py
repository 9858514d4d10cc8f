"""Property tests: arbitrary input gives a clear error, never a crash."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import threading
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.app import attach, open_services
from bot.commands.parser import find_commands
from bot.core.config import ConfigError, load_config, parse_config
from bot.core.settings import load_settings
from bot.queue.intake import IntakeError, parse_delivery, signature_for
from bot.team.formats import FormatError, parse_codeowners, parse_experts_rst, parse_psrt_csv
from bot.web.routes import add_service_routes
from tests.fakegithub.server import generate_private_key
from tests.harness import ROOT, raw_request

header_values = st.one_of(st.none(), st.text(max_size=300))


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=2000),
    event=header_values,
    guid=header_values,
    content_type=header_values,
    sign=st.booleans(),
)
def test_intake_refuses_with_a_status_or_accepts(
    body: bytes, event: str | None, guid: str | None, content_type: str | None, sign: bool
) -> None:
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": guid, "Content-Type": content_type}
    if sign:
        headers["X-Hub-Signature-256"] = signature_for(body, b"s")
    clean = {k: v for k, v in headers.items() if v is not None}
    try:
        delivery = parse_delivery(clean, body, [b"s"], received_at=0.0)
    except IntakeError as error:
        assert error.status in {400, 401, 415}
        assert error.reason
    else:
        assert sign and isinstance(delivery.payload, dict)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=500))
def test_config_parser_gives_config_errors_only(text: str) -> None:
    try:
        parse_config(text, Path("config/bot.toml"))
    except ConfigError as error:
        assert str(error).startswith("config/bot.toml")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=800))
def test_team_file_readers_give_format_errors_only(text: str) -> None:
    for reader in (parse_psrt_csv, parse_experts_rst, parse_codeowners):
        try:
            reader(text)
        except FormatError as error:
            assert error.line >= 1


# -- the command parser ---------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=80),
            st.sampled_from(["/accept", "> /reject", "```", "    /cve", "<!--", "-->", "/"]),
            st.from_regex(r"/[a-z]{1,8}( @?[a-z-]{1,10}){0,3}", fullmatch=True),
        ),
        max_size=30,
    )
)
def test_the_command_parser_finds_commands_or_nothing(lines: list[str]) -> None:
    body = "\n".join(lines)
    found = find_commands(body)
    for position, command in enumerate(found):
        assert command.position == position
        assert command.verb == command.verb.lower() and command.verb[0].isalpha()
        assert command.text.lstrip().startswith("/")


# -- the configuration loader on random TOML ------------------------------------------

_SHIPPED = tomllib.loads((ROOT / "config" / "bot.toml").read_text())
_SHIPPED_KEYS = [
    (section, key)
    for section, table in _SHIPPED.items()
    if isinstance(table, dict)
    for key in table
]
_scalars = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40),
    st.booleans(),
    st.text(max_size=20),
    st.lists(st.text(max_size=8), max_size=3),
)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    return str(value)


@settings(max_examples=200, deadline=None)
@given(
    changes=st.lists(
        st.tuples(
            st.one_of(
                st.sampled_from(_SHIPPED_KEYS),
                st.tuples(st.text("abcxyz_", min_size=1, max_size=6), st.just("unknown")),
            ),
            _scalars,
        ),
        min_size=1,
        max_size=4,
    )
)
@example(changes=[(("coordinators", "roster_file"), "\x00")])  # found by hypothesis: a NUL byte
def test_random_toml_gives_a_config_error_naming_file_and_key(
    changes: list[tuple[tuple[str, str], object]],
) -> None:
    tables: dict[str, dict[str, object]] = {
        section: dict(table) for section, table in _SHIPPED.items() if isinstance(table, dict)
    }
    for (section, key), value in changes:
        tables.setdefault(section, {})[key] = value
    text = "\n".join(
        f"[{json.dumps(section)}]\n"
        + "\n".join(
            f"{json.dumps(key)} = {_toml(value)}"
            for key, value in table.items()
            if not isinstance(value, dict)
        )
        for section, table in tables.items()
    )
    try:
        parse_config(text, ROOT / "config" / "bot.toml")
    except ConfigError as error:
        message = str(error)
        assert message.startswith(str(ROOT / "config" / "bot.toml"))
        assert "Traceback" not in message


# -- the webhook endpoint, over HTTP ---------------------------------------------------


class _RunningBot:
    """The bot's web app (intake only: no worker, no background jobs) on its own loop."""

    def __init__(self, directory: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        env = {
            "GITHUB_APP_ID": "1",
            "GITHUB_PRIVATE_KEY": generate_private_key(),
            "GITHUB_WEBHOOK_SECRET": "s",
            "DATABASE_URL": f"sqlite:///{directory}/bot.sqlite3",
            "BOT_CONFIG": str(ROOT / "config"),
            "BOT_ENV_FILE": str(directory / ".env"),
            "BOT_MAX_BODY_BYTES": "4096",
        }
        self.port = asyncio.run_coroutine_threadsafe(self._start(env), self.loop).result(30)

    async def _start(self, env: dict[str, str]) -> int:
        settings_ = load_settings(env)
        services = await open_services(
            settings_, load_config(settings_.config_dir), start_worker=False, start_background=False
        )
        app = web.Application(client_max_size=settings_.max_body_bytes + 1)
        add_service_routes(app)
        attach(app, services)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def running_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_RunningBot]:
    bot = _RunningBot(tmp_path_factory.mktemp("http-properties"))
    yield bot
    bot.close()


_header_text = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=255, blacklist_characters="\x7f"),
    max_size=60,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=6000),
        st.builds(lambda v: json.dumps(v).encode(), st.dictionaries(st.text(max_size=5), _scalars)),
        st.builds(lambda t: t.encode("utf-16"), st.text(max_size=50)),
    ),
    event=st.one_of(
        st.none(), st.sampled_from(["ping", "installation", "pull_request"]), _header_text
    ),
    guid=st.one_of(st.none(), st.uuids().map(str), _header_text),
    content_type=st.one_of(
        st.none(),
        st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain"]),
        _header_text,
    ),
    sign=st.booleans(),
)
def test_the_webhook_endpoint_never_answers_5xx(
    running_bot: _RunningBot,
    body: bytes,
    event: str | None,
    guid: str | None,
    content_type: str | None,
    sign: bool,
) -> None:
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": guid, "Content-Type": content_type}
    if sign:
        headers["X-Hub-Signature-256"] = signature_for(body, b"s")
    connection = http.client.HTTPConnection("127.0.0.1", running_bot.port, timeout=10)
    try:
        connection.putrequest("POST", "/webhook", skip_accept_encoding=True)
        for name, value in headers.items():
            if value is not None:
                connection.putheader(name, value.encode("latin-1"))
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        status, answer = response.status, response.read()
    finally:
        connection.close()
    assert status in {200, 202, 204, 400, 401, 413, 415}, (status, answer[:200])
    if status >= 400:
        assert json.loads(answer)["error"]


# -- every route of the service app and of the setup app, over HTTP ---------------------

# Mostly methods routes have; a few others (405) and one the HTTP parser refuses (400).
_METHODS = st.one_of(
    st.sampled_from(["GET", "POST"]),
    st.sampled_from(["HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"]),
)
_KNOWN_COOKIES = ["ghsa_bot_session", "ghsa_bot_oauth", "ghsa_bot_setup"]
_QUERY_KEYS = ["token", "state", "code", "next", "org", "saved", "error"]
_text = st.text(max_size=40)
_garbage_percent = st.sampled_from(["%", "%zz", "%ff%fe", "%C3%28", "%00", "%E2%82"])
_DEEP = {"/vote/1", "/auth/callback", "/auth/logout", "/setup", "/setup/callback", "/webhook"}
_OTHER_HEADERS = [
    "Authorization",
    "X-Forwarded-For",
    "Forwarded",
    "X-Real-IP",
    "X-GitHub-Event",
    "X-GitHub-Delivery",
    "X-Hub-Signature-256",
    "Accept",
    "Origin",
    "Referer",
    "Range",
    "If-None-Match",
    "Host",
]


def _paths(templates: list[str]) -> st.SearchStrategy[str]:
    """A path of the route table with its {variables} replaced, sometimes with extra bits."""
    segment = st.one_of(
        st.just("1"),  # the nomination that exists
        st.just("1"),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.sampled_from(["1", "0", "-1", "99999999999999999999999", "9223372036854775808"]),
        _text.map(lambda t: quote(t, safe="")),
        _garbage_percent,
    )

    @st.composite
    def build(draw: st.DrawFn) -> str:
        template = draw(st.sampled_from(templates))
        path = re.sub(r"\{[^}]+\}", lambda _: draw(segment) or "x", template)
        suffix = draw(st.sampled_from(["", "", "", "", "/", "/x", "//", "/..", "%2F"]))
        return path + suffix

    # Half of them exactly a route (its variables "1"), half anything like one.
    exact = [re.sub(r"\{[^}]+\}", "1", template) for template in templates]
    exact += [path for path in exact if path in _DEEP] * 2  # the routes that read the most
    return st.one_of(st.sampled_from(exact), build())


def _query() -> st.SearchStrategy[str]:
    value = st.one_of(_text.map(lambda t: quote(t, safe="")), _garbage_percent)
    pair = st.tuples(st.one_of(st.sampled_from(_QUERY_KEYS), _text.map(quote)), value)
    return st.lists(pair, max_size=4).map(
        lambda pairs: "?" + "&".join(f"{k}={v}" for k, v in pairs) if pairs else ""
    )


def _header_value() -> st.SearchStrategy[bytes]:
    """Header bytes the HTTP parser lets through: Latin-1 text, or UTF-8 (no controls)."""
    printable = st.characters(blacklist_categories=["Cc", "Cs"])
    return st.one_of(
        _header_text.map(lambda t: t.encode("latin-1")),
        st.text(printable, max_size=20).map(str.encode),
    )


def _fuzz_requests(templates: list[str], valid: dict[str, list[str]]) -> st.SearchStrategy[Any]:
    """(method, path, query, headers, body); `valid` adds real cookies, states and tokens."""
    cookie_value = st.one_of(
        _header_value(),
        st.sampled_from(valid["cookie"] or ["x=x"]).map(lambda c: c.partition("=")[2].encode()),
    )
    random_cookies = st.lists(
        st.tuples(st.sampled_from([*_KNOWN_COOKIES, "other"]), cookie_value), max_size=3
    ).map(lambda pairs: b"; ".join(name.encode() + b"=" + value for name, value in pairs))
    real_cookies = "; ".join(valid["cookie"]).encode()  # the signed-in browser's own

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        """A real cookie with a byte replaced, cut short, or something added."""
        name, _, value = draw(st.sampled_from(valid["cookie"] or ["x=x"])).partition("=")
        raw = value.encode()
        at = draw(st.integers(min_value=0, max_value=len(raw)))
        change = draw(st.sampled_from(["replace", "cut", "add"]))
        extra = draw(_header_value())
        if change == "replace":
            raw = raw[:at] + extra[:1] + raw[at + 1 :]
        elif change == "cut":
            raw = raw[:at]
        else:
            raw = raw[:at] + extra + raw[at:]
        return name.encode() + b"=" + raw

    cookies = st.one_of(
        random_cookies,
        st.just(real_cookies),
        random_cookies.map(lambda more: real_cookies + b"; " + more),
        mutated(),
    )
    content_type = st.one_of(
        st.sampled_from(
            [
                b"application/json",
                b"application/x-www-form-urlencoded",
                b"multipart/form-data",
                b"multipart/form-data; boundary=b",
                b"text/plain; charset=utf-16",
            ]
        ),
        _header_value(),
    )
    encoding = st.one_of(
        st.sampled_from([b"gzip", b"deflate", b"br", b"identity"]), _header_value()
    )
    headers = st.fixed_dictionaries(
        {"Cookie": cookies},
        optional={
            "Content-Type": content_type,
            "Content-Encoding": encoding,
            **{name: _header_value() for name in _OTHER_HEADERS},
        },
    ).map(lambda found: sorted(found.items()))
    form = st.builds(
        lambda choice, token: f"choice={choice}&token={token}".encode(),
        st.one_of(st.sampled_from(["yes", "no", "abstain"]), _text.map(quote)),
        st.one_of(st.sampled_from(valid["token"] or ["x"]), _text.map(quote), _garbage_percent),
    )
    body = st.one_of(
        st.just(b""),
        st.binary(max_size=400),
        form,
        st.builds(lambda v: json.dumps(v).encode(), st.dictionaries(st.text(max_size=5), _scalars)),
        st.just(b'{"installation": {"id": ' + b"9" * 5000 + b"}}"),
        st.just(b'{"installation": {"id": 9223372036854775808}}'),
        st.just(b"--b\r\nContent-Disposition: form-data; name=token\r\n\r\nx\r\n--b"),
    )
    query = st.one_of(
        _query(),
        st.sampled_from(valid["query"] or [""]),
        st.builds(lambda q, extra: q + extra, st.sampled_from(valid["query"] or [""]), _query()),
    )
    return st.tuples(_METHODS, _paths(templates), query, headers, body)


def _route_templates(app: web.Application) -> list[str]:
    templates = []
    for resource in app.router.resources():
        info = resource.get_info()
        templates.append(str(info.get("path") or info.get("formatter") or "/"))
    return sorted(set(templates))


def _fuzz(
    base_url: str, templates: list[str], valid: dict[str, list[str]], examples: int
) -> Counter[int]:
    """Send `examples` random requests, each must be answered without a 5xx but 503.

    Signed bodies go with events the bot answers without handling (ping, events it
    does not subscribe to), so nothing reaches the worker. The statuses seen.
    """
    seen: Counter[int] = Counter()
    event = st.one_of(st.sampled_from([b"ping", b"security_advisory", b"star"]), _header_value())

    @settings(max_examples=examples, deadline=None, database=None)
    @given(_fuzz_requests(templates, valid), st.booleans(), event)
    def one(
        case: tuple[str, str, str, list[tuple[str, bytes]], bytes], sign: bool, event: bytes
    ) -> None:
        method, path, query, headers, body = case
        if sign and valid["signature"]:
            signature = signature_for(body, valid["signature"][0].encode()).encode()
            kept = [
                (n, v) for n, v in headers if n not in {"X-Hub-Signature-256", "X-GitHub-Event"}
            ]
            headers = [*kept, ("X-Hub-Signature-256", signature), ("X-GitHub-Event", event)]
        status, _, answer = raw_request(base_url, method, path + query, headers, body)
        seen[status] += 1
        assert status < 500 or status == 503, (
            f"{status} for {method} {path + query} {headers} {body[:80]!r}: {answer[:300]!r}"
        )

    one()
    return seen


async def test_every_route_of_the_service_answers_bad_input_without_a_5xx(
    start_bot: Any, fake_github: tuple[Any, str]
) -> None:
    from tests.governance_helpers import GOVERNANCE, signed_in
    from tests.harness import SteppedClock, start_with_team

    fake, _ = fake_github
    bot = await start_with_team(
        start_bot, fake, SteppedClock(), GITHUB_CLIENT_SECRET=fake.app.client_secret
    )
    member = bot.services.team_data.roster()[0].login
    now = bot.services.clock.now()
    await bot.services.governance.open_nomination(
        repository=GOVERNANCE,
        issue_number=1,
        nominee="octo-newcomer",
        nominator="warsaw",
        reason="r",
        mode="ballot",
        source_comment=1,
        opened_at=now,
        closes_at=now + 7 * 86400,
    )
    valid: dict[str, list[str]] = {
        "cookie": [],
        "token": [],
        "query": [],
        "signature": [bot.secret.decode()],
    }
    async with await signed_in(bot.url, fake, member) as browser:
        valid["cookie"] += [f"{c.key}={c.value}" for c in browser.cookie_jar]
        async with browser.get(f"{bot.url}/vote/1") as page:
            token = re.search(r'name=token value="([0-9a-f]+)"', await page.text())
            assert token
            valid["token"].append(token.group(1))
        async with browser.get(f"{bot.url}/auth/login", allow_redirects=False) as login:
            valid["cookie"] += [f"{c.key}={c.value}" for c in login.cookies.values()]
            state = re.search(r"state=([^&]+)", login.headers["Location"])
            assert state
            valid["query"] += [f"?state={state.group(1)}&code=abc", f"?state={state.group(1)}"]
    app = web.Application()
    add_service_routes(app)
    templates = _route_templates(app)
    assert {"/webhook", "/vote/{nomination}", "/auth/callback", "/metrics"} <= set(templates)
    seen = await asyncio.to_thread(_fuzz, bot.url, templates, valid, 200)
    assert {400, 404, 405} <= set(seen) and len(seen) >= 5  # it reached the routes


async def test_every_route_of_setup_mode_answers_bad_input_without_a_5xx(
    fake_github: tuple[Any, str], tmp_path: Path
) -> None:
    from aiohttp.test_utils import TestServer

    from bot.web.setup import create_setup_app
    from tests.conftest import free_port

    _, api_url = fake_github
    settings_ = load_settings(
        {
            "GITHUB_WEB_URL": api_url,
            "GITHUB_API_URL": api_url,
            "BOT_ENV_FILE": str(tmp_path / ".env"),
        }
    )
    token = "setup-token-for-the-property-test"
    app = create_setup_app(settings_, token)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server(auto_decompress=False)
    url = str(server.make_url("")).rstrip("/")
    valid: dict[str, list[str]] = {"cookie": [], "token": [], "query": [], "signature": []}
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            async with browser.get(f"{url}/setup", params={"token": token}) as page:
                text = await page.text()
            valid["cookie"] += [f"{c.key}={c.value}" for c in browser.cookie_jar]
            state = re.search(r"state=([A-Za-z0-9_-]+)", text)
            assert state
            valid["query"] += [f"?state={state.group(1)}&code=abc", f"?token={token}"]
        templates = _route_templates(app)
        assert {"/setup", "/setup/callback", "/webhook"} <= set(templates)
        seen = await asyncio.to_thread(_fuzz, url, templates, valid, 120)
        assert {404, 405} <= set(seen) and len(seen) >= 4  # it reached the routes
        assert not (tmp_path / ".env").exists()
    finally:
        await server.close()
