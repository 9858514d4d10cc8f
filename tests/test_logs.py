"""Logs carry identifiers and outcomes, never secrets, tokens or payload text."""

from __future__ import annotations

import io
import json
import logging

from bot.logs import JsonFormatter
from tests.fakegithub import FakeGitHub
from tests.harness import BotUnderTest


async def test_no_secret_token_or_payload_text_in_logs(
    bot: BotUnderTest, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
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
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
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
