"""The team's own files, read as they are: psrt.csv, experts.rst, CODEOWNERS."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.team.formats import (
    FormatError,
    owners_for,
    parse_codeowners,
    parse_experts_rst,
    parse_psrt_csv,
)


def test_psrt_csv(fixtures: Path) -> None:
    roster = parse_psrt_csv((fixtures / "cpython" / "psrt.csv").read_text())
    assert len(roster) == 31
    admins = {entry.login for entry in roster if "Admin" in entry.roles}
    managers = {entry.login for entry in roster if "Release Manager" in entry.roles}
    assert len(admins) == 5 and len(managers) == 7
    assert "warsaw" in admins


def test_psrt_csv_bad_rows_name_their_line() -> None:
    with pytest.raises(FormatError, match="line 2"):
        parse_psrt_csv("A,alice,\nB,,\n")
    with pytest.raises(FormatError, match="not a GitHub login"):
        parse_psrt_csv("A,al ice,\n")


def test_experts_index(fixtures: Path) -> None:
    areas = parse_experts_rst((fixtures / "cpython" / "experts.rst").read_text())
    by_name = {(a.section, a.name): a for a in areas}
    zipfile = by_name[("Stdlib", "zipfile")]
    assert [e.login for e in zipfile.experts] == ["serhiy-storchaka", "Yhg1s", "gpshead"]
    argparse = by_name[("Stdlib", "argparse")]
    assert all(e.assignable for e in argparse.experts)
    assert {a.section for a in areas} >= {"Stdlib", "Tools", "Miscellaneous"}
    assert ("Stdlib", "collections.abc") in by_name


def test_experts_continuation_rows_and_markers() -> None:
    text = (
        "Stdlib\n======\n\n"
        "==========  ==================\nModule      Maintainers\n==========  ==================\n"
        "spam        alice*, bob (inactive)\n            carol\n"
        "eggs\n"
        "==========  ==================\n"
    )
    areas = parse_experts_rst(text)
    spam = areas[0]
    assert [(e.login, e.assignable, e.inactive) for e in spam.experts] == [
        ("alice", True, False),
        ("bob", False, True),
        ("carol", False, False),
    ]
    assert areas[1].name == "eggs" and areas[1].experts == ()


def test_codeowners(fixtures: Path) -> None:
    rules = parse_codeowners((fixtures / "cpython" / "CODEOWNERS").read_text())
    assert owners_for(rules, "Lib/tarfile.py") == ("@ethanfurman",)
    assert owners_for(rules, "Lib/zipfile/_path/__init__.py") == ("@jaraco",)


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.py", "Lib/a.py", True),
        ("/Lib/", "Lib/a/b.py", True),
        ("/Lib/", "Tools/Lib/b.py", False),
        ("Lib/", "Tools/Lib/b.py", True),  # only a trailing slash: any depth
        ("Lib/test/", "Tools/Lib/test/x.py", False),  # a middle slash anchors it
        ("docs/", "a/docs/x", True),
        ("Lib/*.py", "Lib/x/y.py", False),
        ("Lib/**/y.py", "Lib/x/z/y.py", True),
        ("Lib/test/test_zipfile", "Lib/test/test_zipfile/x.py", True),
        ("Lib/a?.py", "Lib/ab.py", True),
    ],
)
def test_gitignore_style_patterns(pattern: str, path: str, matches: bool) -> None:
    rules = parse_codeowners(f"{pattern} @owner\n")
    assert bool(owners_for(rules, path)) is matches


def test_last_match_wins_and_empty_owner_unowns() -> None:
    rules = parse_codeowners("*.py @a\nLib/ @b\nLib/secret.py\n")
    assert owners_for(rules, "Lib/x.py") == ("@b",)
    assert owners_for(rules, "Lib/secret.py") == ()
    assert owners_for(rules, "x.py") == ("@a",)
