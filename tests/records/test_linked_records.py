"""Records of a linked advisory name the linked advisories already public."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bot.records.cve_record import cve_record
from bot.records.osv import osv_record
from tests.records.test_records import CPYTHON, fixture_schema, inputs, realistic_advisory

PIP = "https://github.com/pypa/pip/security/advisories/GHSA-4xqq-73wg-5mjp"


def test_osv_related_and_cve_references_name_the_published_linked_advisories(
    fixtures: Path,
) -> None:
    linked = replace(
        inputs(realistic_advisory()),
        related=((["GHSA-4xqq-73wg-5mjp", "CVE-2026-50002"], PIP),),
    )
    osv = osv_record(linked)
    assert osv["related"] == ["GHSA-4xqq-73wg-5mjp", "CVE-2026-50002"]
    cve = cve_record(linked, CPYTHON)
    assert {"url": PIP, "tags": ["related"]} in cve["containers"]["cna"]["references"]
    assert list(fixture_schema(fixtures, "CVE_JSON_bundled_5.1.1.json").iter_errors(cve)) == []
    # Without linked advisories public, neither record names any.
    alone = inputs(realistic_advisory())
    assert "related" not in osv_record(alone)
    assert all(
        "related" not in r.get("tags", [])
        for r in cve_record(alone, CPYTHON)["containers"]["cna"]["references"]
    )
