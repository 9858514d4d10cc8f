"""`.env` read by python-dotenv: comments, quotes, `export`, multi-line PEM; the setup
page's writer round-trips every value through that reader; Probot's aliases; the
environment wins over `.env`."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.env_file import (
    SettingsError,
    env_credentials,
    format_env_value,
    parse_env_file,
    write_env_file,
)
from bot.core.settings import load_settings

PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "-----END RSA PRIVATE KEY-----\n"
)


def env_file(tmp_path: Path, text: str) -> dict[str, str]:
    """`text` as a private `.env`, and the environment that points at it."""
    path = tmp_path / ".env"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return {"BOT_ENV_FILE": str(path)}


# -- the findings -------------------------------------------------------------------------


def test_a_quoted_value_followed_by_a_comment_does_not_swallow_the_next_lines() -> None:
    text = (
        'GITHUB_APP_ID="12345"  # the App\'s id\n'
        "GITHUB_CLIENT_ID=Iv1.abc\n"
        "DATABASE_URL='sqlite:///var/bot.sqlite3' # the store\n"
        "BOT_CONFIG=config\n"
    )
    assert parse_env_file(text) == {
        "GITHUB_APP_ID": "12345",
        "GITHUB_CLIENT_ID": "Iv1.abc",
        "DATABASE_URL": "sqlite:///var/bot.sqlite3",
        "BOT_CONFIG": "config",
    }


def test_a_number_followed_by_a_comment_is_a_number(tmp_path: Path) -> None:
    environment = env_file(tmp_path, "PORT=8030 # comment\nBOT_MAX_ATTEMPTS=3\t# fewer\n")
    loaded = load_settings(environment)
    assert loaded.port == 8030 and loaded.max_attempts == 3


@pytest.mark.parametrize(
    "value",
    [
        "back\\slash",
        "literal \\n, not a newline",
        "\\\\n",
        "ends with a backslash\\",
        'a "quoted" word',
        "it's",
        "two\nlines",
        "carriage\rreturn",
        "${HOME} and $USER",
        "  padded  ",
        "# not a comment",
        "x # not a comment either",
        "",
        PEM,
    ],
)
def test_what_the_setup_page_writes_reads_back_the_same(tmp_path: Path, value: str) -> None:
    path = tmp_path / ".env"
    write_env_file(path, {"GITHUB_CLIENT_SECRET": value})
    assert parse_env_file(path.read_text()) == {"GITHUB_CLIENT_SECRET": value}
    assert load_settings({"BOT_ENV_FILE": str(path)}).client_secret == (value or None)


# -- what python-dotenv reads -------------------------------------------------------------


def test_export_quotes_and_a_multi_line_pem(tmp_path: Path) -> None:
    text = (
        "# the App\n"
        "export GITHUB_APP_ID=7\n"
        f'GITHUB_PRIVATE_KEY="{PEM}"\n'
        "GITHUB_WEBHOOK_SECRET='one,two'\n"
        "\n"
        "BOT_PUBLIC_URL=https://bot.example/   # trailing slash dropped\n"
    )
    loaded = load_settings(env_file(tmp_path, text))
    assert loaded.app_id == "7"
    assert loaded.private_key == PEM
    assert loaded.webhook_secrets == (b"one", b"two")
    assert loaded.public_url == "https://bot.example"


def test_a_pem_written_with_backslash_n_escapes_reads_as_newlines(tmp_path: Path) -> None:
    escaped = PEM.replace("\n", "\\n")
    loaded = load_settings(env_file(tmp_path, f'GITHUB_PRIVATE_KEY="{escaped}"\n'))
    assert loaded.private_key == PEM


def test_variables_are_not_expanded(tmp_path: Path) -> None:
    environment = env_file(tmp_path, "GITHUB_CLIENT_SECRET=pa${HOME}ss\n")
    assert load_settings(environment).client_secret == "pa${HOME}ss"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('GITHUB_APP_ID=1\nGITHUB_CLIENT_SECRET="never closed s3cret\nPORT=1\n', 2),
        ("GITHUB_APP_ID=1\n\nGITHUB_CLIENT_SECRET='s3cret' and more\n", 3),
        ("this line is s3cret prose\n", 1),
    ],
)
def test_a_line_dotenv_cannot_read_is_named_never_shown(
    tmp_path: Path, text: str, line: int
) -> None:
    environment = env_file(tmp_path, text)
    with pytest.raises(SettingsError) as raised:
        load_settings(environment)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / '.env'}, line {line}: not a KEY=VALUE line")
    assert "s3cret" not in message and "\n" not in message


def test_a_env_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"GITHUB_CLIENT_SECRET=\xff\xfe\n")
    with pytest.raises(SettingsError, match=r"\.env: not UTF-8 text$"):
        load_settings({"BOT_ENV_FILE": str(path)})


# -- the writer ---------------------------------------------------------------------------


def test_the_writer_keeps_the_other_lines_and_comments_and_replaces_its_keys(
    tmp_path: Path,
) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "# Copy to .env\nGITHUB_APP_ID=\nexport PORT=8030 # the port\n"
        "GITHUB_WEBHOOK_SECRET=\nBOT_CONFIG='config'"  # no newline at the end
    )
    path.chmod(0o644)
    write_env_file(path, {"GITHUB_APP_ID": "42", "GITHUB_WEBHOOK_SECRET": "w\\h"})
    text = path.read_text()
    assert text == (
        "# Copy to .env\nexport PORT=8030 # the port\nBOT_CONFIG='config'\n"
        'GITHUB_APP_ID="42"\nGITHUB_WEBHOOK_SECRET="w\\\\h"\n'
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert parse_env_file(text) == {
        "PORT": "8030",
        "BOT_CONFIG": "config",
        "GITHUB_APP_ID": "42",
        "GITHUB_WEBHOOK_SECRET": "w\\h",
    }


def test_the_writer_refuses_a_env_it_cannot_read_and_leaves_it_alone(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text('GITHUB_CLIENT_SECRET="unclosed\n')
    before = path.read_bytes()
    with pytest.raises(SettingsError, match="line 1"):
        write_env_file(path, {"GITHUB_APP_ID": "1"})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_the_writer_refuses_a_name_that_is_not_a_variable(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an environment variable name"):
        write_env_file(tmp_path / ".env", {"A=B\nC": "x"})
    assert not (tmp_path / ".env").exists()


# Any text a value may hold: printable characters of every script, and newlines
# (LF, CR, CRLF), tabs and other control characters, quotes, backslashes, a literal
# `\n`, `#`, `$` and `=`, anywhere (no surrogates: not text).
PIECES = st.one_of(
    st.characters(exclude_categories=("Cs", "Cc")),
    st.sampled_from(
        [
            *("\n", "\r", "\r\n", "\t", "\x00", "\x0b", "\x0c", "\x85"),
            *("\\", '"', "'", "#", " #", "$", "${X}", "=", " ", "\\n", "\\\\", 'x"#'),
        ]
    ),
)
VALUES = st.lists(PIECES, max_size=60).map("".join)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(values=st.lists(VALUES, min_size=1, max_size=4))
def test_any_text_round_trips_through_the_writer_and_dotenv(values: list[str]) -> None:
    updates = {f"KEY_{index}": value for index, value in enumerate(values)}
    for name, value in updates.items():
        assert parse_env_file(f"{name}={format_env_value(value)}\n") == {name: value}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ".env"
        path.write_text("# kept\nOTHER=1\n")
        write_env_file(path, updates)
        assert parse_env_file(path.read_text(encoding="utf-8")) == {"OTHER": "1", **updates}
        write_env_file(path, {"KEY_0": "again"})  # and once more over its own output
        assert parse_env_file(path.read_text(encoding="utf-8")) == {
            "OTHER": "1",
            **updates,
            "KEY_0": "again",
        }


# -- Probot's names -----------------------------------------------------------------------


def test_probot_names_are_read_when_the_bots_own_are_not_set(tmp_path: Path) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(PEM)
    key_file.chmod(0o600)
    environment = {
        **env_file(tmp_path, f"APP_ID=99\nWEBHOOK_SECRET=hook\nPRIVATE_KEY_PATH={key_file}\n"),
    }
    loaded = load_settings(environment)
    assert (loaded.app_id, loaded.private_key, loaded.webhook_secrets) == ("99", PEM, (b"hook",))
    assert loaded.serve_problem() is None
    loaded = load_settings({**environment, "PRIVATE_KEY": PEM.replace("\n", "\\n")})
    assert loaded.private_key == PEM.replace("\n", "\\n")  # the environment is taken as is


@pytest.mark.parametrize(
    ("own", "alias"),
    [
        ("GITHUB_APP_ID", "APP_ID"),
        ("GITHUB_PRIVATE_KEY", "PRIVATE_KEY"),
        ("GITHUB_PRIVATE_KEY_FILE", "PRIVATE_KEY_PATH"),
        ("GITHUB_WEBHOOK_SECRET", "WEBHOOK_SECRET"),
    ],
)
def test_an_alias_and_its_own_name_that_disagree_are_refused_naming_both(
    tmp_path: Path, own: str, alias: str
) -> None:
    base = {"BOT_ENV_FILE": str(tmp_path / ".env")}
    with pytest.raises(SettingsError) as raised:
        load_settings({**base, own: "first-s3cret", alias: "second-s3cret"})
    message = str(raised.value)
    assert message.startswith(f"{own} and {alias} are both set, to different values")
    assert "s3cret" not in message
    # Across `.env` and the environment too.
    environment = env_file(tmp_path, f"{alias}=first-s3cret\n")
    with pytest.raises(SettingsError, match=f"^{own} and {alias} are both set"):
        load_settings({**environment, own: "second-s3cret"})


def test_an_alias_and_its_own_name_that_agree_are_fine(tmp_path: Path) -> None:
    base = {"BOT_ENV_FILE": str(tmp_path / ".env")}
    loaded = load_settings(
        {
            **base,
            "GITHUB_APP_ID": "5",
            "APP_ID": "5",
            "PRIVATE_KEY": PEM,
            "GITHUB_PRIVATE_KEY": PEM.rstrip("\n"),
        }
    )
    assert loaded.app_id == "5" and loaded.private_key == PEM.rstrip("\n")


def test_a_bad_key_names_the_variable_it_came_from(tmp_path: Path) -> None:
    base = {"BOT_ENV_FILE": str(tmp_path / ".env")}
    with pytest.raises(SettingsError, match=r"^PRIVATE_KEY does not look like a PEM private key$"):
        load_settings({**base, "PRIVATE_KEY": "hunter2"})
    with pytest.raises(SettingsError, match=r"^PRIVATE_KEY_PATH=/nonexistent/key\.pem: cannot"):
        load_settings({**base, "PRIVATE_KEY_PATH": "/nonexistent/key.pem"})


def test_setup_counts_an_alias_in_env_as_a_credential(tmp_path: Path) -> None:
    """The web never writes a `.env` that holds an App's credentials, by either name."""
    path = tmp_path / ".env"
    path.write_text("# copied\nGITHUB_APP_ID=\nWEBHOOK_SECRET=kept\n")
    assert env_credentials(path) == ["WEBHOOK_SECRET"]


# -- precedence ---------------------------------------------------------------------------


def test_the_environment_wins_over_env(tmp_path: Path) -> None:
    environment = env_file(tmp_path, "PORT=8001\nAPP_ID=1\nBOT_CONFIG=from-file\n")
    loaded = load_settings({**environment, "PORT": "8002", "APP_ID": "2"})
    assert (loaded.port, loaded.app_id, loaded.config_dir) == (8002, "2", Path("from-file"))
    # An empty variable in the environment empties the `.env` value, as before.
    assert load_settings({**environment, "BOT_CONFIG": ""}).config_dir == Path("config")


def test_the_process_environment_is_read_when_none_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = env_file(tmp_path, "PORT=8001\n")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PORT", "8003")
    assert load_settings().port == 8003
    monkeypatch.delenv("PORT")
    assert load_settings().port == 8001
    assert os.environ["BOT_ENV_FILE"] == environment["BOT_ENV_FILE"]


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(
        st.one_of(PIECES, st.sampled_from(["KEY=", "export ", "\n", "'", '"', "=", "A"])),
        max_size=80,
    ).map("".join)
)
def test_any_env_text_gives_values_or_one_line_naming_a_line(text: str) -> None:
    """Whatever an operator's `.env` holds: its values, or a SettingsError in one line."""
    try:
        values = parse_env_file(text)
    except SettingsError as error:
        message = str(error)
        assert "\n" not in message and message.startswith(".env, line ")
    else:
        assert all(isinstance(v, str) for v in values.values())
