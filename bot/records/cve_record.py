"""The CVE record (CVE JSON 5.1) of a published advisory: its CNA container,
validated against the schema CNAs use before it is returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.config import RecordsConfig
from bot.records.cvss_vectors import CvssError, advisory_vectors
from bot.records.documents import (
    CVE_DATA_VERSION,
    OSV_ECOSYSTEMS,
    PACKAGE_REGISTRIES,
    RecordError,
    RecordInputs,
    RecordNotApplicable,
    accepted_credits,
    cvss_severity,
    merged_fixes,
    packages_of,
    require,
    rfc3339,
    validate,
    version_range,
)


def cve_record(inputs: RecordInputs, config: RecordsConfig, *, org_id: str = "") -> dict[str, Any]:
    """The CVE JSON 5.1 record (CNA container inside), validated.

    `org_id` is the CNA's organization UUID (CVE Services answers it); without
    it, `records.cna_org_id` from the configuration.
    """
    advisory = inputs.advisory
    if not advisory.get("cve_id"):
        raise RecordNotApplicable("the advisory has no CVE ID: reserve one with /cve first")
    cve_id = advisory["cve_id"]
    assigner = org_id or config.cna_org_id
    if not assigner:
        raise RecordNotApplicable(
            "no CNA organization id: set records.cna_org_id in bot.toml "
            "(CVE Services' `org` UUID), or use the cve-services provider"
        )
    container: dict[str, Any] = {
        "providerMetadata": {"orgId": assigner},
        "title": str(require(advisory, "summary", "a CVE record needs a title"))[:256],
        "descriptions": [
            {
                "lang": "en",
                "value": require(advisory, "description", "a CVE record needs a description"),
            }
        ],
        "affected": _cve_affected(inputs, config),
        "references": _cve_references(inputs),
    }
    if advisory.get("published_at"):
        container["datePublic"] = rfc3339(advisory["published_at"])
    cwes = _cwe_names(advisory)
    if cwes:
        container["problemTypes"] = [
            {
                "descriptions": [
                    {"lang": "en", "type": "CWE", "cweId": cwe, "description": name}
                    for cwe, name in cwes
                ]
            }
        ]
    metrics = _cve_metrics(advisory)
    if metrics:
        container["metrics"] = metrics
    credits = [
        {"lang": "en", "value": inputs.names.get(login) or login, "type": kind.replace("_", " ")}
        for login, kind in accepted_credits(advisory)
    ]
    if credits:
        container["credits"] = credits
    record = {
        "dataType": "CVE_RECORD",
        "dataVersion": CVE_DATA_VERSION,
        "cveMetadata": {"cveId": cve_id, "assignerOrgId": assigner, "state": "PUBLISHED"},
        "containers": {"cna": container},
    }
    validate("cve", record)
    return record


def _cve_affected(inputs: RecordInputs, config: RecordsConfig) -> list[dict[str, Any]]:
    repo_url = f"https://github.com/{inputs.repository}"
    owner, _, name = inputs.repository.partition("/")
    packages = packages_of(inputs.advisory)
    affected = []
    for ecosystem, package, vulnerability in packages or [("other", name, {})]:
        entry: dict[str, Any]
        if config.product:
            entry = {"vendor": config.vendor or owner, "product": config.product}
        elif ecosystem in PACKAGE_REGISTRIES:
            entry = {"collectionURL": PACKAGE_REGISTRIES[ecosystem], "packageName": package}
        else:
            entry = {"vendor": config.vendor or owner, "product": package}
        entry["repo"] = repo_url
        span = version_range(vulnerability)
        if span.fixed or span.last_affected:
            version: dict[str, str] = {
                "version": span.introduced,
                "status": "affected",
                "versionType": OSV_ECOSYSTEMS.get(ecosystem, "custom"),
            }
            if span.fixed:
                version["lessThan"] = span.fixed
            else:
                version["lessThanOrEqual"] = str(span.last_affected)
            entry["versions"] = [version]
            entry["defaultStatus"] = "unaffected"
        else:
            entry["defaultStatus"] = "affected"
        affected.append(entry)
    return affected


def _cve_references(inputs: RecordInputs) -> list[dict[str, Any]]:
    references: list[dict[str, Any]] = [
        {"url": str(inputs.advisory["html_url"]), "tags": ["vendor-advisory"]}
    ]
    for fix in inputs.fixes:
        references.append(
            {"url": f"https://github.com/{fix.repository}/pull/{fix.number}", "tags": ["patch"]}
        )
    for fix in merged_fixes(inputs.fixes):
        references.append(
            {
                "url": f"https://github.com/{fix.repository}/commit/{fix.merge_commit}",
                "tags": ["patch"],
            }
        )
    references.extend({"url": url} for _, url in inputs.extra_references)
    references.extend({"url": url, "tags": ["related"]} for _, url in inputs.related)
    return references


def _cwe_names(advisory: Mapping[str, Any]) -> list[tuple[str, str]]:
    names = {c["cwe_id"]: c["name"] for c in advisory.get("cwes") or [] if c.get("name")}
    return [
        (cwe, f"{cwe}: {names[cwe]}" if cwe in names else cwe)
        for cwe in advisory.get("cwe_ids") or []
    ]


def _cve_metrics(advisory: Mapping[str, Any]) -> list[dict[str, Any]]:
    """CVSS v4 then v3, each checked by the `cvss` library (bot/records/cvss_vectors.py):
    its canonical vector and the base score the library computes for it."""
    try:
        found = dict(advisory_vectors(advisory))
    except CvssError as error:
        raise RecordError(str(error)) from None
    metrics = []
    for key in ("cvss_v4", "cvss_v3"):
        if key not in found:
            continue
        vector = found[key]
        name = "cvssV" + vector.version.replace(".", "_")  # cvssV4_0, cvssV3_1, cvssV3_0
        metrics.append(
            {
                name: {
                    "version": vector.version,
                    "vectorString": vector.vector,
                    "baseScore": vector.base_score,
                    "baseSeverity": cvss_severity(vector.base_score),
                }
            }
        )
    return metrics
