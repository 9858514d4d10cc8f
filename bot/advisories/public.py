"""What becomes public of an advisory, and its credits as the bot mirrors them.

Pure functions over GitHub's advisory objects: the credits with their
acceptance (`credits_detailed`), and the fields published with an advisory,
kept once it is public for the credits page and the records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Credit:
    login: str
    type: str
    state: str  # pending, accepted or declined


def credits_of(advisory: Mapping[str, Any]) -> list[Credit]:
    """The advisory's credits with their acceptance (GitHub's `credits_detailed`)."""
    return [
        Credit(c["user"]["login"], c["type"], c.get("state") or "pending")
        for c in advisory.get("credits_detailed") or []
        if c.get("user")
    ]


def encode_credits(credits: list[Credit]) -> str:
    return json.dumps([{"login": c.login, "type": c.type, "state": c.state} for c in credits])


def decode_credits(text: str | None) -> list[Credit]:
    return [Credit(c["login"], c["type"], c["state"]) for c in json.loads(text or "[]")]


PUBLIC_FIELDS = (
    "ghsa_id",
    "cve_id",
    "html_url",
    "summary",
    "description",
    "severity",
    "cvss_severities",
    "cwe_ids",
    "cwes",
    "vulnerabilities",
    "published_at",
    "updated_at",
    "identifiers",
)


def public_view(advisory: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that become public on publication, with credits as login/type/state."""
    record = {name: advisory.get(name) for name in PUBLIC_FIELDS}
    record["credits"] = [vars(c) for c in credits_of(advisory)]
    return record


def public_record_of(advisory: Mapping[str, Any]) -> str | None:
    """The published advisory's public fields as JSON; None while it is not public."""
    if advisory.get("state") != "published":
        return None
    return json.dumps(public_view(advisory), sort_keys=True)


@dataclass(frozen=True)
class PublishedAdvisory:
    repository: str
    ghsa_id: str
    record: dict[str, Any]  # the public fields, see PUBLIC_FIELDS, plus "credits"


def is_publication(event_name: str, data: Mapping[str, Any]) -> bool:
    """True for the `published` webhook, or the poller (or /publish) reporting that
    the advisory's state became `published` (an `advisory` `updated` event)."""
    if event_name == "repository_advisory":
        return True
    changes = data.get("changes") or []
    advisory = data.get("repository_advisory") or {}
    return "state" in changes and advisory.get("state") == "published"
