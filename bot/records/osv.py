"""The OSV record of a published advisory (OSV 1.7.5), validated before it is returned.

id (the GHSA id or a `PREFIX-YEAR-N` number), aliases, summary, details, affected
(GitHub's ecosystems mapped, or one GIT range with a `fixed` commit per merged
fix), references, severity (CVSS v3 and v4), CWEs, accepted credits only.
"""

from __future__ import annotations

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


def osv_record(inputs: RecordInputs) -> dict[str, Any]:
    """The OSV record of a published advisory, validated."""
    advisory = inputs.advisory
    ghsa_id = str(advisory["ghsa_id"])
    record_id = inputs.record_id or ghsa_id
    aliases = [advisory["cve_id"]] if advisory.get("cve_id") else []
    if record_id != ghsa_id:
        aliases.append(ghsa_id)
    record: dict[str, Any] = {
        "schema_version": OSV_SCHEMA_VERSION,
        "id": record_id,
        "modified": rfc3339(inputs.modified or advisory.get("updated_at") or ""),
        "published": rfc3339(advisory.get("published_at") or ""),
        "aliases": aliases,
        "summary": advisory.get("summary") or "",
        "details": advisory.get("description") or "",
        "affected": _osv_affected(inputs),
        "references": _osv_references(inputs),
    }
    severity = [
        {"type": osv_type, "score": vector}
        for osv_type, vector in cvss_vectors(advisory)
        if osv_type in {"CVSS_V3", "CVSS_V4"}
    ]
    if severity:
        record["severity"] = severity
    credits = [
        {"name": login, "contact": [f"https://github.com/{login}"], "type": kind.upper()}
        for login, kind in accepted_credits(advisory)
    ]
    if credits:
        record["credits"] = credits
    record["database_specific"] = {"cwe_ids": list(advisory.get("cwe_ids") or [])}
    if advisory.get("severity"):
        severity_name = "MODERATE" if advisory["severity"] == "medium" else advisory["severity"]
        record["database_specific"]["severity"] = str(severity_name).upper()
    validate("osv", record)
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
    # No package in a known ecosystem (CPython's case): one GIT range on the repository,
    # introduced at the start, fixed by each merged fix commit (one per backport).
    events = [{"introduced": "0"}] + [
        {"fixed": str(fix.merge_commit)} for fix in merged_fixes(inputs.fixes)
    ]
    return [
        {
            "ranges": [
                {
                    "type": "GIT",
                    "repo": f"https://github.com/{inputs.repository}",
                    "events": events,
                }
            ]
        }
    ]


def _osv_references(inputs: RecordInputs) -> list[dict[str, str]]:
    references = [{"type": "ADVISORY", "url": str(inputs.advisory["html_url"])}]
    for fix in inputs.fixes:
        references.append(
            {"type": "WEB", "url": f"https://github.com/{fix.repository}/pull/{fix.number}"}
        )
    for fix in merged_fixes(inputs.fixes):
        references.append(
            {"type": "FIX", "url": f"https://github.com/{fix.repository}/commit/{fix.merge_commit}"}
        )
    references.extend({"type": kind, "url": url} for kind, url in inputs.extra_references)
    return references
