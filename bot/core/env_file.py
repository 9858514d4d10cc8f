"""The `.env` file: read by python-dotenv, written back so that it reads the same.

bot/core/settings.py overlays the process environment on what this reads;
the setup page (bot/web/setup.py) writes the App's credentials with
:func:`write_env_file`, which keeps the file 0600 and every other line as it was.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from bot.core.private_paths import make_private_folders


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it."""


# Probot's names for the App's credentials (GitHub Actions secrets cannot start with
# `GITHUB_`), each read as the bot's own name when that is not set.
ALIASES = {
    "GITHUB_APP_ID": "APP_ID",
    "GITHUB_PRIVATE_KEY": "PRIVATE_KEY",
    "GITHUB_PRIVATE_KEY_FILE": "PRIVATE_KEY_PATH",
    "GITHUB_WEBHOOK_SECRET": "WEBHOOK_SECRET",
}


# What `.env` must not hold already for the web to write it.
CREDENTIAL_KEYS = (
    "GITHUB_APP_ID",
    "GITHUB_CLIENT_ID",
    "GITHUB_CLIENT_SECRET",
    "GITHUB_PRIVATE_KEY",
    "GITHUB_PRIVATE_KEY_FILE",
    "GITHUB_WEBHOOK_SECRET",
    *ALIASES.values(),  # APP_ID, PRIVATE_KEY, PRIVATE_KEY_PATH, WEBHOOK_SECRET (Probot's)
)



def parse_env_file(text: str, *, source: str = ".env") -> dict[str, str]:
    """The `KEY=VALUE` pairs of `.env` text, read by python-dotenv.

    Comments (whole lines, and ` # ...` after a value), `export `, single and
    double quotes (double quotes decode `\\n`, `\\"`, `\\\\`, ...), values spanning
    lines inside quotes (a PEM key). No `${VAR}` expansion: a secret is taken as
    written. A line python-dotenv cannot read (an unclosed quote, text after a
    closing quote) is a SettingsError naming `source` and the line, never its
    text (it may be a secret); a bare `KEY` line sets nothing.
    """
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            # A binding starts after the one before it: count the blank lines it begins with.
            start = binding.original.string
            blank = start[: len(start) - len(start.lstrip())]
            line = binding.original.line + len(NEWLINE.findall(blank))
            raise SettingsError(
                f"{source}, line {line}: not a KEY=VALUE line python-dotenv can read (a value "
                "over several lines, a PEM key, needs double quotes; a quote must be closed, "
                "with only a # comment after it)"
            )
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {key: value for key, value in values.items() if value is not None}


def read_env_file(path: Path) -> dict[str, str]:
    """`parse_env_file` of the file at `path` (UTF-8); unreadable is a SettingsError."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise SettingsError(f"{path}: cannot read it ({error.strerror})") from None
    return parse_env_file(text, source=str(path))


ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NEWLINE = re.compile(r"\r\n|\n|\r")
# What a double-quoted value escapes: python-dotenv decodes each of these back. A
# newline is written as `\n` (one line per key); a carriage return as `\r`, or
# reading the file (universal newlines) would turn it into a newline.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"}


def format_env_value(value: str) -> str:
    """`value` double-quoted so that python-dotenv reads back exactly `value`."""
    return '"' + "".join(_ESCAPES.get(char, char) for char in value) + '"'


def write_env_file(path: Path, updates: Mapping[str, str]) -> None:
    """Merge `updates` into the `.env` at `path`, which ends up a new file of mode 0600.

    The lines of the old file are kept as they were (comments included) but those
    setting a key of `updates`, which are written at the end, each value quoted by
    `format_env_value` so that python-dotenv reads back exactly what was given.
    The new text goes to a temporary file made 0600 in the same folder, synced, then
    renamed over `.env`: never into the old file, whose mode may be looser (a copy of
    `.env.example`) and which another process may hold open. Missing folders are
    made 0700. A symbolic link is followed: the file it names is replaced.
    """
    for key in updates:
        if not ENV_KEY.fullmatch(key):
            raise ValueError(f"not an environment variable name: {key!r}")
    target = Path(os.path.realpath(path))
    kept = ""
    if target.exists():
        text = target.read_text(encoding="utf-8")
        parse_env_file(text, source=str(path))  # a file it cannot read is not rewritten
        kept = "".join(
            binding.original.string
            for binding in parse_stream(io.StringIO(text))
            if binding.key not in updates
        )
        if kept and not kept.endswith("\n"):
            kept += "\n"
    body = kept + "".join(f"{key}={format_env_value(value)}\n" for key, value in updates.items())
    make_private_folders(target.parent)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            os.fchmod(handle.fileno(), 0o600)  # mkstemp's mode already; said, not assumed
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a crash
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def env_credentials(path: Path) -> list[str]:
    """The GitHub App credentials the `.env` at `path` already holds.

    A `.env` that cannot be read (SettingsError) is never written either.
    """
    if not path.exists():
        return []
    values = read_env_file(path)
    return [key for key in CREDENTIAL_KEYS if values.get(key)]
