"""handlers/command_basics.py with its doors (clock, commands, team, the checklist's parts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import handlers
from bot.commands.dispatch import run_command
from bot.context import CommandCall
from bot.team.formats import parse_codeowners, parse_experts_rst
from handlers import command_basics
from tests.handlers.unit.doors import (
    CPYTHON,
    ScriptedApp,
    ScriptedGitHub,
    Stores,
    UnitDoors,
    clock_at,
    handle_on,
    open_stores,
)
from tests.handlers.unit.fakes import RosterTeam, advisory_record
from tests.handlers.unit.github_answers import credit, github_user, repository_advisory
from tests.harness import REPORT, SteppedClock, fixtures_dir

REPO = "python/cpython"
GHSA = "GHSA-2c5p-9m8q-vh4x"
DAY = 86400
CVSS4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:L/SC:N/SI:N/SA:N"


def _cpython_team() -> RosterTeam:
    """The roster, and CPython's experts index and CODEOWNERS as the team reads them."""
    files = fixtures_dir() / "cpython"
    return RosterTeam(
        CPYTHON,
        files={
            "experts": parse_experts_rst((files / "experts.rst").read_text(encoding="utf-8")),
            "codeowners": parse_codeowners((files / "CODEOWNERS").read_text(encoding="utf-8")),
        },
    )


def _doors(stores: Stores, clock: SteppedClock) -> UnitDoors:
    return UnitDoors(
        clock=clock,
        commands=handlers.COMMANDS,
        team=_cpython_team(),
        config=CPYTHON,
        cve_bindings=stores.cve_bindings,
        cve_services=None,
        fix_links=stores.fix_links,
        advisories=stores.advisories,  # linked groups and planned disclosure dates
        installations=stores.installations,
        app=ScriptedApp(),
    )


async def _call(
    stores: Stores, doors: UnitDoors, advisory: dict[str, Any], caller: str = "gpshead"
) -> CommandCall[Any]:
    handle = handle_on(ScriptedGitHub(), stores.advisories, doors.clock, REPO, advisory)
    return CommandCall(doors, handle, await stores.advisories.get(REPO, GHSA), caller, [])


async def _run(name: str, arguments: str, call: CommandCall[Any]) -> str:
    declared = command_basics.COMMANDS.find(name)
    assert declared is not None
    return await run_command(declared, arguments, call)


async def test_help_lists_every_command_written_on_advisories_and_who_may_use_it(
    tmp_path: Path,
) -> None:
    async with open_stores(tmp_path) as stores:
        call = await _call(stores, _doors(stores, clock_at()), repository_advisory(REPO, GHSA))
        text = await command_basics.help_command(call)
    for name, declared in handlers.COMMANDS.commands.items():
        assert (f"- `/{name}" in text) == ("advisory" in declared.venues), name
    assert "- `/accept`: Accepts the report as a vulnerability" in text
    assert "*For team members, admins, the coordinator.*" in text
    assert "  - e.g. `/credit @alice remediation_developer`" in text
    assert "confidential comments" in text


async def test_status_shows_where_an_advisory_stands_and_what_publication_still_needs(
    tmp_path: Path,
) -> None:
    clock = clock_at()
    advisory = repository_advisory(
        REPO,
        GHSA,
        state="draft",
        cve_id="CVE-2026-50001",
        cvss_severities={"cvss_v3": None, "cvss_v4": {"vector_string": CVSS4, "score": 2.1}},
        cwe_ids=["CWE-400"],
        credits_detailed=[
            credit("quinn", "reporter"),
            credit("gpshead", "coordinator", "accepted"),
        ],
        collaborating_users=[github_user("quinn"), github_user("gpshead")],
        collaborating_teams=[{"slug": "psrt", "name": "psrt"}],
    )
    async with open_stores(tmp_path) as stores:
        record = advisory_record(
            REPO, GHSA, received_at=clock.now(), reporter="quinn", coordinator="gpshead"
        )
        await stores.advisories.save(record)
        await stores.cve_bindings.add_reservation(
            "CVE-2026-50001", REPO, GHSA, "cve-services", at=clock.now()
        )
        await stores.fix_links.link_fix(REPO, GHSA, "python/cpython", 4242)
        await stores.fix_links.link_fix(REPO, GHSA, "python/cpython", 4243)
        await stores.fix_links.record_merge("python/cpython", 4242, "d662e2db2605515a7", 0.0)
        clock.advance(10 * DAY + 60)
        call = await _call(stores, _doors(stores, clock), advisory, caller="quinn")
        text = await command_basics.status(call)
    assert text.splitlines() == [
        "**State:** draft",
        "**Coordinator:** @gpshead",
        "**Age:** 10 days; **deadline** 2026-12-20 (79 days left)",
        "**Credits:** @quinn reporter (pending), @gpshead coordinator (accepted)",
        "**CVE:** CVE-2026-50001",
        "**Fixes:** python/cpython#4242 (merged d662e2db26), python/cpython#4243 (not merged yet)",
        "**Collaborators:** @quinn, @gpshead; **teams:** psrt",
        "**Missing before publication:** credits not accepted: @quinn (pending) "
        "(or `/publish --waive-credits`)",
    ]


async def test_status_of_a_late_report_lists_every_missing_item_and_at_most_fifty_names(
    tmp_path: Path,
) -> None:
    clock = clock_at()
    advisory = repository_advisory(
        REPO,
        GHSA,
        cve_id="CVE-2026-99999",  # typed into the field by a collaborator: not bound
        collaborating_users=[github_user(f"watcher{n}") for n in range(53)],
    )
    async with open_stores(tmp_path) as stores:
        await stores.advisories.save(advisory_record(REPO, GHSA, received_at=clock.now()))
        clock.advance(100 * DAY)
        text = await command_basics.status(await _call(stores, _doors(stores, clock), advisory))
    lines = text.splitlines()
    assert lines[1:3] == [
        "**Coordinator:** none yet",
        "**Age:** 100 days; **deadline** 2026-12-20 (passed)",
    ]
    assert "**Fixes:** none linked (use /fix)" in lines
    [collaborators] = [line for line in lines if line.startswith("**Collaborators:**")]
    assert "@watcher49 and 3 more; **teams:** none" in collaborators
    assert "@watcher50" not in collaborators
    missing = lines[-1].removeprefix("**Missing before publication:** ").split("; ")
    assert missing[:4] == [
        "no CVSS v4 vector (GitHub defaults to v3): `/cvss CVSS:4.0/...`",
        "no CWE: `/cwe CWE-NNN`",
        "no coordinator: `/coordinate` or `/assign @member`",
        "no merged public fix: link it with `/fix PR-URL` (it must merge)",
    ]
    [cve] = missing[4:]  # the title is there and nobody is credited yet: those pass
    assert cve.startswith("CVE-2026-99999 was not got for this advisory by the bot")


async def test_experts_suggests_from_the_index_and_codeowners_but_never_the_reporter(
    tmp_path: Path,
) -> None:
    clock = clock_at()
    tarfile = repository_advisory(REPO, GHSA, description=REPORT)
    zipfile = repository_advisory(REPO, GHSA, summary="zipfile: a quadratic central directory")
    async with open_stores(tmp_path) as stores:
        doors = _doors(stores, clock)
        text = await command_basics.experts(await _call(stores, doors, tarfile))
        assert text.startswith("**Experts** for what this report is about (`tarfile`):")
        assert "- ethanfurman: Lib/tarfile.py (CODEOWNERS)" in text
        await stores.advisories.save(
            advisory_record(REPO, GHSA, received_at=clock.now(), reporter="serhiy-storchaka")
        )
        text = await command_basics.experts(await _call(stores, doors, zipfile))
        assert "- Yhg1s: zipfile (experts index)" in text and "gpshead" in text
        assert "serhiy-storchaka" not in text
        nothing = repository_advisory(REPO, GHSA, summary="a crash", description="It crashes.")
        assert await command_basics.experts(await _call(stores, doors, nothing)) == (
            "No experts found for the modules this report names."
        )


async def test_ping_mentions_one_modules_experts_or_says_there_are_none(tmp_path: Path) -> None:
    async with open_stores(tmp_path) as stores:
        call = await _call(stores, _doors(stores, clock_at()), repository_advisory(REPO, GHSA))
        assert await _run("ping", "zipfile", call) == (
            "@serhiy-storchaka @Yhg1s @gpshead: your knowledge of `zipfile` is asked for here."
        )
        assert await _run("ping", "nosuchmodule", call) == (
            "Not done: no experts are listed for 'nosuchmodule'."
        )
        assert await _run("ping", "", call) == "Not done: name one module. Usage: `/ping MODULE`"
        assert await _run("ping", "zipfile tarfile", call) == (
            "Not done: name one module. Usage: `/ping MODULE`"
        )
