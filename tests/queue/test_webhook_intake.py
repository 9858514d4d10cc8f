"""POST /webhook over real HTTP: signatures, bad input, dedupe, what is stored."""

from __future__ import annotations

import gzip
import json
import re
import uuid

import aiohttp
import pytest

from bot.queue.intake import parse_delivery, signature_for
from tests.fakegithub import FakeGitHub
from tests.harness import BotUnderTest, load_payload


async def test_valid_signature_is_stored_and_answered_202(bot: BotUnderTest) -> None:
    payload = bot.payload("installation_repositories/added.payload.json")
    sent = await bot.send("installation_repositories", payload)
    assert sent.status == 202, sent.body
    await bot.services.store.intake_settled()  # from the intake journal into the database
    stored = await bot.services.store.get_delivery(sent.guid)
    assert stored is not None
    assert (stored.event, stored.action, stored.installation_id) == (
        "installation_repositories",
        "added",
        payload["installation"]["id"],
    )
    # Stored as sent; once handled (the worker may be that quick) it keeps no payload.
    assert stored.payload_removed or json.loads(stored.payload) == payload


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, 401),
        ({"X-Hub-Signature-256": None}, 401),
        ({"X-Hub-Signature-256": None, "X-Hub-Signature": "sha1=" + "0" * 40}, 401),
        ({"X-Hub-Signature-256": "garbage"}, 401),
    ],
    ids=["invalid", "missing", "sha1-only", "garbage"],
)
async def test_signature_matrix(
    bot: BotUnderTest, headers: dict[str, str | None], status: int
) -> None:
    payload = bot.payload("installation_repositories/added.payload.json")
    sent = await bot.send("installation_repositories", payload, headers=headers)
    assert sent.status == status
    assert "error" in json.loads(sent.body)
    assert await bot.services.store.get_delivery(sent.guid) is None


async def test_rotated_secrets_both_accepted(start_bot: object) -> None:
    bot: BotUnderTest = await start_bot(GITHUB_WEBHOOK_SECRET="old-secret, new-secret")  # type: ignore[operator]
    payload = bot.payload("installation_repositories/added.payload.json")
    for secret in (b"old-secret", b"new-secret"):
        bot.secret = secret
        assert (await bot.send("installation_repositories", payload)).status == 202
    bot.secret = b"other"
    assert (await bot.send("installation_repositories", payload)).status == 401


@pytest.mark.parametrize(
    ("headers", "body", "status", "reason"),
    [
        ({"X-GitHub-Event": None}, None, 400, "missing X-GitHub-Event"),
        ({"X-GitHub-Delivery": None}, None, 400, "missing X-GitHub-Delivery"),
        ({"X-GitHub-Delivery": "x" * 500}, None, 400, "malformed X-GitHub-Delivery"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, None, 415, "content type"),
        ({"Content-Type": None}, None, 415, "content type"),
        ({}, b"{not json", 400, "malformed JSON"),
        ({}, b"\xff\xfe\x00", 400, "not UTF-8 JSON"),
        ({}, '{"zen": "x"}'.encode("utf-16"), 400, "not UTF-8 JSON"),
        ({}, b"[1, 2]", 400, "must be an object"),
        ({}, b"", 400, "malformed JSON"),
        ({}, b"[" * 100_000 + b"]" * 100_000, 400, ""),
    ],
    ids=[
        "no-event",
        "no-guid",
        "long-guid",
        "form",
        "no-type",
        "bad-json",
        "not-utf8",
        "utf16",
        "array",
        "empty",
        "deep",
    ],
)
async def test_bad_input_matrix(
    bot: BotUnderTest, headers: dict[str, str | None], body: bytes | None, status: int, reason: str
) -> None:
    raw = body if body is not None else json.dumps(load_payload("ping/payload.json")).encode()
    sent = await bot.send("ping", raw, headers=headers)
    assert sent.status == status, sent.body
    assert reason in json.loads(sent.body)["error"]


async def test_oversized_body_is_413_without_reading_it(start_bot: object) -> None:
    bot: BotUnderTest = await start_bot(BOT_MAX_BODY_BYTES="1000")  # type: ignore[operator]
    big = b'{"pad": "' + b"a" * 5000 + b'"}'
    sent = await bot.send("installation", big)
    assert sent.status == 413

    async def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(100):
            yield b"a" * 100

    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "installation",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=0",
    }
    try:
        async with bot.session.post(
            f"{bot.url}/webhook", data=chunks(), headers=headers
        ) as response:
            assert response.status == 413
    except aiohttp.ClientOSError:
        pass  # the server may close the connection while we still send: also a refusal


async def test_ping_is_200_and_not_stored(bot: BotUnderTest) -> None:
    sent = await bot.send("ping", load_payload("ping/with-app_id.payload.json"))
    assert sent.status == 200
    assert await bot.services.store.get_delivery(sent.guid) is None


async def test_unsubscribed_event_is_204_and_not_stored(bot: BotUnderTest) -> None:
    sent = await bot.send("issues", load_payload("issues/opened.with-organization.payload.json"))
    assert sent.status == 204
    assert await bot.services.store.get_delivery(sent.guid) is None


async def test_global_security_advisory_feed_is_ignored_cleanly(bot: BotUnderTest) -> None:
    sent = await bot.send(
        "security_advisory", load_payload("security_advisory/published.payload.json")
    )
    assert sent.status == 204
    assert await bot.services.store.get_delivery(sent.guid) is None


async def test_subscribed_event_without_installation_is_ignored(bot: BotUnderTest) -> None:
    payload = bot.payload("installation_repositories/added.payload.json")
    del payload["installation"]
    sent = await bot.send("installation_repositories", payload)
    assert sent.status == 204
    assert await bot.services.store.get_delivery(sent.guid) is None


async def test_redelivered_guid_is_200_and_handled_once(
    bot: BotUnderTest, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    payload = bot.payload("installation_repositories/added.payload.json")
    guid = str(uuid.uuid4())
    first = await bot.send("installation_repositories", payload, guid=guid)
    assert first.status == 202
    await bot.settle()
    assert (await bot.services.store.get_delivery(guid)).state == "done"
    # What the handler asks GitHub (background jobs make requests of their own).
    handler_requests = "^/installation/repositories$"
    requests_after_first = len(fake.requests_to(handler_requests))
    assert requests_after_first >= 1

    second = await bot.send("installation_repositories", payload, guid=guid)
    assert second.status == 200
    assert json.loads(second.body)["duplicate"] is True
    await bot.settle()
    assert len(fake.requests_to(handler_requests)) == requests_after_first  # not handled again
    assert bot.services.metrics.handled.get(event="installation_repositories", outcome="done") == 1


async def test_store_unavailable_is_503(bot: BotUnderTest) -> None:
    await bot.services.store.close()
    sent = await bot.send(
        "installation_repositories", bot.payload("installation_repositories/added.payload.json")
    )
    assert sent.status == 503
    async with bot.session.get(f"{bot.url}/readyz") as response:
        assert response.status == 503


async def test_health_ready_and_metrics(bot: BotUnderTest) -> None:
    async with bot.session.get(f"{bot.url}/healthz") as response:
        assert response.status == 200
    async with bot.session.get(f"{bot.url}/readyz") as response:
        assert response.status == 200
    await bot.send(
        "installation_repositories", bot.payload("installation_repositories/added.payload.json")
    )
    await bot.send("installation_repositories", b"{", headers={"X-Hub-Signature-256": "sha256=0"})
    await bot.settle()
    async with bot.session.get(f"{bot.url}/metrics") as response:
        text = await response.text()
    assert (
        'ghsa_bot_deliveries_total{event="installation_repositories",outcome="stored"} 1.0' in text
    )
    assert (
        'ghsa_bot_deliveries_total{event="installation_repositories",outcome="refused_401"} 1.0'
        in text
    )
    assert "ghsa_bot_queue_depth 0.0" in text
    assert "ghsa_bot_handler_duration_seconds_count" in text
    assert 'ghsa_bot_github_requests_total{method="GET",status="200"}' in text
    assert "ghsa_bot_github_rate_limit_remaining" in text


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "x-custom", "gzip, identity", "é"])
async def test_a_content_encoding_github_never_sends_is_415_before_the_body_is_read(
    bot: BotUnderTest, encoding: str
) -> None:
    payload = bot.payload("installation_repositories/added.payload.json")
    body = gzip.compress(json.dumps(payload).encode()) if encoding == "gzip" else b"\x00garbage"
    sent = await bot.send(
        "installation_repositories",
        body,
        headers={"Content-Encoding": encoding.encode().decode("latin-1")},
    )
    assert sent.status == 415, sent.body
    assert "content encoding" in json.loads(sent.body)["error"]
    assert await bot.services.store.get_delivery(sent.guid) is None
    identity = await bot.send(
        "installation_repositories", payload, headers={"Content-Encoding": "identity"}
    )
    assert identity.status == 202


@pytest.mark.parametrize(
    "installation_id", [2**63, 2**64 + 5, -1, 0, 10**30], ids=["2^63", "2^64", "-1", "0", "1e30"]
)
async def test_an_installation_id_the_store_cannot_hold_is_400(
    bot: BotUnderTest, installation_id: int
) -> None:
    payload = bot.payload("installation_repositories/added.payload.json")
    payload["installation"]["id"] = installation_id
    sent = await bot.send("installation_repositories", payload)
    assert sent.status == 400, sent.body
    assert "installation id out of range" in json.loads(sent.body)["error"]
    assert await bot.services.store.get_delivery(sent.guid) is None


def test_the_largest_installation_id_the_store_holds_is_accepted() -> None:
    payload = {"action": "added", "installation": {"id": 2**63 - 1}}
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "installation_repositories",
        "X-GitHub-Delivery": "d",
        "X-Hub-Signature-256": signature_for(body, b"s"),
    }
    delivery = parse_delivery(headers, body, [b"s"], received_at=0.0)
    assert delivery.installation_id == 2**63 - 1


@pytest.mark.parametrize("where", ["top", "nested", "installation"])
async def test_an_integer_of_thousands_of_digits_anywhere_is_400(
    bot: BotUnderTest, where: str
) -> None:
    huge = "9" * 5000
    payload = json.dumps(bot.payload("installation_repositories/added.payload.json"))
    if where == "top":
        body = payload[:-1] + f', "n": {huge}}}'
    elif where == "nested":
        body = payload[:-1] + f', "n": {{"list": [1, {{"x": -{huge}}}]}}}}'
    else:
        body = re.sub(r'("installation": \{"id": )\d+', rf"\g<1>{huge}", payload, count=1)
        assert huge in body
    sent = await bot.send("installation_repositories", body.encode())
    assert sent.status == 400, sent.body
    assert "number" in json.loads(sent.body)["error"]


def test_signature_helper_is_the_one_the_bot_checks() -> None:
    assert signature_for(b"x", b"k").startswith("sha256=")
