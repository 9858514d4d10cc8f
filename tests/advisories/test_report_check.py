"""The report check against CPython's report template (pure function)."""

from __future__ import annotations

from bot.advisories.report_check import check_report, sections

TEMPLATE = {
    "required_sections": ["Summary", "Threat model", "Proof of concept", "Versions tested"],
    "supported_versions": ["3.10", "3.11", "3.12", "3.13", "3.14"],
    "prerelease_versions": ["3.15"],
}


def test_headings_in_the_forms_reporters_use() -> None:
    text = "## Summary\nx\n**Threat model**\ny\nProof of concept:\nz\n#### Versions tested\n3.12"
    assert sections(text) == {
        "summary": "x",
        "threat model": "y",
        "proof of concept": "z",
        "versions tested": "3.12",
    }


def test_a_complete_report_has_no_findings() -> None:
    text = (
        "### Summary\na\n### Threat model\nb\n### Proof of concept\nc\n### Versions tested\n3.13.1"
    )
    assert check_report({"description": text}, **TEMPLATE) == []


def test_unsupported_and_cvss_findings() -> None:
    text = "### Summary\na\n### Threat model\nb\n### Proof of concept\nc\n### Versions tested\n3.8 and 3.15"
    findings = check_report({"description": text}, **TEMPLATE)
    assert findings == [
        "The report names only unsupported or pre-release versions (3.8, 3.15). Please say "
        "whether a supported version (3.10, 3.11, 3.12, 3.13, 3.14) is affected: only those "
        "are eligible for a CVE."
    ]
    scored = {
        "description": text.replace("3.8 and 3.15", "3.12"),
        "cvss_severities": {"cvss_v4": {"vector_string": "CVSS:4.0/AV:N"}},
    }
    assert check_report(scored, **TEMPLATE) == [
        "The report includes a CVSS score. The team scores every report itself, so there is "
        "no need to provide one."
    ]


def test_a_cvss_vector_is_not_a_python_version() -> None:
    text = "### Versions tested\n3.13\nCVSS:3.1/AV:N/AC:L"
    findings = check_report(
        {"description": text},
        required_sections=[],
        supported_versions=["3.13"],
        prerelease_versions=[],
    )
    assert findings == [
        "The report includes a CVSS score. The team scores every report itself, so there is "
        "no need to provide one."
    ]
