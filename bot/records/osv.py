"""The OSV record of a published advisory (OSV 1.7.5), validated before it is returned.

id (the GHSA id, a `PREFIX-YEAR-N` number, or a `PREFIX-0000-...` placeholder),
aliases, summary, details, affected (GitHub's ecosystems mapped, or one GIT range per
repository with a `fixed` commit per merged fix), references, severity (CVSS v3 and
v4), CWEs, accepted credits only, by the name on the person's GitHub profile when
there is one (the login otherwise), with the profile as contact.

`layout = "psf-advisory-database"` makes the record psf/advisory-database takes:
its CI checks every file against its pinned OSV schema (1.5.0, shipped as
schemas/psf-osv-schema.json), which knows `CVSS_V2` and `CVSS_V3` only. So the
severity carries the v3 vector alone, and a v4 vector goes in
`database_specific.cvss_v4`, which that schema leaves free; `schema_version` says
1.5.0, as the database's own records and tools do; links in the description to the
repository's own issues become `REPORT` references. The record must pass both the
current schema and the database's.
"""

from __future__ import annotations

import re
from typing import Any

from bot.records.documents import (
    OSV_ECOSYSTEMS,
    OSV_SCHEMA_VERSION,
    RecordInputs,
    accepted_credits,
    cvss_vectors,
    merged_fixes,
    packages_of,
    rfc3339,
    validate,
    version_range,
)

PSF_LAYOUT = "psf-advisory-database"
# What psf/advisory-database's records and tools (tools/osv_utils.py) say, and the
# version its pinned schema is (ossf/osv-schema a2972fcb, schemas/README.md).
PSF_SCHEMA_VERSION = "1.5.0"
# At most this many REPORT references are taken from a description.
MAX_REPORTS = 10


def osv_record(inputs: RecordInputs, *, layout: str = "osv") -> dict[str, Any]:
    """The OSV record of a published advisory, validated (against both schemas for PSF)."""
    psf = layout == PSF_LAYOUT
    advisory = inputs.advisory
    ghsa_id = str(advisory["ghsa_id"])
    record_id = inputs.record_id or ghsa_id
    aliases = [advisory["cve_id"]] if advisory.get("cve_id") else []
    if record_id != ghsa_id:
        aliases.append(ghsa_id)
    record: dict[str, Any] = {
        "schema_version": PSF_SCHEMA_VERSION if psf else OSV_SCHEMA_VERSION,
        "id": record_id,
        "modified": rfc3339(inputs.modified or advisory.get("updated_at") or ""),
        "published": rfc3339(advisory.get("published_at") or ""),
        "aliases": aliases,
        "summary": advisory.get("summary") or "",
        "details": advisory.get("description") or "",
        "affected": _osv_affected(inputs),
        "references": _osv_references(inputs, reports=psf),
    }
    related = [i for ids, _ in inputs.related for i in ids if i not in aliases and i != ghsa_id]
    if related:
        record["related"] = list(dict.fromkeys(related))
    vectors = dict(cvss_vectors(advisory))
    kinds = ("CVSS_V3",) if psf else ("CVSS_V3", "CVSS_V4")
    severity = [{"type": kind, "score": vectors[kind]} for kind in kinds if kind in vectors]
    if severity:
        record["severity"] = severity
    credits = [
        {
            "name": inputs.names.get(login) or login,
            "contact": [f"https://github.com/{login}"],
            "type": kind.upper(),
        }
        for login, kind in accepted_credits(advisory)
    ]
    if credits:
        record["credits"] = credits
    record["database_specific"] = {"cwe_ids": list(advisory.get("cwe_ids") or [])}
    if advisory.get("severity"):
        severity_name = "MODERATE" if advisory["severity"] == "medium" else advisory["severity"]
        record["database_specific"]["severity"] = str(severity_name).upper()
    if psf and "CVSS_V4" in vectors:
        record["database_specific"]["cvss_v4"] = vectors["CVSS_V4"]
    validate("osv", record)
    if psf:
        validate("psf-osv", record)
    return record


def _osv_affected(inputs: RecordInputs) -> list[dict[str, Any]]:
    affected = []
    for ecosystem, name, vulnerability in packages_of(inputs.advisory):
        if ecosystem not in OSV_ECOSYSTEMS:
            continue
        span = version_range(vulnerability)
        events: list[dict[str, str]] = [{"introduced": span.introduced}]
        if span.fixed:
            events.append({"fixed": span.fixed})
        elif span.last_affected:
            events.append({"last_affected": span.last_affected})
        affected.append(
            {
                "package": {"ecosystem": OSV_ECOSYSTEMS[ecosystem], "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        )
    if affected:
        return affected
    # No package in a known ecosystem (CPython's case): one GIT range per repository
    # (the advisory's first), introduced at the start, fixed by each merged fix commit
    # there (one per backport).
    fixed: dict[str, list[dict[str, str]]] = {inputs.repository.lower(): []}
    for fix in merged_fixes(inputs.fixes):
        fixed.setdefault(fix.repository.lower(), []).append({"fixed": str(fix.merge_commit)})
    names = {fix.repository.lower(): fix.repository for fix in inputs.fixes}
    names[inputs.repository.lower()] = inputs.repository
    return [
        {
            "ranges": [
                {
                    "type": "GIT",
                    "repo": f"https://github.com/{names[repository]}",
                    "events": [{"introduced": "0"}, *events],
                }
                for repository, events in fixed.items()
            ]
        }
    ]


def _reports(inputs: RecordInputs) -> list[str]:
    """Links in the description to issues of the advisory's own repository.

    The description is the reporter's to edit, so nothing else becomes a reference:
    an issue of the project's own tracker is what a REPORT reference is in the PSF's
    records, and GitHub shows the same link on the published advisory.
    """
    pattern = re.compile(
        rf"https://github\.com/{re.escape(inputs.repository)}/issues/([1-9][0-9]{{0,9}})\b",
        re.IGNORECASE,
    )
    numbers = dict.fromkeys(
        m.group(1) for m in pattern.finditer(str(inputs.advisory.get("description") or ""))
    )
    return [
        f"https://github.com/{inputs.repository}/issues/{n}" for n in list(numbers)[:MAX_REPORTS]
    ]


def _osv_references(inputs: RecordInputs, *, reports: bool = False) -> list[dict[str, str]]:
    references = [{"type": "ADVISORY", "url": str(inputs.advisory["html_url"])}]
    for fix in inputs.fixes:
        references.append(
            {"type": "WEB", "url": f"https://github.com/{fix.repository}/pull/{fix.number}"}
        )
    if reports:
        references.extend({"type": "REPORT", "url": url} for url in _reports(inputs))
    for fix in merged_fixes(inputs.fixes):
        references.append(
            {"type": "FIX", "url": f"https://github.com/{fix.repository}/commit/{fix.merge_commit}"}
        )
    references.extend({"type": kind, "url": url} for kind, url in inputs.extra_references)
    return references
