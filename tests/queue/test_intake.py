"""The intake functions alone: signatures, headers, bodies (no server)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.queue.intake import (
    IntakeError,
    decode_json,
    ordering_key,
    parse_body,
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


# decode_json: orjson's speed, the standard library's answers.

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_decode_json_reads_what_the_standard_library_reads(value: object) -> None:
    text = json.dumps(value)
    assert decode_json(text) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": NaN, "b": -Infinity}',  # orjson refuses these; the standard library reads them
        '{"a": "\\ud800"}',  # a lone surrogate
    ],
)
def test_decode_json_accepts_what_orjson_refuses_as_before(text: str) -> None:
    assert repr(decode_json(text)) == repr(json.loads(text))


def test_nesting_past_both_decoders_limits_is_refused_as_before() -> None:
    with pytest.raises(IntakeError) as refused:
        parse_body(b"[" * 5000 + b"]" * 5000)
    assert (refused.value.status, refused.value.reason) == (400, "JSON nested too deeply")


def test_a_malformed_body_is_named_by_line_and_column() -> None:
    with pytest.raises(IntakeError) as refused:
        parse_body(b'{\n  "a": 1,\n  oops\n}')
    assert refused.value.status == 400
    assert refused.value.reason == "malformed JSON at line 3, column 3"
