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
import uuid
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
        if record.exc_info and record.levelno >= logging.WARNING:
            entry["error_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(entry, default=str)


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
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
