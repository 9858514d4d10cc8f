"""The intake functions alone: signatures, headers, bodies (no server)."""

from __future__ import annotations

import pytest

from bot.queue.intake import (
    IntakeError,
    ordering_key,
    parse_delivery,
    signature_for,
    verify_signature,
)


def test_signature_matches_githubs_documented_test_vector() -> None:
    # docs: validating-webhook-deliveries
    assert signature_for(b"Hello, World!", b"It's a Secret to Everybody") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing X-Hub-Signature-256"),
        ({"X-Hub-Signature": "sha1=abc"}, "SHA-1 signatures are not accepted"),
        ({"X-Hub-Signature-256": "sha256=00"}, "signature does not match"),
        ({"X-Hub-Signature-256": "sha256=é"}, "signature does not match"),
    ],
)
def test_bad_signatures_are_401(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(IntakeError) as caught:
        verify_signature(headers, b"{}", [b"secret"])
    assert caught.value.status == 401
    assert reason in caught.value.reason


def test_no_configured_secret_refuses_everything() -> None:
    with pytest.raises(IntakeError) as caught:
        verify_signature({"X-Hub-Signature-256": signature_for(b"{}", b"")}, b"{}", [])
    assert caught.value.status == 401


def test_any_rotated_secret_matches() -> None:
    body = b'{"a": 1}'
    verify_signature({"X-Hub-Signature-256": signature_for(body, b"new")}, body, [b"old", b"new"])
    verify_signature({"X-Hub-Signature-256": signature_for(body, b"old")}, body, [b"old", b"new"])


def test_parse_delivery_keeps_identity_fields() -> None:
    body = (
        b'{"action": "reported", "installation": {"id": 7}, "repository": {"full_name": "o/r"},'
        b' "repository_advisory": {"ghsa_id": "GHSA-2222-3333-4444"}}'
    )
    headers = {
        "X-Hub-Signature-256": signature_for(body, b"s"),
        "X-GitHub-Event": "repository_advisory",
        "X-GitHub-Delivery": "guid-1",
        "Content-Type": "application/json; charset=utf-8",
    }
    delivery = parse_delivery(headers, body, [b"s"], received_at=1.0)
    assert (delivery.event, delivery.action, delivery.installation_id) == (
        "repository_advisory",
        "reported",
        7,
    )
    assert delivery.order_key == "advisory:o/r:GHSA-2222-3333-4444"


def test_ordering_keys_group_what_must_stay_in_order() -> None:
    assert ordering_key("installation", {"installation": {"id": 3}}, "g") == "installation:3"
    assert ordering_key("issues", {"repository": {"full_name": "o/r"}}, "g") == "repo:o/r"
    assert ordering_key("ping", {}, "g") == "delivery:g"
