"""OSV and CVE JSON 5 records, and the publication checklist, item by item."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bot.advisories.public import public_view
from bot.core.config import CHECKLIST_ITEMS, PublishConfig, RecordsConfig
from bot.records.checklist import Facts, run_checklist
from bot.records.cve_record import cve_record
from bot.records.documents import (
    Fix,
    RecordError,
    RecordInputs,
    RecordNotApplicable,
    version_range,
)
from bot.records.osv import osv_record
from tests.harness import ROOT

ORG = "28c92f92-d60d-412d-b760-e73465c3df22"
COMMITS = ("391e5626e3ee5af267b97e37abc7475732e67621", "dcc3eaef98cd94d6cb6cb0f44bd1c903d04f33b1")
CPYTHON = RecordsConfig(vendor="Python Software Foundation", product="CPython", cna_org_id=ORG)


def realistic_advisory(**changes: Any) -> dict[str, Any]:
    """An advisory as GitHub's REST API returns it once published (CPython's shape)."""
    advisory: dict[str, Any] = {
        "ghsa_id": "GHSA-2345-6789-cfgh",
        "cve_id": "CVE-2024-7592",
        "state": "published",
        "html_url": "https://github.com/python/cpython/security/advisories/GHSA-2345-6789-cfgh",
        "summary": "Quadratic complexity parsing quoted cookie values with backslashes",
        "description": "There is a LOW severity vulnerability affecting CPython, specifically "
        "the 'http.cookies' standard library module.\n\nWhen parsing cookies that contained "
        "backslashes for quoted characters in the cookie value, the parser would use an "
        "algorithm with quadratic complexity.",
        "severity": "low",
        "cvss_severities": {
            "cvss_v3": {
                "vector_string": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L",
                "score": 5.3,
            },
            "cvss_v4": {
                "vector_string": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:L/SC:N/SI:N/SA:N",
                "score": 6.9,
            },
        },
        "cwe_ids": ["CWE-400"],
        "cwes": [{"cwe_id": "CWE-400", "name": "Uncontrolled Resource Consumption"}],
        "vulnerabilities": [
            {
                "package": {"ecosystem": "other", "name": "cpython"},
                "vulnerable_version_range": None,
                "patched_versions": None,
                "vulnerable_functions": [],
            }
        ],
        "published_at": "2024-08-19T19:06:45Z",
        "updated_at": "2024-09-04T20:24:00Z",
        "identifiers": [{"type": "GHSA", "value": "GHSA-2345-6789-cfgh"}],
        "credits_detailed": [
            {"user": {"login": "kenballus"}, "type": "finder", "state": "accepted"},
            {"user": {"login": "sethmlarson"}, "type": "coordinator", "state": "accepted"},
            {"user": {"login": "serhiy"}, "type": "remediation_developer", "state": "accepted"},
            {"user": {"login": "vstinner"}, "type": "remediation_reviewer", "state": "accepted"},
            {"user": {"login": "lurker"}, "type": "analyst", "state": "pending"},
            {"user": {"login": "nope"}, "type": "other", "state": "declined"},
        ],
    }
    advisory.update(changes)
    return advisory


def inputs(advisory: dict[str, Any], record_id: str = "PSF-2024-9") -> RecordInputs:
    fixes = [Fix("python/cpython", 123075, COMMITS[0]), Fix("python/cpython", 123106, COMMITS[1])]
    return RecordInputs("python/cpython", public_view(advisory), fixes, record_id=record_id)


def fixture_schema(fixtures: Path, name: str) -> Any:
    schema = json.loads((fixtures / "schemas" / name).read_text())
    validator = jsonschema.validators.validator_for(schema)
    return validator(schema, format_checker=validator.FORMAT_CHECKER)


def test_the_shipped_osv_schema_is_the_pinned_upstream_copy(fixtures: Path) -> None:
    shipped = ROOT / "bot" / "records" / "schemas" / "osv-schema.json"
    assert shipped.read_bytes() == (fixtures / "schemas" / "osv-schema.json").read_bytes()


def test_osv_record_validates_and_round_trips_accepted_credits(fixtures: Path) -> None:
    record = osv_record(inputs(realistic_advisory()))
    assert list(fixture_schema(fixtures, "osv-schema.json").iter_errors(record)) == []
    assert record["id"] == "PSF-2024-9"
    assert record["aliases"] == ["CVE-2024-7592", "GHSA-2345-6789-cfgh"]
    assert record["credits"] == [
        {"name": "kenballus", "contact": ["https://github.com/kenballus"], "type": "FINDER"},
        {
            "name": "sethmlarson",
            "contact": ["https://github.com/sethmlarson"],
            "type": "COORDINATOR",
        },
        {
            "name": "serhiy",
            "contact": ["https://github.com/serhiy"],
            "type": "REMEDIATION_DEVELOPER",
        },
        {
            "name": "vstinner",
            "contact": ["https://github.com/vstinner"],
            "type": "REMEDIATION_REVIEWER",
        },
    ]  # pending and declined credits are not public, so not exported
    assert record["severity"] == [
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"},
        {
            "type": "CVSS_V4",
            "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:L/SC:N/SI:N/SA:N",
        },
    ]
    assert record["database_specific"]["cwe_ids"] == ["CWE-400"]
    # The same shape as psf/advisory-database's records: one GIT range on the
    # repository, introduced at 0, one fixed commit per merged fix.
    psf = json.loads((fixtures / "cpython" / "PSF-2024-9.osv.json").read_text())
    ours, theirs = record["affected"][0]["ranges"][0], psf["affected"][0]["ranges"][0]
    assert (ours["type"], ours["repo"]) == (theirs["type"], theirs["repo"])
    assert ours["events"][0] == theirs["events"][0] == {"introduced": "0"}
    assert ours["events"][1:] == [{"fixed": c} for c in COMMITS]
    assert {r["type"] for r in record["references"]} <= {r["type"] for r in psf["references"]}
    assert {"type": "FIX", "url": f"https://github.com/python/cpython/commit/{COMMITS[0]}"} in (
        record["references"]
    )


def test_osv_maps_ecosystems_and_version_ranges(fixtures: Path) -> None:
    advisory = realistic_advisory(
        vulnerabilities=[
            {
                "package": {"ecosystem": "pip", "name": "pip"},
                "vulnerable_version_range": ">= 21.0, < 25.3",
                "patched_versions": "25.3",
                "vulnerable_functions": [],
            }
        ]
    )
    record = osv_record(inputs(advisory, record_id=""))
    assert list(fixture_schema(fixtures, "osv-schema.json").iter_errors(record)) == []
    assert record["id"] == "GHSA-2345-6789-cfgh" and record["aliases"] == ["CVE-2024-7592"]
    assert record["affected"] == [
        {
            "package": {"ecosystem": "PyPI", "name": "pip"},
            "ranges": [
                {"type": "ECOSYSTEM", "events": [{"introduced": "21.0"}, {"fixed": "25.3"}]}
            ],
        }
    ]
    assert version_range({"vulnerable_version_range": "<= 1.4"}).last_affected == "1.4"


def test_cve_record_validates_with_spaced_credit_types_and_both_cvss_versions(
    fixtures: Path,
) -> None:
    record = cve_record(inputs(realistic_advisory()), CPYTHON)
    assert list(fixture_schema(fixtures, "CVE_JSON_bundled_5.1.1.json").iter_errors(record)) == []
    cna = record["containers"]["cna"]
    assert record["cveMetadata"] == {
        "cveId": "CVE-2024-7592",
        "assignerOrgId": ORG,
        "state": "PUBLISHED",
    }
    assert cna["credits"] == [
        {"lang": "en", "value": "kenballus", "type": "finder"},
        {"lang": "en", "value": "sethmlarson", "type": "coordinator"},
        {"lang": "en", "value": "serhiy", "type": "remediation developer"},
        {"lang": "en", "value": "vstinner", "type": "remediation reviewer"},
    ]
    kinds = [next(iter(m)) for m in cna["metrics"]]
    assert kinds == ["cvssV4_0", "cvssV3_1"]
    assert cna["metrics"][0]["cvssV4_0"]["baseSeverity"] == "MEDIUM"
    assert cna["problemTypes"][0]["descriptions"][0]["cweId"] == "CWE-400"
    assert cna["affected"][0]["vendor"] == "Python Software Foundation"
    assert cna["descriptions"][0]["lang"] == "en"


def test_an_invalid_advisory_is_refused_naming_the_field() -> None:
    with pytest.raises(RecordError, match=r"problemTypes\[0\]\.descriptions\[0\]\.cweId"):
        cve_record(inputs(realistic_advisory(cwe_ids=["CWE-four hundred"])), CPYTHON)
    short = RecordInputs(
        "python/cpython", public_view(realistic_advisory()), [Fix("python/cpython", 1, "abc123")]
    )
    with pytest.raises(RecordError, match=r"OSV record is invalid at affected\[0\]\.ranges\[0\]"):
        osv_record(short)
    with pytest.raises(RecordNotApplicable, match="no CVE ID"):
        cve_record(inputs(realistic_advisory(cve_id=None)), CPYTHON)
    with pytest.raises(RecordNotApplicable, match=r"records\.cna_org_id"):
        cve_record(inputs(realistic_advisory()), RecordsConfig())


def ready_advisory() -> dict[str, Any]:
    advisory = realistic_advisory(state="draft", description="## Impact\nbad\n## Patches\nyes\n")
    return advisory


@pytest.mark.parametrize(
    ("item", "spoil", "says"),
    [
        ("cvss_v4", {"cvss_severities": {"cvss_v3": None, "cvss_v4": None}}, "no CVSS v4"),
        ("cwe", {"cwe_ids": []}, "no CWE"),
        ("coordinator_credit", {"credits_detailed": []}, "is not credited as coordinator"),
        ("merged_fix", None, "no merged public fix"),
        ("description_sections", {"description": "## Impact\nbad\n"}, "lacks Patches"),
        ("cve", {"cve_id": None}, "no CVE ID"),
        ("credits_accepted", None, "credits not accepted: @lurker (pending), @nope (declined)"),
    ],
)
def test_each_checklist_item_fails_alone_and_says_how_to_fix_it(
    item: str, spoil: dict[str, Any] | None, says: str
) -> None:
    config = PublishConfig(description_sections=("Impact", "Patches"))
    advisory = ready_advisory()
    accepted = [dict(c, state="accepted") for c in advisory["credits_detailed"]]
    advisory["credits_detailed"] = accepted
    [coordinator] = [
        str(c["user"]["login"]) for c in advisory["credits_detailed"] if c["type"] == "coordinator"
    ]
    facts = Facts(["python/cpython#123075"], coordinator, cve_bound=True)
    assert all(check.passed for check in run_checklist(advisory, facts, config))
    if item == "merged_fix":
        facts = Facts([], coordinator, cve_bound=True)
    elif item == "credits_accepted":
        advisory = ready_advisory()
    else:
        advisory.update(spoil or {})
    checks = run_checklist(advisory, facts, config)
    failed = [check for check in checks if not check.passed]
    assert [check.item for check in failed] == [item]
    assert says in failed[0].detail
    if item == "credits_accepted":
        waived = run_checklist(advisory, facts, config, waive_credits=True)
        assert all(check.passed for check in waived)
        assert "waived" in waived[-1].detail


def test_the_checklist_runs_only_the_configured_items() -> None:
    config = PublishConfig(checklist=("cve",))
    checks = run_checklist(realistic_advisory(cwe_ids=[]), Facts(cve_bound=True), config)
    assert [(c.item, c.passed) for c in checks] == [("cve", True)]
    assert PublishConfig().checklist == CHECKLIST_ITEMS


def test_the_checklist_counts_only_the_recorded_coordinators_credit_and_a_bound_cve() -> None:
    """Any collaborator (the reporter too) can edit credits and the CVE field; and the
    answer must not depend on who else is credited (no oracle of team membership)."""
    config = PublishConfig(checklist=("coordinator_credit", "cve"))
    advisory = ready_advisory()
    [credited] = [
        str(c["user"]["login"]) for c in advisory["credits_detailed"] if c["type"] == "coordinator"
    ]
    assert advisory["cve_id"]
    checks = run_checklist(advisory, Facts(coordinator=None, cve_bound=False), config)
    assert [c.passed for c in checks] == [False, False]
    assert checks[0].detail == "no coordinator: `/coordinate` or `/assign @member`"
    assert "was not got for this advisory by the bot" in checks[1].detail
    checks = run_checklist(advisory, Facts(coordinator="someone-else", cve_bound=False), config)
    assert "@someone-else coordinates but is not credited" in checks[0].detail
    checks = run_checklist(advisory, Facts(coordinator=credited, cve_bound=True), config)
    assert [c.passed for c in checks] == [True, True]


def test_a_coordinator_credit_the_coordinator_declined_passes_and_says_so() -> None:
    """Declining a credit is the coordinator's choice: publication is not held back, and
    whoever reads the checklist learns GitHub will not show it."""
    config = PublishConfig(checklist=("coordinator_credit",))
    advisory = ready_advisory()
    [credit] = [c for c in advisory["credits_detailed"] if c["type"] == "coordinator"]
    coordinator = str(credit["user"]["login"])
    credit["state"] = "declined"
    [check] = run_checklist(advisory, Facts(coordinator=coordinator), config)
    assert check.passed
    assert check.detail == (
        f"coordinator credit: @{coordinator}, who declined it "
        "(GitHub will not show it; the bot's record keeps who coordinated)"
    )
    credit["state"] = "pending"
    [check] = run_checklist(advisory, Facts(coordinator=coordinator), config)
    assert (check.passed, check.detail) == (True, f"coordinator credit: @{coordinator}")
