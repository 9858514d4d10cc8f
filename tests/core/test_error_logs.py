"""An error's log line carries its type, its stack and what caused it, never its
message (which may quote an advisory's text or a payload) nor a frame's variables."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from bot.core.logs import LEVELS, JsonFormatter, LogLevelError, configure, parse_level

MARKER = "EMBARGOED-heap-overflow-in-tarfile"


class AdvisoryProblem(Exception):
    pass


def parse_advisory(advisory: dict[str, Any]) -> None:
    description = advisory["description"]  # a local variable holding the text
    try:
        int(description)
    except ValueError as error:
        raise AdvisoryProblem(f"cannot handle {description!r}") from error


def log_line(level: int, **extra: Any) -> dict[str, Any]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("ghsa_bot.test_error_logs")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        parse_advisory({"description": MARKER})
    except AdvisoryProblem:
        logger.log(level, "handler failed", exc_info=True, **extra)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    text = stream.getvalue()
    assert MARKER not in text, text
    assert text.count("\n") == 1
    line: dict[str, Any] = json.loads(text)
    return line


@pytest.mark.parametrize("level", [logging.DEBUG, logging.WARNING, logging.ERROR])
def test_an_error_is_logged_by_type_and_stack_never_by_its_message(level: int) -> None:
    line = log_line(level, extra={"fields": {"delivery": "guid-1"}})
    assert line["message"] == "handler failed" and line["delivery"] == "guid-1"
    assert line["error_type"] == f"{__name__}.AdvisoryProblem"
    assert line["caused_by"] == ["ValueError"]
    assert line["stack"] == [
        f"tests/core/test_error_logs.py:{line_of('parse_advisory(')} in log_line",
        f"tests/core/test_error_logs.py:{line_of('raise AdvisoryProblem')} in parse_advisory",
    ]


def line_of(text: str) -> int:
    """The line of this file where `text` first appears in code."""
    with open(__file__, encoding="utf-8") as source:
        for number, line in enumerate(source, 1):
            if line.strip().startswith(text):
                return number
    raise AssertionError(text)


def test_logger_exception_carries_the_stack_too() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("ghsa_bot.test_error_logs.exception")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            {"summary": "x"}[MARKER]  # a KeyError's message is the key: advisory text here
        except KeyError:
            logger.exception("lookup failed")
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["level"] == "error" and line["error_type"] == "KeyError"
    assert line["stack"][-1].startswith("tests/core/test_error_logs.py:")
    assert MARKER not in stream.getvalue()


def test_log_levels() -> None:
    assert LEVELS == ("DEBUG", "INFO", "WARNING", "ERROR")
    assert parse_level(" warning ") == "WARNING"
    for bad in ("", "TRACE", "10", "CRITICAL\n"):
        with pytest.raises(LogLevelError, match=r"^LOG_LEVEL must be one of"):
            parse_level(bad)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure("error")
        assert root.level == logging.ERROR
        with pytest.raises(LogLevelError):
            configure("LOUD")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
