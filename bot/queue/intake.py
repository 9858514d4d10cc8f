"""Webhook intake as plain functions: verify the signature, check headers, parse.

Nothing here does I/O, so tests call it without a server. The web layer maps
:class:`IntakeError` to its HTTP status; a client error is never a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import orjson

# The largest id the store keeps (a signed 64-bit integer, SQLite's and BIGINT's limit).
MAX_ID = 2**63 - 1


class IntakeError(Exception):
    """A delivery we refuse, with the HTTP status and a reason safe to send back."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Delivery(NamedTuple):
    """A verified, parsed webhook delivery, ready to be stored.

    A named tuple rather than a frozen dataclass: as immutable, and built in
    half the time (every acknowledgement builds one).
    """

    guid: str
    event: str
    action: str | None
    installation_id: int | None
    order_key: str
    body: str
    payload: Mapping[str, Any]
    received_at: float


def delivery_of(
    guid: str, event: str, body: str, payload: Mapping[str, Any], *, received_at: float
) -> Delivery:
    """A delivery with its action, installation and ordering key read from `payload`."""
    action = payload.get("action")
    return Delivery(
        guid=guid,
        event=event,
        action=action if isinstance(action, str) else None,
        installation_id=installation_id_of(payload),
        order_key=ordering_key(event, payload, guid),
        body=body,
        payload=payload,
        received_at=received_at,
    )


def internal_event(
    guid: str, event: str, payload: dict[str, Any], *, received_at: float
) -> Delivery:
    """An event the bot raises itself (poller, timers).

    Its payload names the installation, the repository and, for an advisory, the
    advisory, as GitHub's do, so it is ordered by the same rule (`ordering_key`).
    """
    return delivery_of(guid, event, json.dumps(payload), payload, received_at=received_at)


def signature_for(body: bytes, secret: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(headers: Mapping[str, str], body: bytes, secrets: Iterable[bytes]) -> None:
    """Raise 401 unless `X-Hub-Signature-256` matches one of `secrets`.

    Every secret is compared (constant time each), so timing does not reveal
    which one matched; a SHA-1-only signature is refused.
    """
    secrets = tuple(secrets)
    if not secrets:
        raise IntakeError(401, "no webhook secret is configured; refusing unsigned deliveries")
    given = headers.get("X-Hub-Signature-256")
    if given is None:
        if headers.get("X-Hub-Signature") is not None:
            raise IntakeError(401, "SHA-1 signatures are not accepted; send X-Hub-Signature-256")
        raise IntakeError(401, "missing X-Hub-Signature-256")
    given_bytes = given.strip().encode("ascii", "replace")
    matched = False
    for secret in secrets:
        expected = signature_for(body, secret).encode()
        matched |= hmac.compare_digest(expected, given_bytes)
    if not matched:
        raise IntakeError(401, "signature does not match")


def check_content_type(headers: Mapping[str, str]) -> None:
    content_type = headers.get("Content-Type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise IntakeError(
            415,
            f"content type {media_type or '(none)'!r} is not accepted; "
            "set the webhook's content type to application/json",
        )


def check_content_encoding(headers: Mapping[str, str]) -> None:
    """GitHub never compresses a delivery: any `Content-Encoding` but identity is 415."""
    encoding = headers.get("Content-Encoding", "").strip().lower()
    if encoding not in {"", "identity"}:
        raise IntakeError(
            415,
            f"content encoding {encoding[:40]!r} is not accepted; GitHub sends identity",
        )


def required_header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if not value:
        raise IntakeError(400, f"missing {name} header")
    if len(value) > 200 or not value.isprintable():
        raise IntakeError(400, f"malformed {name} header")
    return value


def decode_json(text: str) -> Any:
    """`text` as JSON: orjson's speed, the standard library's answer for anything it refuses.

    orjson decodes a delivery three times faster, and decoding was the largest
    share of intake's own CPU. It refuses what the standard library accepts
    (NaN, lone surrogates, nesting past 1,024), and for those the standard
    library decides, so the bot accepts exactly what it did before; a malformed
    body's error, too, is the standard library's (with its line and column).
    Integers of 2^64 and above come back as floats (no installation id can be one;
    see check_installation_id).
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def parse_body(body: bytes) -> tuple[str, dict[str, Any]]:
    """The body as text and as a JSON object. GitHub sends UTF-8; nothing else is read."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise IntakeError(400, "body is not UTF-8 JSON") from None
    try:
        payload = decode_json(text)
    except json.JSONDecodeError as error:
        raise IntakeError(
            400, f"malformed JSON at line {error.lineno}, column {error.colno}"
        ) from None
    except RecursionError:
        raise IntakeError(400, "JSON nested too deeply") from None
    except ValueError:  # an integer past Python's digit limit (4300 digits)
        raise IntakeError(400, "a number in the JSON is too long") from None
    if not isinstance(payload, dict):
        raise IntakeError(400, "JSON body must be an object")
    return text, payload


def check_installation_id(payload: Mapping[str, Any]) -> None:
    """400 for an installation id the store cannot keep (not 1..2^63-1).

    A float is one too: decode_json reads integers of 2^64 and above as floats.
    """
    installation = payload.get("installation")
    value = installation.get("id") if isinstance(installation, dict) else None
    if isinstance(value, float) or (
        isinstance(value, int) and not isinstance(value, bool) and not 0 < value <= MAX_ID
    ):
        raise IntakeError(400, "installation id out of range")


def installation_id_of(payload: Mapping[str, Any]) -> int | None:
    installation = payload.get("installation")
    if isinstance(installation, dict):
        value = installation.get("id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def ordering_key(event: str, payload: Mapping[str, Any], guid: str) -> str:
    """Deliveries with the same key are handled one at a time, in arrival order.

    One advisory's events share a key; installation events share one per
    installation; other repository events share one per repository.
    """
    repository = payload.get("repository")
    repo_name = repository.get("full_name") if isinstance(repository, dict) else None
    advisory = payload.get("repository_advisory")
    if isinstance(advisory, dict) and isinstance(advisory.get("ghsa_id"), str):
        return f"advisory:{repo_name}:{advisory['ghsa_id']}"
    if event in {"installation", "installation_repositories"}:
        return f"installation:{installation_id_of(payload)}"
    if isinstance(repo_name, str):
        return f"repo:{repo_name}"
    return f"delivery:{guid}"


def parse_delivery(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Iterable[bytes],
    *,
    received_at: float,
    verify: bool = True,
) -> Delivery:
    """Verify and parse one delivery; raise :class:`IntakeError` when refused.

    Only `ghsa-bot replay` passes `verify=False`, for a file the operator holds.
    """
    if verify:
        verify_signature(headers, body, secrets)
    event = required_header(headers, "X-GitHub-Event")
    guid = required_header(headers, "X-GitHub-Delivery")
    check_content_type(headers)
    text, payload = parse_body(body)
    check_installation_id(payload)
    return delivery_of(guid, event, text, payload, received_at=received_at)
