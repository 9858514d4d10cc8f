"""handlers/title_tags.py with its doors (advisory handles, config, the CVE parts) and nothing else.

A title tag never acts by itself: anyone who collaborates on the advisory, the
reporter too, can edit its title, and GitHub does not say who did.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from gidgethub import sansio

from bot.core.config import BotConfig, load_config
from bot.queue.followups import FollowUps
from bot.queue.store import Store
from handlers import title_tags
from tests.handlers.unit.doors import (
    ScriptedGitHub,
    Stores,
    UnitDoors,
    advisory_event,
    clock_at,
    open_stores,
)
from tests.handlers.unit.fakes import ScriptedCveServices, advisory_record
from tests.handlers.unit.github_answers import repository_advisory, script_advisory, script_comments
from tests.harness import ROOT, SteppedClock

REPO = "python/cpython"
GHSA = "GHSA-7fq3-h2m9-r5cx"
COMMENTS = f"/repos/{REPO}/security-advisories/{GHSA}/comments"
CPYTHON = load_config(ROOT / "config")  # title_tags.mode = "suggest"; CVE: cve-services
UNSAFE = replace(
    CPYTHON, unsafe=replace(CPYTHON.unsafe, collaborators_change_state_with_title_tags=True)
)


def title_changed(state: str) -> sansio.Event:
    """The poller's `advisory.updated` for a new title (bot/queue/followups.py)."""
    return advisory_event(
        "updated",
        REPO,
        GHSA,
        changes=["summary"],
        installation={"id": 7},
        repository_advisory={"ghsa_id": GHSA, "state": state},
    )


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
        cve_services=cna or ScriptedCveServices(),
        followups=FollowUps(Store(stores.database), clock.now),  # `advisory.accepted`
    )


def on_github(github: ScriptedGitHub, title: str, state: str) -> dict[str, Any]:
    advisory = repository_advisory(REPO, GHSA, summary=title, state=state)
    script_advisory(github, REPO, advisory)
    return advisory


async def test_tags_only_ask_a_team_member_to_confirm_once_each(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    advisory = on_github(github, "[ACCEPTED] [Closed] changed our mind", "triage")
    thread = script_comments(github, COMMENTS)
    cna = ScriptedCveServices()
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await stores.advisories.save(advisory_record(REPO, GHSA, received_at=clock.now()))
        unit = doors(github, stores, clock, cna=cna)
        await title_tags.title_changed(title_changed("triage"), unit)
        asks = [c["body"] for c in thread]
        assert len(asks) == 2
        assert asks[0].startswith("<!-- ghsa-bot:title-tag:accepted -->")
        assert "carries `[ACCEPTED]`" in asks[0] and "confirms with `/accept`" in asks[0]
        assert "carries `[CLOSED]`" in asks[1] and "`/reject [not-a-vulnerability" in asks[1]
        assert "does not act on tags by itself" in asks[1]
        # Nothing changed: no PATCH, no CVE ID, the record as it was.
        assert github.sent("PATCH") == [] and cna.calls == []
        assert advisory["state"] == "triage" and advisory["cve_id"] is None
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.state == "triage" and record.completed_at is None
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [(e.action, e.reason) for e in log] == [
            ("title-tag-seen", "[ACCEPTED]: asked to confirm"),
            ("title-tag-seen", "[CLOSED]: asked to confirm"),
        ]
        # The title edited again with the same tags: nothing is asked twice.
        advisory["summary"] = "[accepted] [CLOSED] changed our mind (edited)"
        await title_tags.title_changed(title_changed("triage"), unit)
        assert len(thread) == 2 and len(await stores.advisories.audit_log(REPO, GHSA)) == 2


async def test_a_tag_that_asks_for_what_is_already_so_is_not_suggested(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    on_github(github, "[ACCEPTED] [COMPLETED] done", "draft")
    thread = script_comments(github, COMMENTS)
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        done = advisory_record(
            REPO, GHSA, received_at=clock.now(), state="draft", completed_at=clock.now()
        )
        await stores.advisories.save(done)
        await title_tags.title_changed(title_changed("draft"), doors(github, stores, clock))
        assert thread == []  # already a draft, already completed
        assert await stores.advisories.audit_log(REPO, GHSA) == []


async def test_a_change_that_is_not_the_title_or_mode_off_asks_github_nothing(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    on_github(github, "[CLOSED] not a bug", "triage")
    # "off" ignores tags even beside the unsafe option: the operator said so last.
    off = replace(UNSAFE, title_tags="off")
    async with open_stores(tmp_path) as stores:
        state_only = title_changed("triage")
        state_only.data["changes"] = ["state"]
        await title_tags.title_changed(state_only, doors(github, stores, clock_at()))
        await title_tags.title_changed(
            title_changed("triage"), doors(github, stores, clock_at(), off)
        )
        assert github.requests == []
        assert await stores.advisories.audit_log(REPO, GHSA) == []


async def test_with_the_unsafe_option_accepted_makes_a_draft_and_reserves_by_policy(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    advisory = on_github(github, "[ACCEPTED] tarfile escape", "triage")
    thread = script_comments(github, COMMENTS)
    cna = ScriptedCveServices()
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await stores.advisories.save(advisory_record(REPO, GHSA, received_at=clock.now()))
        unit = doors(github, stores, clock, UNSAFE, cna)
        await title_tags.title_changed(title_changed("triage"), unit)
        [cve_id] = cna.ids
        assert cve_id.startswith("CVE-2026-") and cna.ids[cve_id] == "RESERVED"
        assert [r.data for r in github.sent("PATCH")] == [{"state": "draft"}, {"cve_id": cve_id}]
        assert (advisory["state"], advisory["cve_id"]) == ("draft", cve_id)
        [note] = [c["body"] for c in thread]
        assert note.startswith("<!-- ghsa-bot:cve-on-accept -->")
        assert f"Accepted (title tag), so by policy: Reserved {cve_id} through CVE Services" in note
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.state == "draft" and record.completed_at is None
        bound = await stores.cve_bindings.reservation_of(cve_id)
        assert bound is not None and bound.binds(REPO, GHSA)
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [(e.action, e.reason) for e in log] == [
            ("state-draft", "title tag [ACCEPTED] (unsafe option)"),
            ("cve-reserved", f"reserved {cve_id} through CVE Services (PSF)"),
        ]
        # Seen again, now a draft: no second move, reservation or note.
        await title_tags.title_changed(title_changed("draft"), unit)
        assert len(github.sent("PATCH")) == 2 and len(cna.ids) == 1 and len(thread) == 1


async def test_with_the_unsafe_option_a_closing_tag_wins_over_accepted(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    advisory = on_github(github, "[ACCEPTED] [INVALID] works as documented", "triage")
    cna = ScriptedCveServices()
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await stores.advisories.save(advisory_record(REPO, GHSA, received_at=clock.now()))
        await title_tags.title_changed(
            title_changed("triage"), doors(github, stores, clock, UNSAFE, cna)
        )
        assert [r.data for r in github.sent("PATCH")] == [{"state": "closed"}]
        assert advisory["state"] == "closed" and cna.calls == []  # closing reserves nothing
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.state == "closed"
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [(e.action, e.reason) for e in log] == [
            ("state-closed", "title tag [ACCEPTED], [INVALID] (unsafe option)")
        ]


async def test_with_the_unsafe_option_completed_stops_the_timers(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    on_github(github, "[COMPLETED] done", "draft")
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        record = advisory_record(REPO, GHSA, received_at=clock.now() - 86400, state="draft")
        await stores.advisories.save(record)
        unit = doors(github, stores, clock, UNSAFE)
        await title_tags.title_changed(title_changed("draft"), unit)
        assert github.sent("PATCH") == []  # no state to change
        completed = await stores.advisories.get(REPO, GHSA)
        assert completed is not None and completed.completed_at == clock.now()
        clock.advance(60)
        await title_tags.title_changed(title_changed("draft"), unit)
        again = await stores.advisories.get(REPO, GHSA)
        assert again is not None and again.completed_at == completed.completed_at
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [(e.action, e.reason) for e in log] == [("completed", "title tag [COMPLETED]")]
