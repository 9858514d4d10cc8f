"""Check a report against the team's report template, for the acknowledgement.

Pure functions over the advisory's text: which required sections are missing
or empty, whether the reporter scored CVSS themselves, and whether the only
versions named are pre-releases or unsupported. Each finding is a sentence
written to the reporter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_HEADING = re.compile(r"^\s{0,3}(?:#{1,6}\s*|\*\*)?(?P<title>[^\n*#:]+?)(?:\*\*)?\s*:?\s*$")
_VERSION = re.compile(r"(?<![\d.])3\.(\d{1,2})(?![\d])")
_CVSS_VECTOR = re.compile(r"CVSS:\d\.\d/\S*")


def sections(description: str) -> dict[str, str]:
    """The text under each heading-like line (`## Title`, `**Title**`, `Title:`)."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    for line in description.replace("\r\n", "\n").split("\n"):
        match = _HEADING.match(line)
        is_heading = match is not None and (
            line.lstrip().startswith(("#", "**")) or line.rstrip().endswith(":")
        )
        if is_heading and match is not None:
            current = match.group("title").strip().lower()
            found.setdefault(current, [])
        elif current is not None:
            found[current].append(line)
    return {title: "\n".join(lines).strip() for title, lines in found.items()}


def check_report(
    advisory: Mapping[str, Any],
    *,
    required_sections: Sequence[str],
    supported_versions: Sequence[str],
    prerelease_versions: Sequence[str],
) -> list[str]:
    description = str(advisory.get("description") or "")
    findings = []
    present = sections(description)
    for wanted in required_sections:
        body = present.get(wanted.lower())
        if body is None:
            findings.append(f"The report has no **{wanted}** section; please add one.")
        elif not body:
            findings.append(f"The **{wanted}** section is empty; please fill it in.")
    if _reporter_scored_cvss(advisory, description):
        findings.append(
            "The report includes a CVSS score. The team scores every report itself, "
            "so there is no need to provide one."
        )
    without_vectors = _CVSS_VECTOR.sub(" ", description)  # "CVSS:3.1/..." is not Python 3.1
    named = sorted({f"3.{minor}" for minor in _VERSION.findall(without_vectors)}, key=_version_key)
    if named and supported_versions:
        eligible = [v for v in named if v in supported_versions]
        if not eligible:
            pre = [v for v in named if v in prerelease_versions]
            kind = "pre-release" if pre and len(pre) == len(named) else "unsupported or pre-release"
            findings.append(
                f"The report names only {kind} versions ({', '.join(named)}). Please say "
                f"whether a supported version ({', '.join(supported_versions)}) is affected: "
                "only those are eligible for a CVE."
            )
    return findings


def _reporter_scored_cvss(advisory: Mapping[str, Any], description: str) -> bool:
    if _CVSS_VECTOR.search(description):
        return True
    cvss = advisory.get("cvss") or {}
    severities = advisory.get("cvss_severities") or {}
    vectors = [cvss.get("vector_string")] + [
        (severities.get(key) or {}).get("vector_string") for key in ("cvss_v3", "cvss_v4")
    ]
    return any(vectors)


def _version_key(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)
