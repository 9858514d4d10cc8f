"""Property tests: arbitrary input gives a clear error, never a crash."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands.parser import find_commands
from bot.config import ConfigError, load_config, parse_config
from bot.intake import IntakeError, parse_delivery, signature_for
from bot.service import attach, open_services
from bot.settings import load_settings
from bot.team_formats import FormatError, parse_codeowners, parse_experts_rst, parse_psrt_csv
from bot.web import add_service_routes
from tests.fakegithub.server import generate_private_key
from tests.harness import ROOT

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
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

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
