"""handlers/command_details.py with its doors (fix links, the URLs) and nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.commands.dispatch import run_command
from bot.context import CommandCall
from handlers import command_details
from tests.handlers.unit.doors import (
    ScriptedGitHub,
    Stores,
    UnitDoors,
    clock_at,
    handle_on,
    open_stores,
)
from tests.handlers.unit.github_answers import repository_advisory, script_advisory

REPO = "python/cpython"
GHSA = "GHSA-2c5p-9m8q-vh4x"
PATH = f"/repos/{REPO}/security-advisories/{GHSA}"
CVSS4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
CVSS31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"


def _doors(stores: Stores, web_url: str = "https://github.com") -> UnitDoors:
    return UnitDoors(fix_links=stores.fix_links, public_url=None, web_url=web_url)


def _call(
    stores: Stores, github: ScriptedGitHub, doors: UnitDoors, advisory: dict[str, Any]
) -> CommandCall[Any]:
    script_advisory(github, REPO, advisory)
    handle = handle_on(github, stores.advisories, clock_at(), REPO, advisory)
    return CommandCall(doors, handle, None, "gpshead", [])


async def _run(name: str, arguments: str, call: CommandCall[Any]) -> str:
    declared = command_details.COMMANDS.find(name)
    assert declared is not None
    return await run_command(declared, arguments, call)


async def test_severity_is_set_and_refused_while_a_cvss_vector_is_set(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    async with open_stores(tmp_path) as stores:
        call = _call(stores, github, _doors(stores), repository_advisory(REPO, GHSA))
        assert await _run("severity", "HIGH", call) == "Severity set to high."
        assert await _run("severity", "extreme", call) == (
            "Not done: give one severity. Usage: `/severity low|medium|high|critical`"
        )
        assert await _run("cvss", CVSS4, call) == "CVSS vector set."
        # What GitHub answered to the PATCH carries the vector: a severity would be a 422.
        refused = await _run("severity", "low", call)
        assert refused.startswith("Not done: GitHub refuses a severity while a CVSS vector is set")
        assert [r.data for r in github.sent("PATCH")] == [
            {"severity": "high"},
            {"cvss_vector_string": CVSS4},
        ]


async def test_cvss_takes_a_4_0_or_3_1_base_vector_and_rejects_anything_else(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    async with open_stores(tmp_path) as stores:
        call = _call(stores, github, _doors(stores), repository_advisory(REPO, GHSA))
        assert await _run("cvss", CVSS31, call) == (
            "CVSS vector set. The devguide asks for CVSS 4.0."
        )
        assert await _run("cvss", "CVSS:3.1/AV:X", call) == (
            'Not done: not a valid CVSS 3.1 vector: Unknown value "X" in field "AV:X". '
            "Usage: `/cvss VECTOR`"
        )
        no_sa = CVSS4.removesuffix("/SA:N")
        assert await _run("cvss", no_sa, call) == (
            'Not done: not a valid CVSS 4.0 vector: Missing mandatory metrics "SA". '
            "Usage: `/cvss VECTOR`"
        )
        assert await _run("cvss", f"{CVSS4} {CVSS31}", call) == (
            "Not done: give one vector. Usage: `/cvss VECTOR`"
        )
        assert [r.data for r in github.sent("PATCH")] == [{"cvss_vector_string": CVSS31}]


async def test_cwe_adds_identifiers_keeping_the_ones_already_set(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    advisory = repository_advisory(REPO, GHSA, cwe_ids=["CWE-22"])
    async with open_stores(tmp_path) as stores:
        call = _call(stores, github, _doors(stores), advisory)
        assert await _run("cwe", "cwe-59 CWE-22", call) == "Added CWE-59."
        assert await _run("cwe", "CWE-59", call) == "Those CWEs are already set; nothing changed."
        for wrong in ("", "22", "CWE-0", "CWE-22 path-traversal"):
            assert await _run("cwe", wrong, call) == (
                "Not done: give CWE identifiers like CWE-22. Usage: `/cwe CWE-n...`"
            ), wrong
        assert [r.data for r in github.sent("PATCH")] == [{"cwe_ids": ["CWE-22", "CWE-59"]}]


async def test_fork_is_requested_once_and_an_existing_fork_is_named(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    fork = {
        "id": 1296269,
        "name": "cpython-ghsa-2c5p-9m8q-vh4x",
        "full_name": "python/cpython-ghsa-2c5p-9m8q-vh4x",
        "private": True,
        "html_url": "https://github.com/python/cpython-ghsa-2c5p-9m8q-vh4x",
    }
    github.answer("POST", f"{PATH}/forks", fork)  # 202: GitHub makes it asynchronously
    async with open_stores(tmp_path) as stores:
        doors = _doors(stores)
        call = _call(stores, github, doors, repository_advisory(REPO, GHSA))
        outcome = await command_details.fork(call)
        assert outcome.startswith(
            "Requested the temporary private fork `python/cpython-ghsa-2c5p-9m8q-vh4x`."
        )
        assert "CI does not run in temporary private forks." in outcome
        [request] = github.sent("POST")
        assert (request.path, request.data) == (f"{PATH}/forks", b"")
        made = _call(stores, github, doors, repository_advisory(REPO, GHSA, private_fork=fork))
        assert await command_details.fork(made) == (
            "The temporary private fork already exists: "
            "https://github.com/python/cpython-ghsa-2c5p-9m8q-vh4x"
        )
        assert len(github.sent("POST")) == 1


async def test_fix_links_pull_requests_once_by_url_or_short_name(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    async with open_stores(tmp_path) as stores:
        call = _call(stores, github, _doors(stores), repository_advisory(REPO, GHSA))
        outcome = await _run(
            "fix", "https://github.com/python/cpython/pull/12345/ Python/CPython#12346", call
        )
        assert outcome.startswith("Linked python/cpython#12345, Python/CPython#12346. When ")
        assert await stores.fix_links.fixes(REPO, GHSA) == [
            ("python/cpython", 12345, None),
            ("python/cpython", 12346, None),
        ]
        assert await _run("fix", "python/cpython#12346", call) == (
            "Those pull requests are already linked; nothing changed."
        )
        assert github.requests == []  # linking asks GitHub nothing


async def test_fix_accepts_only_pull_requests_on_the_configured_github_host(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    host = "https://github.example.com"  # GitHub Enterprise Server
    async with open_stores(tmp_path) as stores:
        call = _call(stores, github, _doors(stores, web_url=host), repository_advisory(REPO, GHSA))
        for word in (
            "https://github.com/python/cpython/pull/1",
            f"{host}/python/cpython/pull/7?diff=split",
            f"{host}/python/cpython/issues/7",
            f"{host}/python/../pull/7",
            f"{host}/python/cpython/pull/2147483648",
        ):
            # A good one first: a refused word links nothing of the line.
            assert await _run("fix", f"{host}/python/cpython/pull/3 {word}", call) == (
                f"Not done: {word!r} is not a pull request on {host} (give its URL, or "
                "OWNER/REPO#NUMBER). Usage: `/fix PR-URL...`"
            ), word
        assert await _run("fix", "", call) == (
            "Not done: give the fix's pull request. Usage: `/fix PR-URL...`"
        )
        assert await stores.fix_links.fixes(REPO, GHSA) == []
        assert (await _run("fix", f"{host}/python/cpython/pull/3", call)).startswith(
            "Linked python/cpython#3."
        )
        assert await stores.fix_links.fixes(REPO, GHSA) == [("python/cpython", 3, None)]
