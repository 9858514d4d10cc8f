"""handlers/links.py with its doors: what /affects, /link and /unlink refuse, and why.

Linking itself crosses installations (a draft opened in another repository,
comments on both sides); tests/handlers/end_to_end/test_links.py drives it
through the fake GitHub. Here the App is installed on CPython alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.commands.dispatch import run_command
from bot.context import CommandCall
from bot.core.config import load_config
from bot.github.installations import Repository
from handlers import links
from tests.handlers.unit.doors import (
    ScriptedApp,
    ScriptedGitHub,
    Stores,
    UnitDoors,
    clock_at,
    handle_on,
    open_stores,
)
from tests.handlers.unit.fakes import advisory_record
from tests.handlers.unit.github_answers import repository_advisory, script_advisory
from tests.harness import ROOT

REPO = "python/cpython"
GHSA = "GHSA-6p4v-wq8m-c2xj"
OTHER = "GHSA-9r3c-h5jw-q7mf"
CPYTHON = load_config(ROOT / "config")


def doors(github: ScriptedGitHub, stores: Stores) -> UnitDoors:
    return UnitDoors(
        github=github,
        app=ScriptedApp(),
        installations=stores.installations,
        advisories=stores.advisories,
        clock=clock_at(),
        config=CPYTHON,
    )


async def said(unit: UnitDoors, advisory: dict[str, Any], command: str, arguments: str) -> str:
    """`/COMMAND ARGUMENTS` written by gpshead on `advisory`, as the command loop runs it."""
    handle = handle_on(unit.github, unit.advisories, unit.clock, REPO, advisory)
    record = await unit.advisories.get(REPO, GHSA)
    declared = links.COMMANDS.find(command)
    assert declared is not None
    return await run_command(declared, arguments, CommandCall(unit, handle, record, "gpshead", []))


@contextlib.asynccontextmanager
async def draft_on_cpython(
    tmp_path: Path,
) -> AsyncIterator[tuple[UnitDoors, dict[str, Any], Stores, ScriptedGitHub]]:
    """A draft the bot knows, with the App installed on CPython alone."""
    github = ScriptedGitHub()
    advisory = repository_advisory(REPO, GHSA, state="draft")
    script_advisory(github, REPO, advisory)
    async with open_stores(tmp_path) as stores:
        await stores.installations.replace_repositories(
            7, [Repository(1, 7, REPO, True)], now=0.0
        )
        await stores.advisories.save(advisory_record(REPO, GHSA, received_at=0.0))
        yield doors(github, stores), advisory, stores, github


async def test_affects_refuses_what_it_cannot_open(tmp_path: Path) -> None:
    async with draft_on_cpython(tmp_path) as (unit, advisory, stores, github):
        for arguments, refusal in (
            ("", "Not done: name the repository as OWNER/REPO."),
            ("pip", "Not done: name the repository as OWNER/REPO."),
            ("pypa/pip --package", "Not done: give the package's name after --package."),
            ("pypa/pip --ecosystem", "Not done: the ecosystem is one of"),
            ("python/CPython", "Not done: this advisory is in that repository already."),
            ("pypa/pip --package pip", "Not done: the App is not installed on pypa/pip"),
        ):
            assert (await said(unit, advisory, "affects", arguments)).startswith(refusal), (
                arguments
            )
        advisory["state"] = "published"
        assert await said(unit, advisory, "affects", "pypa/pip") == (
            "Not done: this advisory is published: nothing to share."
        )
        # Nothing was opened, read or linked anywhere.
        assert github.sent("POST") == [] and github.sent("PATCH") == []
        assert await stores.advisories.linked_group(REPO, GHSA) == [(REPO, GHSA)]


async def test_link_and_unlink_refuse_what_they_cannot_find(tmp_path: Path) -> None:
    async with draft_on_cpython(tmp_path) as (unit, advisory, stores, _):
        usage = "Not done: give a GHSA id: `/link [OWNER/REPO] GHSA-...`."
        for arguments in ("", "GHSA-nope", "pypa/pip", "a b c", "not/a/repo " + OTHER):
            assert await said(unit, advisory, "link", arguments) == usage, arguments
        assert await said(unit, advisory, "link", GHSA.lower()) == (
            "Not done: an advisory cannot be linked with itself."
        )
        assert (await said(unit, advisory, "link", f"pypa/pip {OTHER}")).startswith(
            "Not done: the App is not installed on pypa/pip"
        )
        # Not in the store, and not in CPython (the one repository installed): not found.
        missing = await said(unit, advisory, "link", OTHER)
        assert missing.startswith(
            f"Not done: {OTHER} was not found in any repository the App is installed on."
        )
        assert await said(unit, advisory, "unlink", OTHER) == (
            f"This advisory is not linked with {OTHER} directly; nothing changed."
        )
        assert await said(unit, advisory, "unlink", "") == (
            "Not done: give a GHSA id: `/unlink GHSA-...`."
        )
        assert await stores.advisories.linked_group(REPO, GHSA) == [(REPO, GHSA)]
        assert await stores.advisories.audit_log(REPO, GHSA) == []
