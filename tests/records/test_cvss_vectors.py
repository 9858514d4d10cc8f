"""CVSS vectors are checked with the `cvss` library in one place (bot/records/cvss_vectors.py),
wherever they enter: `/cvss` (tests/handlers/end_to_end/test_cvss.py), the publication
checklist and the OSV and CVE records (here). Records are validated with format
checking on: a bad `date-time` or `uri` is refused."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from bot.core.config import PublishConfig
from bot.records.checklist import Facts, run_checklist
from bot.records.cve_record import cve_record
from bot.records.cvss_vectors import MAX_VECTOR_LENGTH, CvssError, advisory_vectors, parse_vector
from bot.records.documents import RecordError, unchecked_formats, validate
from bot.records.osv import osv_record
from tests.harness import ROOT
from tests.records.test_records import CPYTHON, inputs, realistic_advisory

V30 = "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"
V40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:L/SC:N/SI:N/SA:N"
# Every CVSS 4.0 metric, in the standard's order: the longest vector there is.
V40_FULL = (
    "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:A/CR:H/IR:M/AR:L"
    "/MAV:A/MAC:H/MAT:P/MPR:L/MUI:A/MVC:L/MVI:N/MVA:H/MSC:L/MSI:S/MSA:S/S:P/AU:Y/R:I/V:C"
    "/RE:H/U:Amber"
)
V31_FULL = (
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C/CR:H/IR:M/AR:L"
    "/MAV:A/MAC:H/MPR:L/MUI:R/MS:C/MC:L/MI:N/MA:H"
)


@pytest.mark.parametrize(
    ("text", "version", "score"),
    [(V30, "3.0", 9.8), (V31, "3.1", 5.3), (V40, "4.0", 6.9), (V40_FULL, "4.0", 5.5)],
)
def test_valid_3_0_3_1_and_4_0_vectors_parse(text: str, version: str, score: float) -> None:
    vector = parse_vector(text)
    assert (vector.version, vector.vector, vector.base_score) == (version, text, score)


def test_a_vector_is_kept_in_the_standards_order_without_undefined_metrics() -> None:
    shuffled = "CVSS:3.1/A:L/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/E:X"
    assert parse_vector(shuffled).vector == V31
    assert len(V40_FULL) < MAX_VECTOR_LENGTH


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "CVSS:3.1/AV:N/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            'not a valid CVSS 3.1 vector: Duplicate metric "AV"',
        ),
        (V40 + "/VC:H", 'not a valid CVSS 4.0 vector: Duplicate metric "VC"'),
        (V31 + "/ZZ:X", 'not a valid CVSS 3.1 vector: Unknown metric "ZZ" in field "ZZ:X"'),
        (V40 + "/XX:H", 'not a valid CVSS 4.0 vector: Invalid metric key in CVSS4 vector "XX:H"'),
        (V31.replace("AV:N", "AV:Q"), 'Unknown value "Q" in field "AV:Q"'),
        (V40.removesuffix("/SA:N"), 'not a valid CVSS 4.0 vector: Missing mandatory metrics "SA"'),
        (V31 + "/", 'not a valid CVSS 3.1 vector: Malformed CVSS3 vector, trailing "/"'),
        (
            V31.replace("/AC:L", "//AC:L"),
            "not a valid CVSS 3.1 vector: Empty field in CVSS3 vector",
        ),
        ("CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P", "CVSS 2.0 is not taken"),
        ("AV:N/AC:L/Au:N/C:P/I:P/A:P", "CVSS 2.0 is not taken"),
        ("CVSS:3.2/AV:N", "a CVSS vector starts with CVSS:4.0/, CVSS:3.1/ or CVSS:3.0/"),
        (V31.lower(), "a CVSS vector starts with CVSS:4.0/, CVSS:3.1/ or CVSS:3.0/"),
        (V31 + "\n", "a CVSS vector holds only letters, digits, ':', '/' and '.'"),
        (V31 + "/@python/psrt", "holds only letters, digits"),
        ("CVSS:3.1/AV:`N`", "holds only letters, digits"),
        ("CVSS:3.1/AV:\uff2e", "holds only letters, digits"),  # a full-width N
        (V31 + "/E:X" * 100, f"is longer than any CVSS vector ({MAX_VECTOR_LENGTH} at most)"),
        ("", "no CVSS vector given"),
        (None, "no CVSS vector given"),
        (3.1, "no CVSS vector given"),
    ],
)
def test_a_bad_vector_is_refused_with_one_line_that_says_why(text: Any, message: str) -> None:
    with pytest.raises(CvssError) as caught:
        parse_vector(text)
    said = str(caught.value)
    assert message in said
    assert "\n" not in said and len(said) < 200
    if isinstance(text, str) and len(text) > 20:
        assert text not in said  # the reply quotes the command already


def test_the_advisorys_vectors_must_be_valid_and_under_their_own_version() -> None:
    advisory = realistic_advisory()
    assert [(key, v.version) for key, v in advisory_vectors(advisory)] == [
        ("cvss_v3", "3.1"),
        ("cvss_v4", "4.0"),
    ]
    swapped = realistic_advisory(
        cvss_severities={"cvss_v3": {"vector_string": V40}, "cvss_v4": None}
    )
    with pytest.raises(CvssError, match=r"^cvss_severities\.cvss_v3: a CVSS 4\.0 vector$"):
        advisory_vectors(swapped)


def _with_v4(vector: str, **v3: Any) -> dict[str, Any]:
    return realistic_advisory(
        cvss_severities={
            "cvss_v3": v3 or {"vector_string": V31, "score": 5.3},
            "cvss_v4": {"vector_string": vector, "score": 6.9},
        }
    )


def test_records_refuse_a_vector_that_repeats_or_invents_a_metric() -> None:
    for vector, reason in (
        (V40 + "/AV:L", 'Duplicate metric "AV"'),
        (V40 + "/QQ:N", 'Invalid metric key in CVSS4 vector "QQ:N"'),
    ):
        advisory = _with_v4(vector)
        expected = rf"^cvss_severities\.cvss_v4: not a valid CVSS 4\.0 vector: {reason}$"
        with pytest.raises(RecordError, match=expected):
            osv_record(inputs(advisory))
        with pytest.raises(RecordError, match=expected):
            osv_record(inputs(advisory), layout="psf-advisory-database")
        with pytest.raises(RecordError, match=expected):
            cve_record(inputs(advisory), CPYTHON)


def test_records_carry_the_canonical_vector_and_the_librarys_score() -> None:
    shuffled = "CVSS:4.0/AC:L/AV:N/AT:N/PR:N/UI:N/VC:N/VI:N/VA:L/SC:N/SI:N/SA:N/E:X"
    advisory = _with_v4(shuffled, vector_string=V30, score=None)  # GitHub's score absent
    osv = osv_record(inputs(advisory))
    assert osv["severity"] == [
        {"type": "CVSS_V3", "score": V30},
        {"type": "CVSS_V4", "score": V40},
    ]
    metrics = cve_record(inputs(advisory), CPYTHON)["containers"]["cna"]["metrics"]
    assert metrics == [
        {
            "cvssV4_0": {
                "version": "4.0",
                "vectorString": V40,
                "baseScore": 6.9,
                "baseSeverity": "MEDIUM",
            }
        },
        {
            "cvssV3_0": {
                "version": "3.0",
                "vectorString": V30,
                "baseScore": 9.8,
                "baseSeverity": "CRITICAL",
            }
        },
    ]


def test_the_longest_vectors_pass_both_record_schemas() -> None:
    advisory = _with_v4(V40_FULL, vector_string=V31_FULL, score=9.8)
    osv = osv_record(inputs(advisory))
    assert [s["score"] for s in osv["severity"]] == [V31_FULL, V40_FULL]
    metrics = cve_record(inputs(advisory), CPYTHON)["containers"]["cna"]["metrics"]
    assert [next(iter(m.values()))["vectorString"] for m in metrics] == [V40_FULL, V31_FULL]


@pytest.mark.parametrize(
    ("vector", "says", "passed"),
    [
        (V40, f"CVSS v4 vector {V40}", True),
        (
            V40.replace("/AC:L", "/AC:L/AC:H"),
            'refused (not a valid CVSS 4.0 vector: Duplicate metric "AC")',
            False,
        ),
        (V40 + "/ZZ:Z", "refused (not a valid CVSS 4.0 vector: Invalid metric key", False),
        (V31, "the CVSS v4 vector is a CVSS 3.1 one: `/cvss CVSS:4.0/...`", False),
        ("CVSS:4.0/AV:N <b>", "refused (a CVSS vector holds only letters, digits", False),
    ],
)
def test_the_checklist_takes_only_a_valid_4_0_vector(vector: str, says: str, passed: bool) -> None:
    advisory = _with_v4(vector)
    [check] = run_checklist(advisory, Facts(), PublishConfig(checklist=("cvss_v4",)))
    assert (check.item, check.passed) == ("cvss_v4", passed)
    assert says in check.detail
    assert "<b>" not in check.detail


# -- formats: uri and date-time are checked --------------------------------------------


def test_every_format_the_record_schemas_use_is_checked() -> None:
    for name in ("osv-schema.json", "psf-osv-schema.json"):
        schema = json.loads((ROOT / "bot" / "records" / "schemas" / name).read_text())
        checker = jsonschema.validators.validator_for(schema).FORMAT_CHECKER
        assert unchecked_formats(schema, checker) == []
        assert unchecked_formats(schema, jsonschema.FormatChecker(formats=())) == [
            "date-time",
            "uri",
        ]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"published_at": "2024-08-19 19:06:45"}, "published"),
        ({"updated_at": "2024-13-04T20:24:00Z"}, "modified"),
        ({"published_at": "yesterday"}, "published"),
        (
            {"html_url": "https://github.com/python/cpython/security advisories"},
            r"references\[0\]\.url",
        ),
        ({"html_url": "not a uri"}, r"references\[0\]\.url"),
    ],
)
def test_an_osv_record_with_a_bad_date_time_or_uri_is_refused(
    change: dict[str, str], where: str
) -> None:
    with pytest.raises(RecordError, match=rf"^OSV record is invalid at {where}: .* is not a "):
        osv_record(inputs(realistic_advisory(**change)))


def test_a_cve_record_with_a_bad_uri_is_refused() -> None:
    advisory = realistic_advisory(html_url="https://github.com/python/cpython/security advisories")
    with pytest.raises(
        RecordError, match=r"^CVE JSON 5 record is invalid at .*url: .* is not a 'uri'"
    ):
        cve_record(inputs(advisory), CPYTHON)


def test_good_dates_and_uris_pass() -> None:
    advisory = realistic_advisory(
        published_at="2024-08-19T19:06:45+00:00", updated_at="2024-09-04T20:24:00.123Z"
    )
    record = osv_record(inputs(advisory))
    assert record["published"] == "2024-08-19T19:06:45Z"
    validate("osv", record)
    validate("cve", cve_record(inputs(advisory), CPYTHON))
    bad = dict(record, modified="2024-09-04")
    with pytest.raises(RecordError, match="is not a 'date-time'"):
        validate("osv", bad)
