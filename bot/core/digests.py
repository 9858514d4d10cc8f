"""Keyed digests: what the store keeps instead of text it must not keep.

Two things are compared by digest: an advisory's watched fields (the poller
notices a change without keeping the title, severity or CWEs) and a command
line's words (so an edited comment never runs a command twice). A plain hash
of a field with few values (a severity, a CWE, a module name) is reversed by
trying them all, so each digest is an HMAC under a key the store does not
hold: it is derived from the App's private key, which lives in the
environment. A fingerprint names its key (`_key`), so after the key changes
the poller takes the new fingerprints as its new baseline instead of reporting
every field as changed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

WATCHED_FIELDS = (
    "state",
    "summary",
    "description",
    "severity",
    "cve_id",
    "cwe_ids",
    "cvss_severities",
    "vulnerabilities",
    "credits_detailed",
    "collaborating_users",
    "collaborating_teams",
    "private_fork",
    "published_at",
    "closed_at",
    "withdrawn_at",
)
KEY_FIELD = "_key"


class Digester:
    """HMAC-SHA256 digests (16 hex digits) under one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.key_id = hashlib.sha256(b"key id:" + key).hexdigest()[:8]

    @classmethod
    def from_secret(cls, secret: str | None) -> Digester:
        """The store's key, derived from a secret kept outside the store (the App key)."""
        material = (secret or "").encode()
        return cls(hmac.new(material, b"ghsa-bot store digests v1", hashlib.sha256).digest())

    def digest(self, text: str) -> str:
        return hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:16]

    def fingerprint(self, advisory: Mapping[str, Any]) -> str:
        """A digest per watched field, as JSON, with the key's id."""
        prints = {
            name: self.digest(json.dumps(advisory.get(name), sort_keys=True, default=str))
            for name in WATCHED_FIELDS
        }
        prints[KEY_FIELD] = self.key_id
        return json.dumps(prints, sort_keys=True)


def changed_fields(before: str | None, after: str) -> list[str] | None:
    """The watched fields whose digests differ; None when the two cannot be compared
    (the earlier fingerprint is from another key, or from before digests were keyed)."""
    new = json.loads(after)
    if before is None:
        return list(WATCHED_FIELDS)
    old = json.loads(before)
    if old.get(KEY_FIELD) != new.get(KEY_FIELD):
        return None
    return [name for name in WATCHED_FIELDS if old.get(name) != new.get(name)]
