"""Every `ghsa-bot` command says what is wrong in one line on stderr and exits 2: missing
App credentials, PostgreSQL unreachable or its database missing, a SQLite path that
cannot be, bad numbers in options, LOG_LEVEL; and `serve --port` logs the port it
listens on, `nominations` says when there are none, `replay` names the formats it takes.
Each runs the real command (`python -m bot`, as `ghsa-bot` does) in a subprocess."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.cli.main import main
from tests.conftest import free_port
from tests.databases import needs_postgres, postgres_base_url
from tests.fakegithub.server import generate_private_key
from tests.harness import ROOT, run_cli

# Whatever the environment running the tests holds, these commands see none of it.
UNSET = {
    name: ""
    for name in (
        "GITHUB_APP_ID",
        "GITHUB_CLIENT_ID",
        "GITHUB_PRIVATE_KEY",
        "GITHUB_PRIVATE_KEY_FILE",
        "GITHUB_WEBHOOK_SECRET",
        "APP_ID",
        "PRIVATE_KEY",
        "PRIVATE_KEY_PATH",
        "WEBHOOK_SECRET",
    )
}
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/test"

Invoke = Callable[..., tuple[int, str, str]]


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Invoke]:
    """`ghsa-bot ARGS` in this process, through `main(argv)` as the console script runs
    it, with `env` added to the environment: (exit code, stdout, stderr). Faster than
    a subprocess; the root logger `main` configures is put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with monkeypatch.context() as patch:
            patch.delenv("LOG_LEVEL", raising=False)
            for name, value in env.items():
                patch.setenv(name, value)
            try:
                code = main(list(args))
            except SystemExit as exit_:  # argparse's errors
                code = int(exit_.code or 0)
            finally:
                root.handlers[:] = handlers
                root.setLevel(level)
        out, err = capsys.readouterr()
        return code, out, err

    yield run


@pytest.fixture
def bare_env(tmp_path: Path) -> dict[str, str]:
    """A configuration, an empty `.env` of its own, a SQLite store: no App credentials."""
    config = tmp_path / "bot-config"
    shutil.copytree(ROOT / "config", config)
    return {
        **UNSET,
        "BOT_CONFIG": str(config),
        "BOT_ENV_FILE": str(tmp_path / ".env"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/var/bot.sqlite3",
        "BOT_HOST": "127.0.0.1",
    }


def one_line(err: str) -> str:
    """The single line a command printed on stderr (no traceback, nothing else)."""
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ghsa-bot: "), err
    return lines[0]


def missing_database_url() -> str:
    """The test server's URL with a database that is not there."""
    base = postgres_base_url()
    assert base is not None, "the PostgreSQL leg sets BOT_TEST_DATABASE_URL"
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/no_such_db_{uuid.uuid4().hex[:8]}", query=""))


# -- missing App credentials -----------------------------------------------------------


@pytest.mark.parametrize("command", [("roster", "check"), ("report", "inactivity")])
def test_commands_that_read_github_say_which_credentials_are_missing(
    invoke: Invoke, bare_env: dict[str, str], command: tuple[str, ...]
) -> None:
    code, out, err = invoke(bare_env, *command)
    assert code == 2 and out == ""
    line = one_line(err)
    assert f"{' '.join(command)} reads GitHub as the App" in line
    assert "GITHUB_APP_ID (or APP_ID)" in line and "PRIVATE_KEY" in line


# -- PostgreSQL unreachable, or its database missing -----------------------------------


@pytest.mark.parametrize("command", [("deliveries",), ("advisories",), ("nominations",)])
def test_an_unreachable_postgresql_is_one_line(
    invoke: Invoke, bare_env: dict[str, str], command: tuple[str, ...]
) -> None:
    code, _, err = invoke({**bare_env, "DATABASE_URL": UNREACHABLE}, *command)
    assert code == 2
    assert one_line(err).startswith("ghsa-bot: store unavailable: database error: ")
    assert "127.0.0.1" in err and "port 1" in err


@needs_postgres()
@pytest.mark.parametrize("command", [("deliveries",), ("advisories",), ("migrate",)])
def test_a_missing_postgresql_database_is_one_line_without_the_password(
    invoke: Invoke, bare_env: dict[str, str], command: tuple[str, ...]
) -> None:
    url = missing_database_url()
    name = urlsplit(url).path.lstrip("/")
    parts = urlsplit(url)
    user, port = parts.username or "postgres", parts.port or 5432
    with_password = f"postgresql://{user}:hunter2-{name}@{parts.hostname}:{port}/{name}"
    code, _, err = invoke({**bare_env, "DATABASE_URL": with_password}, *command)
    assert code == 2
    line = one_line(err)
    assert f'database "{name}" does not exist' in line
    assert "hunter2" not in err


async def test_serve_says_postgresql_is_unreachable_or_missing_in_one_line(
    bot_env: dict[str, str],
) -> None:
    urls = [UNREACHABLE]
    if postgres_base_url() is not None:
        urls.append(missing_database_url())
    for url in urls:
        env = {**bot_env, "DATABASE_URL": url, "PORT": str(free_port())}
        code, _, err = await run_cli(env, "serve")
        assert code == 2, err
        assert one_line(err).startswith("ghsa-bot: store unavailable: database error: "), err


# -- a SQLite path that cannot be --------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("deliveries",),
        ("advisories",),
        ("nominations",),
        ("report", "year", "2025"),
        ("export", "osv", "GHSA-2222-3333-4444"),
        ("migrate",),
        ("check-config",),
    ],
)
def test_a_sqlite_path_under_a_file_is_one_line(
    invoke: Invoke, bare_env: dict[str, str], tmp_path: Path, command: tuple[str, ...]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    env = {**bare_env, "DATABASE_URL": f"sqlite:///{a_file}/bot.sqlite3"}
    code, _, err = invoke(env, *command)
    assert code == 2
    line = one_line(err)
    assert line == (
        f"ghsa-bot: DATABASE_URL: {a_file}/bot.sqlite3 cannot be a database: "
        f"{a_file} is not a folder"
    )
    assert a_file.read_text() == "not a folder"


@pytest.mark.parametrize("command", [("deliveries",), ("advisories",), ("report", "year", "2025")])
def test_commands_that_only_read_never_create_a_database(
    invoke: Invoke, bare_env: dict[str, str], tmp_path: Path, command: tuple[str, ...]
) -> None:
    """A typo in DATABASE_URL (or another working directory) is not an empty store."""
    missing = tmp_path / "nonexistent" / "dir" / "bot.db"
    code, out, err = invoke({**bare_env, "DATABASE_URL": f"sqlite:///{missing}"}, *command)
    assert code == 2 and out == ""
    assert one_line(err) == (
        f"ghsa-bot: DATABASE_URL: no database at {missing}; "
        "`ghsa-bot migrate` (or serve) creates it"
    )
    assert not (tmp_path / "nonexistent").exists()
    code, _, err = invoke(
        {**bare_env, "DATABASE_URL": "sqlite:////nonexistent/dir/bot.db"}, *command
    )
    assert code == 2 and "no database at /nonexistent/dir/bot.db" in one_line(err)


async def test_serve_refuses_a_sqlite_path_under_a_file_in_one_line(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    env = {**bot_env, "DATABASE_URL": f"sqlite:///{a_file}/bot.sqlite3", "PORT": str(free_port())}
    code, _, err = await run_cli(env, "serve")
    assert code == 2
    assert "is not a folder" in one_line(err)  # and no warning about the "folder's" mode


# -- serve: the port it listens on -----------------------------------------------------------


async def read_until(stream: asyncio.StreamReader, text: str, seconds: float = 30) -> str:
    seen = ""
    async with asyncio.timeout(seconds):
        while text not in seen:
            line = await stream.readline()
            if not line:
                break
            seen += line.decode()
    return seen


async def test_serve_port_says_the_port_it_listens_on(bot_env: dict[str, str]) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        "--port",
        str(port),
        env={**os.environ, **bot_env, "PORT": "8000"},
        cwd=str(ROOT),
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stderr is not None
        seen = await read_until(process.stderr, "serving webhooks on")
        assert f"ghsa-bot: serving webhooks on 127.0.0.1:{port}\n" in seen, seen
        assert "8000" not in seen
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # it does listen there
    finally:
        process.terminate()
        await process.wait()


async def test_serve_on_a_port_in_use_is_one_line(bot_env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = await run_cli(bot_env, "serve", "--port", str(port))
        assert code == 2
        line = one_line(err)
        assert line.startswith(f"ghsa-bot: cannot listen on 127.0.0.1:{port}: ")
        assert "serving webhooks" not in err
        # Setup mode (no App credentials) too.
        env = {**bot_env, "GITHUB_APP_ID": "", "GITHUB_CLIENT_ID": "", "GITHUB_PRIVATE_KEY": ""}
        code, _, err = await run_cli(env, "serve", "--port", str(port))
        assert code == 2 and "Traceback" not in err
        assert err.splitlines()[-1].startswith(f"ghsa-bot: cannot listen on 127.0.0.1:{port}: ")


# -- numeric options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("deliveries", "--limit", "-1"), "--limit"),
        (("deliveries", "--limit", "0"), "--limit"),
        (("deliveries", "--limit", "10001"), "--limit"),
        (("deliveries", "--limit", "ten"), "--limit"),
        (("serve", "--port", "0"), "--port"),
        (("serve", "--port", "65536"), "--port"),
        (("serve", "--port", "-80"), "--port"),
        (("nominations", "show", "0"), "id"),
        (("nominations", "show", str(2**63)), "id"),
        (("report", "year", "-5"), "year"),
        (("report", "year", "99999"), "year"),
        (("report", "inactivity", "--since", "2024-13-01"), "--since"),
        (("report", "inactivity", "--since", "9999-01-01"), "--since"),
        (("--log-level", "LOUD", "deliveries"), "--log-level"),
    ],
)
def test_numeric_options_are_checked_by_argparse(
    invoke: Invoke, bare_env: dict[str, str], args: tuple[str, ...], option: str
) -> None:
    code, out, err = invoke(bare_env, *args)
    assert code == 2 and out == ""
    assert "Traceback" not in err
    assert f"error: argument {option}: " in err.splitlines()[-1], err
    assert not (Path(bare_env["DATABASE_URL"].removeprefix("sqlite:///")).exists())


# -- nominations, replay ---------------------------------------------------------------------


def test_nominations_says_there_are_none(invoke: Invoke, bare_env: dict[str, str]) -> None:
    code, _, err = invoke(bare_env, "migrate")
    assert code == 0, err
    code, out, err = invoke(bare_env, "nominations")
    assert code == 0, err
    assert out == "no nominations\n"
    code, _, err = invoke(bare_env, "nominations", "show")
    assert code == 2 and "usage: ghsa-bot nominations show N" in one_line(err)
    code, _, err = invoke(bare_env, "nominations", "show", "7")
    assert code == 2 and one_line(err) == "ghsa-bot: no nomination 7"


FORMATS = (
    "replay takes the JSON of GET /app/hook/deliveries/ID (request.headers and "
    "request.payload), or the delivery as GitHub's delivery log shows it (header lines, "
    "then the JSON body)"
)


@pytest.mark.parametrize("signature_check", [True, False])
def test_replay_of_a_bare_payload_names_the_formats_it_takes(
    invoke: Invoke, bare_env: dict[str, str], tmp_path: Path, signature_check: bool
) -> None:
    bare = tmp_path / "payload.json"
    bare.write_text(json.dumps({"action": "opened", "repository_advisory": {"summary": "x"}}))
    flags = () if signature_check else ("--no-signature-check",)
    env = {**bare_env, "GITHUB_WEBHOOK_SECRET": "s"}
    code, _, err = invoke(env, "replay", *flags, str(bare))
    assert code == 2
    line = one_line(err)
    assert line.startswith(f"ghsa-bot: {bare}: a bare JSON payload, without the delivery's headers")
    assert line.endswith(FORMATS)
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    code, _, err = invoke(env, "replay", *flags, str(listed))
    assert code == 2 and one_line(err).endswith(FORMATS)


# -- LOG_LEVEL ---------------------------------------------------------------------------


def test_log_level_from_the_environment_or_env_file(
    invoke: Invoke, bare_env: dict[str, str], tmp_path: Path
) -> None:
    code, _, err = invoke({**bare_env, "LOG_LEVEL": "chatty"}, "check-config")
    assert code == 2
    assert one_line(err) == (
        "ghsa-bot: LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, not 'chatty'"
    )
    # From `.env` too; the environment wins over it, and --log-level over both.
    Path(bare_env["BOT_ENV_FILE"]).write_text("LOG_LEVEL=debug  # while looking into it\n")
    Path(bare_env["BOT_ENV_FILE"]).chmod(0o600)
    code, _, err = invoke(bare_env, "migrate")
    assert code == 0 and '"level": "debug"' in err
    code, _, err = invoke({**bare_env, "LOG_LEVEL": "ERROR"}, "migrate")
    assert code == 0 and err == ""
    code, _, err = invoke({**bare_env, "LOG_LEVEL": "x"}, "--log-level", "ERROR", "migrate")
    assert code == 0 and err == ""


# -- settings errors are one line, never the secret ----------------------------------------


def test_an_alias_that_disagrees_is_one_line_naming_both_never_the_values(
    invoke: Invoke,
    bare_env: dict[str, str],
) -> None:
    env = {**bare_env, "GITHUB_WEBHOOK_SECRET": "own-s3cret", "WEBHOOK_SECRET": "alias-s3cret"}
    for command in (("check-config",), ("serve",), ("deliveries",)):
        code, out, err = invoke(env, *command)
        assert code == 2 and out == ""
        line = one_line(err)
        assert "GITHUB_WEBHOOK_SECRET and WEBHOOK_SECRET are both set" in line
        assert "s3cret" not in err


def test_a_broken_env_file_is_one_line_with_its_line_number_not_its_text(
    invoke: Invoke,
    bare_env: dict[str, str],
) -> None:
    env_file = Path(bare_env["BOT_ENV_FILE"])
    env_file.write_text('DATABASE_URL=sqlite:///x\nGITHUB_CLIENT_SECRET="unclosed-s3cret\n')
    env_file.chmod(0o600)
    code, _, err = invoke(bare_env, "check-config")
    assert code == 2
    line = one_line(err)
    assert line.startswith(f"ghsa-bot: {env_file}, line 2: not a KEY=VALUE line")
    assert "s3cret" not in err


# -- GitHub out of reach, a key that cannot sign --------------------------------------------


def test_github_out_of_reach_or_a_key_that_cannot_sign_is_one_line(
    invoke: Invoke, bare_env: dict[str, str]
) -> None:
    env = {
        **bare_env,
        "GITHUB_API_URL": "http://127.0.0.1:1",
        "BOT_GITHUB_TIMEOUT_SECONDS": "2",
        "APP_ID": "1",
        "PRIVATE_KEY": generate_private_key(),
    }
    code, _, err = invoke(env, "roster", "check")
    assert code == 2
    assert one_line(err).startswith("ghsa-bot: GitHub cannot be reached (GITHUB_API_URL): ")
    code, _, err = invoke({**env, "PRIVATE_KEY": "not a PRIVATE KEY at all"}, "roster", "check")
    assert code == 2
    assert one_line(err) == (
        "ghsa-bot: the App's private key cannot sign (GITHUB_PRIVATE_KEY, "
        "GITHUB_PRIVATE_KEY_FILE or PRIVATE_KEY): not a PEM RSA private key"
    )
    assert "at all" not in err
