"""Experts for a report, from CPython's real experts index and CODEOWNERS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.advisories.experts import modules_in, suggest
from bot.team.formats import (
    ExpertArea,
    OwnerRule,
    parse_codeowners,
    parse_experts_rst,
)


@pytest.fixture
def cpython(fixtures: Path) -> tuple[list[ExpertArea], list[OwnerRule]]:
    return (
        parse_experts_rst((fixtures / "cpython" / "experts.rst").read_text()),
        parse_codeowners((fixtures / "cpython" / "CODEOWNERS").read_text()),
    )


def advisory(
    summary: str, description: str = "", functions: list[str] | None = None
) -> dict[str, Any]:
    return {
        "summary": summary,
        "description": description,
        "vulnerabilities": [
            {
                "package": {"ecosystem": "other", "name": "cpython"},
                "vulnerable_functions": functions or [],
            }
        ],
    }


def logins(people: list[Any]) -> list[str]:
    return [person.login for person in people]


def test_a_tarfile_report_names_the_codeowner_of_lib_tarfile(cpython: Any) -> None:
    index, codeowners = cpython
    modules, people = suggest(
        advisory("Path traversal in tarfile.extractall"), index=index, codeowners=codeowners
    )
    assert modules == ["tarfile"]
    assert "ethanfurman" in logins(people)
    ethan = next(p for p in people if p.login == "ethanfurman")
    assert "Lib/tarfile.py (CODEOWNERS)" in ethan.reasons


def test_a_zipfile_report_names_the_experts_index_entries(cpython: Any) -> None:
    index, codeowners = cpython
    modules, people = suggest(
        advisory("zip bomb", "Crafted archive exhausts memory in `zipfile.ZipFile`"),
        index=index,
        codeowners=codeowners,
    )
    assert modules[0] == "zipfile"
    for login in ("serhiy-storchaka", "Yhg1s", "gpshead"):
        person = next(p for p in people if p.login == login)
        assert "zipfile (experts index)" in person.reasons


def test_vulnerable_functions_and_paths_count(cpython: Any) -> None:
    index, codeowners = cpython
    modules, people = suggest(
        advisory("crash", "See Lib/tarfile.py line 10", functions=["tarfile.TarFile.extract"]),
        index=index,
        codeowners=codeowners,
    )
    assert "tarfile" in modules and "ethanfurman" in logins(people)


def test_inactive_experts_are_skipped_and_the_reporter_dropped() -> None:
    index = parse_experts_rst(
        "Stdlib\n======\n\n==========  ==================\nModule      Maintainers\n"
        "==========  ==================\nspam        alice*, bob (inactive), carol\n"
        "==========  ==================\n"
    )
    rules = parse_codeowners("Lib/spam.py @carol @dave\n")
    modules, people = suggest(
        advisory("spam overflow"), index=index, codeowners=rules, exclude={"dave"}
    )
    assert modules == ["spam"]
    assert logins(people) == ["alice", "carol"]  # bob inactive, dave the reporter, carol once
    assert people[0].assignable and not people[1].assignable
    assert people[1].reasons == ["spam (experts index)", "Lib/spam.py (CODEOWNERS)"]


def test_everyday_words_count_only_as_code() -> None:
    known = ["email", "zipfile", "string"]
    assert modules_in("please email me about the zipfile bug", known) == ["zipfile"]
    assert modules_in("the `email.message` parser and import string", known) == ["email", "string"]


def test_no_modules_no_suggestion(cpython: Any) -> None:
    index, codeowners = cpython
    assert suggest(advisory("something vague"), index=index, codeowners=codeowners) == ([], [])
