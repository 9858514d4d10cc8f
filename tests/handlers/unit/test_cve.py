"""handlers/cve.py, its event handlers and `/cve`, with its doors (advisory handles, config,
the CVE parts) and nothing else."""

from __future__ import annotations

from dataclasses import replace
from http import HTTPStatus
from pathlib import Path
from typing import Any

from gidgethub import BadRequest, sansio

from bot.commands.dispatch import run_command
from bot.context import CommandCall
from bot.core.config import BotConfig, load_config
from bot.records.cve_ids import requested_from_github
from handlers import cve
from tests.handlers.unit.doors import (
    ScriptedGitHub,
    Stores,
    UnitDoors,
    advisory_event,
    clock_at,
    handle_on,
    open_stores,
)
from tests.handlers.unit.fakes import ScriptedCveServices, advisory_record
from tests.handlers.unit.github_answers import repository_advisory, script_advisory, script_comments
from tests.harness import ROOT, SteppedClock

REPO = "python/cpython"
GHSA = "GHSA-5xc7-q2wr-9hmv"
ADVISORY = f"/repos/{REPO}/security-advisories/{GHSA}"
COMMENTS = f"{ADVISORY}/comments"
CPYTHON = load_config(ROOT / "config")  # cve-services, reserve on accept
GITHUB_CNA = replace(CPYTHON, cve=replace(CPYTHON.cve, provider="github"))


def doors(
    github: ScriptedGitHub,
    stores: Stores,
    clock: SteppedClock,
    config: BotConfig = CPYTHON,
    cna: ScriptedCveServices | None = None,
) -> UnitDoors:
    return UnitDoors(
        github=github,
        advisories=stores.advisories,
        clock=clock,
        config=config,
        cve_bindings=stores.cve_bindings,
        cve_services=cna,
    )


async def slash_cve(unit: UnitDoors, advisory: dict[str, Any], arguments: str = "") -> str:
    """`/cve ARGUMENTS` written by gpshead on `advisory`, as the command loop runs it."""
    handle = handle_on(unit.github, unit.advisories, unit.clock, REPO, advisory)
    record = await unit.advisories.get(REPO, GHSA)
    declared = cve.COMMANDS.find("cve")
    assert declared is not None
    return await run_command(declared, arguments, CommandCall(unit, handle, record, "gpshead", []))


def poller_saw(state: str, *changes: str) -> sansio.Event:
    """The poller's `advisory.updated` (bot/queue/followups.py)."""
    return advisory_event(
        "updated",
        REPO,
        GHSA,
        changes=list(changes),
        installation={"id": 7},
        repository_advisory={"ghsa_id": GHSA, "state": state},
    )


async def actions(stores: Stores) -> list[tuple[str, str]]:
    return [(e.action, e.reason) for e in await stores.advisories.audit_log(REPO, GHSA)]


async def test_cve_reserves_through_the_teams_cna_once(tmp_path: Path) -> None:
    github, cna, clock = ScriptedGitHub(), ScriptedCveServices(), clock_at()
    advisory = repository_advisory(REPO, GHSA, state="draft")
    script_advisory(github, REPO, advisory)
    async with open_stores(tmp_path) as stores:
        await stores.advisories.save(advisory_record(REPO, GHSA, received_at=clock.now()))
        unit = doors(github, stores, clock, cna=cna)
        assert await slash_cve(unit, advisory) == (
            "Reserved CVE-2026-20001 through CVE Services (PSF) and set it on the advisory. "
            "Don't cite it before publication."
        )
        assert cna.calls == [("reserve", "2026")] and cna.ids == {"CVE-2026-20001": "RESERVED"}
        assert [r.data for r in github.sent("PATCH")] == [{"cve_id": "CVE-2026-20001"}]
        bound = await stores.cve_bindings.reservation_of("CVE-2026-20001")
        assert bound is not None and (bound.provider, bound.state) == ("cve-services", "reserved")
        assert bound.binds(REPO, GHSA)
        assert await actions(stores) == [
            ("cve-reserved", "reserved CVE-2026-20001 through CVE Services (PSF)")
        ]
        # Again: the advisory has its ID, nothing more is reserved.
        assert await slash_cve(unit, advisory) == (
            "The advisory already has CVE-2026-20001; nothing was reserved."
        )
        assert len(cna.calls) == 1 and len(github.sent("PATCH")) == 1


async def test_cve_reject_removes_the_id_and_rejects_the_reservation(tmp_path: Path) -> None:
    github, cna, clock = ScriptedGitHub(), ScriptedCveServices(), clock_at()
    advisory = repository_advisory(REPO, GHSA, state="draft")
    script_advisory(github, REPO, advisory)
    async with open_stores(tmp_path) as stores:
        unit = doors(github, stores, clock, cna=cna)
        await slash_cve(unit, advisory)
        # Any case, as CVE IDs are read in any case.
        assert await slash_cve(unit, advisory, "REJECT") == (
            "Removed CVE-2026-20001 from the advisory and rejected the reservation with "
            "CVE Services."
        )
        assert advisory["cve_id"] is None and cna.ids == {"CVE-2026-20001": "REJECTED"}
        bound = await stores.cve_bindings.reservation_of("CVE-2026-20001")
        assert bound is not None and bound.state == "rejected" and not bound.binds(REPO, GHSA)
        assert await slash_cve(unit, advisory, "reject") == (
            "Not done: the advisory has no CVE ID to reject."
        )
        # A fresh one afterwards; the rejected one is not reused.
        assert (await slash_cve(unit, advisory)).startswith("Reserved CVE-2026-20002")


async def test_cve_with_an_id_records_one_the_team_got_elsewhere(tmp_path: Path) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    advisory = repository_advisory(REPO, GHSA, state="draft")
    script_advisory(github, REPO, advisory)
    async with open_stores(tmp_path) as stores:
        unit = doors(github, stores, clock)  # no CNA credentials: not needed for this
        assert await slash_cve(unit, advisory, "cve-2026-12345") == (
            "Recorded CVE-2026-12345 for this advisory and set it. Don't cite it before "
            "publication."
        )
        assert [r.data for r in github.sent("PATCH")] == [{"cve_id": "CVE-2026-12345"}]
        bound = await stores.cve_bindings.reservation_of("CVE-2026-12345")
        assert bound is not None and (bound.provider, bound.state) == ("manual", "assigned")
        assert await actions(stores) == [("cve-recorded", "@gpshead recorded CVE-2026-12345")]
        assert await slash_cve(unit, advisory, "CVE-2026-12345") == (
            "CVE-2026-12345 is already recorded for this advisory; nothing changed."
        )
        assert len(github.sent("PATCH")) == 1


async def test_cve_refuses_another_advisorys_id_and_unknown_arguments(tmp_path: Path) -> None:
    github, cna, clock = ScriptedGitHub(), ScriptedCveServices(), clock_at()
    advisory = repository_advisory(REPO, GHSA, state="draft")
    script_advisory(github, REPO, advisory)
    async with open_stores(tmp_path) as stores:
        # Bound to another (embargoed) advisory: the reply does not say which.
        await stores.cve_bindings.add_reservation(
            "CVE-2026-40404", REPO, "GHSA-22cc-33dd-44ff", "cve-services", at=clock.now()
        )
        unit = doors(github, stores, clock, cna=cna)
        assert await slash_cve(unit, advisory, "CVE-2026-40404") == (
            "Not done: CVE-2026-40404 cannot be recorded for this advisory (see the audit log)."
        )
        assert await slash_cve(unit, advisory, "please") == (
            "Not done: unknown argument 'please'. Usage: `/cve [reject|CVE-YYYY-NNNN]`"
        )
        # A collaborator typed that ID into the field: /cve reserves nothing over it.
        advisory["cve_id"] = "CVE-2026-40404"
        refused = await slash_cve(unit, advisory)
        assert refused.startswith(
            "Not done: the advisory shows CVE-2026-40404, which the bot did not get for it"
        )
        assert "GHSA-22cc" not in refused
        assert github.sent("PATCH") == [] and cna.calls == []
        assert await actions(stores) == [
            ("cve-field-unbound", "the CVE field holds CVE-2026-40404, bound to another advisory"),
            ("cve-field-unbound", "the CVE field holds CVE-2026-40404, bound to another advisory"),
        ]


async def test_with_github_as_cna_the_id_is_requested_once_and_bound_when_it_arrives(
    tmp_path: Path,
) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    advisory = repository_advisory(REPO, GHSA, state="draft")
    script_advisory(github, REPO, advisory)
    github.answer("POST", f"{ADVISORY}/cve", BadRequest(HTTPStatus.FORBIDDEN))
    async with open_stores(tmp_path) as stores:
        unit = doors(github, stores, clock, GITHUB_CNA)
        refused = await slash_cve(unit, advisory)  # the installation is no security manager
        assert refused.startswith("Not done: GitHub refused the CVE request (403)")
        assert "needs admin or security-manager rights on python/cpython" in refused
        github.answer("POST", f"{ADVISORY}/cve", {})  # 202 Accepted
        assert (await slash_cve(unit, advisory)).startswith("Requested a CVE ID from GitHub")
        assert (await slash_cve(unit, advisory)).startswith("A CVE ID was already requested")
        assert len(github.sent("POST", "/cve")) == 2  # the refused one and the granted one
        # GitHub assigns it later; the poller sees the field change.
        advisory["cve_id"] = "CVE-2026-50505"
        await cve.cve_assigned_by_github(poller_saw("draft", "cve_id"), unit)
        await cve.cve_assigned_by_github(poller_saw("draft", "cve_id"), unit)
        bound = await stores.cve_bindings.reservation_of("CVE-2026-50505")
        assert bound is not None and (bound.provider, bound.state) == ("github", "assigned")
        assert await actions(stores) == [
            ("cve-requested", "requested a CVE ID from GitHub"),
            ("cve-assigned", "GitHub assigned CVE-2026-50505"),
        ]


async def test_an_id_typed_without_the_bots_request_is_not_bound(tmp_path: Path) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    script_advisory(github, REPO, repository_advisory(REPO, GHSA, cve_id="CVE-2026-60606"))
    async with open_stores(tmp_path) as stores:
        unit = doors(github, stores, clock, GITHUB_CNA)
        await cve.cve_assigned_by_github(poller_saw("triage", "cve_id"), unit)
        assert await stores.cve_bindings.reservation_of("CVE-2026-60606") is None
        # With another provider GitHub is not even asked.
        await stores.advisories.record_effect(requested_from_github(REPO, GHSA), at=clock.now())
        reads = len(github.requests)
        await cve.cve_assigned_by_github(
            poller_saw("triage", "cve_id"), doors(github, stores, clock)
        )
        assert len(github.requests) == reads
        assert await stores.cve_bindings.reservation_of("CVE-2026-60606") is None
        assert await actions(stores) == []


async def test_accepting_on_github_reserves_by_policy_once(tmp_path: Path) -> None:
    github, cna, clock = ScriptedGitHub(), ScriptedCveServices(), clock_at()
    advisory = repository_advisory(REPO, GHSA, state="draft")  # "Accept and open as draft"
    script_advisory(github, REPO, advisory)
    thread = script_comments(github, COMMENTS)
    async with open_stores(tmp_path) as stores:
        unit = doors(github, stores, clock, cna=cna)
        await cve.accepted_on_github(poller_saw("draft", "state"), unit)
        await cve.accepted_on_github(poller_saw("draft", "state"), unit)  # seen again
        assert cna.ids == {"CVE-2026-20001": "RESERVED"}
        assert advisory["cve_id"] == "CVE-2026-20001"
        assert [c["body"] for c in thread] == [
            "<!-- ghsa-bot:cve-on-accept -->\nAccepted, so by policy: Reserved CVE-2026-20001 "
            "through CVE Services (PSF) and set it on the advisory. Don't cite it before "
            "publication.\n"
        ]


async def test_accepting_reserves_nothing_unless_policy_asks_and_says_why_it_could_not(
    tmp_path: Path,
) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    advisory = repository_advisory(REPO, GHSA, state="draft")
    script_advisory(github, REPO, advisory)
    thread = script_comments(github, COMMENTS)
    no_policy = replace(CPYTHON, cve=replace(CPYTHON.cve, reserve_on_accept=False))
    async with open_stores(tmp_path) as stores:
        await cve.accepted_on_github(
            poller_saw("draft", "state"), doors(github, stores, clock, no_policy)
        )
        await cve.accepted_on_github(poller_saw("closed", "state"), doors(github, stores, clock))
        assert github.requests == []
        used_up = ScriptedCveServices(quota=0)
        await cve.accepted_on_github(
            poller_saw("draft", "state"), doors(github, stores, clock, cna=used_up)
        )
        assert github.sent("PATCH") == [] and used_up.ids == {}
        [note] = [c["body"] for c in thread]
        assert (
            "Accepted, so by policy: No CVE ID yet: could not reserve a CVE ID: CVE Services "
            "answered 403 EXCEEDED_ID_QUOTA: The organization's CVE ID quota is used up. Use "
            "`/cve` to try again."
        ) in note
