"""CVSS vectors, parsed and checked in one place, with Red Hat's `cvss` library.

Every vector that enters the bot goes through :func:`parse_vector`: `/cvss`
(handlers/command_details.py) before it is sent to GitHub, the publication
checklist's `cvss_v4` item (bot/records/checklist.py), and the OSV and CVE
records (bot/records/documents.py, bot/records/cve_record.py), which read the
vectors GitHub holds with :func:`advisory_vectors`.

CVSS 3.0, 3.1 and 4.0 are taken, as GitHub holds them (`cvss_v3`, `cvss_v4`);
CVSS 2.0 is not (GitHub has no place for it, and the CVE record's v2 metric is
not written). A vector that repeats a metric, names one the standard does not
have, gives a value a metric does not take or leaves out a base metric is
refused with one line: the library's reason (`Duplicate metric "AV"`), never
the vector itself again (the reply to a command quotes the command already).
A valid vector is kept in the library's canonical form: metrics in the
standard's order, "not defined" (`X`) metrics left out, which is the form the
CVE record's schema expects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cvss import CVSS3, CVSS4  # type: ignore[import-untyped]  # no stubs; the package ships none
from cvss.exceptions import CVSSError  # type: ignore[import-untyped]

# The versions taken, by their prefix.
PREFIXES = {"CVSS:3.0": "3.0", "CVSS:3.1": "3.1", "CVSS:4.0": "4.0"}
# Where GitHub keeps each version (`cvss_severities`), and OSV's name for it.
GITHUB_KEYS = (("cvss_v3", "CVSS_V3"), ("cvss_v4", "CVSS_V4"))
# The longest vector the standards allow is 178 characters (CVSS 4.0, every metric).
MAX_VECTOR_LENGTH = 256
_CHARACTERS = re.compile(r"[A-Za-z0-9:/.]+")
_CVSS2_METRIC = re.compile(r"(^|/)Au:")  # Authentication exists only in CVSS 2.0


class CvssError(ValueError):
    """A vector that is not valid CVSS 3.x or 4.0; `str()` is one line saying why."""


@dataclass(frozen=True)
class Vector:
    """A valid vector: its version ("3.0", "3.1", "4.0"), canonical form and base score."""

    version: str
    vector: str
    base_score: float

    @property
    def major(self) -> int:
        return int(self.version[0])


def parse_vector(text: Any) -> Vector:
    """The vector `text`, checked by the `cvss` library; CvssError says what is wrong."""
    if not isinstance(text, str) or not text:
        raise CvssError("no CVSS vector given")
    if len(text) > MAX_VECTOR_LENGTH:
        raise CvssError(
            f"{len(text)} characters is longer than any CVSS vector ({MAX_VECTOR_LENGTH} at most)"
        )
    if not _CHARACTERS.fullmatch(text):
        raise CvssError("a CVSS vector holds only letters, digits, ':', '/' and '.'")
    prefix = text.split("/", 1)[0]
    version = PREFIXES.get(prefix)
    if version is None:
        if prefix.startswith("CVSS:2") or _CVSS2_METRIC.search(text):
            raise CvssError("CVSS 2.0 is not taken: give a CVSS 3.1 or 4.0 vector")
        raise CvssError("a CVSS vector starts with CVSS:4.0/, CVSS:3.1/ or CVSS:3.0/")
    try:
        if version == "4.0":
            v4 = CVSS4(text)
            return Vector(version, str(v4.clean_vector()), float(v4.base_score))
        v3 = CVSS3(text)
        return Vector(version, str(v3.clean_vector()), float(v3.scores()[0]))
    except (CVSSError, ValueError, LookupError) as error:
        raise CvssError(f"not a valid CVSS {version} vector: {_reason(error, text)}") from None


def _reason(error: Exception, text: str) -> str:
    """The library's message, without the vector it repeats; one line."""
    message = str(error).replace(f' "{text}"', "").replace(text, "the vector")
    return " ".join(message.split()) or type(error).__name__


def advisory_vectors(advisory: Mapping[str, Any]) -> list[tuple[str, Vector]]:
    """(GitHub's key, vector) for each CVSS vector the advisory holds, v3 then v4.

    A vector that is not valid, or sits under the wrong version's key, raises
    CvssError naming the field (`cvss_severities.cvss_v4: ...`)."""
    found = []
    severities = advisory.get("cvss_severities") or {}
    for key, _osv_type in GITHUB_KEYS:
        entry = severities.get(key) or {}
        text = entry.get("vector_string") if isinstance(entry, Mapping) else None
        if not text:
            continue
        try:
            vector = parse_vector(text)
        except CvssError as error:
            raise CvssError(f"cvss_severities.{key}: {error}") from None
        if f"cvss_v{vector.major}" != key:
            raise CvssError(f"cvss_severities.{key}: a CVSS {vector.version} vector")
        found.append((key, vector))
    return found


def osv_type(key: str) -> str:
    """OSV's severity type for GitHub's key: `cvss_v4` -> `CVSS_V4`."""
    return dict(GITHUB_KEYS)[key]
