"""Structured log lines: one JSON object per line on stderr.

Callers pass fields through `extra={"fields": {...}}`. Only identifiers and
outcomes go in: never payload bodies, advisory text, tokens or secrets.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            entry.update(exception_fields(error))
        return json.dumps(entry, default=str)


MAX_FRAMES = 40
MAX_CAUSES = 5
_ROOT = Path(__file__).resolve().parents[2]


def exception_fields(error: BaseException) -> dict[str, Any]:
    """An exception as a log line carries it: its type, and where it was raised.

    `error_type` (the class, with its module unless a builtin), `stack` (one
    `file:line in function` a frame, innermost last) and `caused_by` (the types
    of the exceptions it was raised from or while handling). Never the exception's
    message, which may quote what was being handled (an advisory's text, a
    payload), and never a frame's local variables.
    """
    fields: dict[str, Any] = {"error_type": _type_name(error), "stack": _frames(error)}
    causes: list[str] = []
    seen = {id(error)}
    current: BaseException | None = error
    while current is not None and len(causes) < MAX_CAUSES:
        following = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
        if following is None or id(following) in seen:
            break
        seen.add(id(following))
        causes.append(_type_name(following))
        current = following
    if causes:
        fields["caused_by"] = causes
    return fields


def _type_name(error: BaseException) -> str:
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def _frames(error: BaseException) -> list[str]:
    # extract_tb reads each frame's file, line and function name; capture_locals is
    # off, so no local variable is looked at, let alone formatted.
    frames = traceback.extract_tb(error.__traceback__)[-MAX_FRAMES:]
    return [f"{_short(frame.filename)}:{frame.lineno} in {frame.name}" for frame in frames]


def _short(filename: str) -> str:
    """A frame's file, relative to the project or to site-packages when under one."""
    _, marker, rest = filename.rpartition("site-packages/")
    if marker:
        return rest
    try:
        return str(Path(filename).resolve().relative_to(_ROOT))
    except (ValueError, OSError):
        return filename


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class LogLevelError(ValueError):
    """LOG_LEVEL (or --log-level) is not one of LEVELS; the message says so."""


def parse_level(raw: str, name: str = "LOG_LEVEL") -> str:
    """`raw` as one of LEVELS (any case, surrounding spaces ignored)."""
    level = raw.strip().upper()
    if level not in LEVELS:
        shown = raw if raw.isprintable() and len(raw) <= 20 else "that value"
        raise LogLevelError(f"{name} must be one of {', '.join(LEVELS)}, not {shown!r}")
    return level


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(parse_level(level))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def fields(**values: Any) -> dict[str, Any]:
    """`logger.info("...", extra=fields(delivery=..., outcome=...))`."""
    return {"fields": values}


def process_owner(role: str) -> str:
    """A name for what this process holds (a delivery's or the leader's lease).

    Host and pid say which replica to look at; the random part tells apart two
    runs of one pid.
    """
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
