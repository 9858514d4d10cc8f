"""Logs carry identifiers and outcomes, never secrets, tokens or payload text."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bot.core.logs import JsonFormatter
from tests.databases import query
from tests.fakegithub import FakeGitHub
from tests.harness import BotUnderTest


@contextlib.contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line (DEBUG included) the bot writes meanwhile, as it formats them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


async def test_no_secret_token_or_payload_text_in_logs(
    bot: BotUnderTest, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    with captured_logs() as stream:
        payload = bot.payload("installation_repositories/added.payload.json")
        payload["sender"]["login"] = "embargoed-reporter"
        payload["note"] = "CONFIDENTIAL-EXPLOIT-DETAILS"
        await bot.send("installation_repositories", payload)
        await bot.send(
            "installation_repositories", b"{broken", headers={"X-Hub-Signature-256": "sha256=0"}
        )
        fake.inject(
            "^/installation/repositories$",
            status=403,
            body={"message": "Resource not accessible by integration"},
            times=2,
        )
        await bot.send("installation_repositories", payload)
        await bot.settle()
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert any(line.get("delivery") for line in lines)  # it did log the deliveries
    assert any(line["message"] == "handler failed" for line in lines)
    forbidden = [
        "test-secret",
        "CONFIDENTIAL-EXPLOIT-DETAILS",
        "embargoed-reporter",
        "PRIVATE KEY",
        fake.app.private_key.splitlines()[1],
        *fake.tokens,
    ]
    for secret in forbidden:
        assert secret not in text, f"{secret[:20]}... leaked into the logs"


@pytest.mark.parametrize("code", ["custom", "invalid"], ids=["ValidationError", "InvalidField"])
async def test_a_422_is_logged_and_stored_by_field_name_never_by_its_text(
    start_bot: Any, fake_github: tuple[FakeGitHub, str], database_url: str, code: str
) -> None:
    """GitHub's 422 messages echo what was sent (gidgethub appends each error's
    `message`); logs and the store keep the status, the class and the field names."""
    fake, _ = fake_github
    bot: BotUnderTest = await start_bot(BOT_MAX_ATTEMPTS="2")
    await bot.started()
    await bot.settle()
    marker = f"EMBARGOED-{uuid.uuid4().hex}"
    with captured_logs() as stream:
        fake.inject(
            "^/installation/repositories$",
            status=422,
            body={
                "message": f"Validation Failed: {marker} top",
                "errors": [
                    {
                        "resource": "Advisory",
                        "field": "summary",
                        "code": code,
                        "message": f"summary {marker} is too long",
                        "value": f"{marker} value",
                    }
                ],
            },
            times=10,
        )
        payload = bot.payload("installation_repositories/added.payload.json")
        sent = await bot.send("installation_repositories", payload)
        await bot.settle()
    text = stream.getvalue()
    failures = [json.loads(line) for line in text.splitlines() if '"handler failed"' in line]
    assert failures and all("GitHub 422" in line["error"] for line in failures)
    assert all("summary" in line["error"] for line in failures)  # the field, by name
    assert marker not in text
    stored = query(
        database_url, "SELECT state, last_error FROM deliveries WHERE guid = ?", [sent.guid]
    )
    runs = query(database_url, "SELECT last_error FROM handler_runs WHERE guid = ?", [sent.guid])
    assert stored[0][0] == "failed" and "GitHub 422" in stored[0][1]
    assert runs and all(marker not in (row[0] or "") for row in runs)
    assert marker not in stored[0][1]
