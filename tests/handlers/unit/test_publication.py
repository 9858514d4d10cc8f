"""handlers/publication.py with its doors (advisories, follow-ups, config, CVE parts, fixes)."""

from __future__ import annotations

import json
from dataclasses import replace
from http import HTTPStatus
from pathlib import Path
from typing import Any

from gidgethub import BadRequest

from bot.commands.dispatch import run_command
from bot.context import CommandCall
from bot.core.config import BotConfig
from bot.queue.followups import FollowUps
from bot.queue.store import Store
from handlers import publication
from tests.handlers.unit.doors import (
    CPYTHON,
    ScriptedGitHub,
    Stores,
    UnitDoors,
    clock_at,
    handle_on,
    open_stores,
)
from tests.handlers.unit.fakes import advisory_record
from tests.handlers.unit.github_answers import credit, repository_advisory, script_advisory
from tests.harness import SteppedClock

REPO = "python/cpython"
GHSA = "GHSA-2c5p-9m8q-vh4x"
CVE = "CVE-2026-50001"
FORBIDDEN = HTTPStatus.FORBIDDEN
GHES = "https://github.example.org"  # a GitHub Enterprise Server's web host
CVSS4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:L/SC:N/SI:N/SA:N"
MERGE_SHA = "d662e2db2605515a767f88ad48096b8ac623c774"
BOT_PUBLISHES = replace(CPYTHON, publish=replace(CPYTHON.publish, bot_may_publish=True))
EVENT = f"publish:{REPO}:{GHSA}"


def _ready(**fields: Any) -> dict[str, Any]:
    """A draft with everything CPython's checklist asks for."""
    values: dict[str, Any] = {
        "state": "draft",
        "summary": "Quadratic complexity in http.cookies",
        "description": "### Summary\nParsing a cookie header takes quadratic time.\n",
        "cve_id": CVE,
        "cvss_severities": {"cvss_v3": None, "cvss_v4": {"vector_string": CVSS4, "score": 5.3}},
        "cwe_ids": ["CWE-400"],
        "credits": [
            {"login": "quinn", "type": "reporter"},
            {"login": "gpshead", "type": "coordinator"},
        ],
        "credits_detailed": [
            credit("quinn", "reporter", "accepted"),
            credit("gpshead", "coordinator", "accepted"),
        ],
    }
    return repository_advisory(REPO, GHSA, **{**values, **fields})


async def _team_work(stores: Stores, clock: SteppedClock) -> None:
    """What the bot knows once the team did its part: coordinator, CVE, merged fix."""
    record = advisory_record(
        REPO, GHSA, received_at=clock.now(), state="draft", reporter="quinn", coordinator="gpshead"
    )
    await stores.advisories.save(record)
    await stores.cve_bindings.add_reservation(CVE, REPO, GHSA, "cve-services", at=clock.now())
    await stores.fix_links.link_fix(REPO, GHSA, "python/cpython", 4242)
    await stores.fix_links.record_merge("python/cpython", 4242, MERGE_SHA, clock.now())


def _doors(
    stores: Stores,
    clock: SteppedClock,
    config: BotConfig = CPYTHON,
    web_url: str = "https://github.com",
) -> UnitDoors:
    return UnitDoors(
        web_url=web_url,
        advisories=stores.advisories,
        followups=FollowUps(Store(stores.database), clock.now),
        config=config,
        cve_bindings=stores.cve_bindings,
        cve_services=None,
        fix_links=stores.fix_links,
    )


async def _call(
    stores: Stores, github: ScriptedGitHub, doors: UnitDoors, advisory: dict[str, Any]
) -> CommandCall[Any]:
    script_advisory(github, REPO, advisory)
    handle = handle_on(github, stores.advisories, clock_at(), REPO, advisory)
    return CommandCall(doors, handle, await stores.advisories.get(REPO, GHSA), "gpshead", [])


async def _run(name: str, arguments: str, call: CommandCall[Any]) -> str:
    declared = publication.COMMANDS.find(name)
    assert declared is not None
    return await run_command(declared, arguments, call)


async def test_publish_publishes_only_a_draft_and_takes_only_its_option(tmp_path: Path) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    async with open_stores(tmp_path) as stores:
        doors = _doors(stores, clock, BOT_PUBLISHES)
        triage = await _call(stores, github, doors, _ready(state="triage"))
        assert await _run("publish", "", triage) == (
            "Not done: only a draft can be published (this one is triage); /accept it."
        )
        public = await _call(stores, github, doors, _ready(state="published"))
        assert await _run("publish", "", public) == "The advisory is already published."
        draft = await _call(stores, github, doors, _ready())
        assert await _run("publish", "--waive-credits --force", draft) == (
            "Not done: unknown option '--force'. Usage: `/publish [--waive-credits]`"
        )
        assert github.sent("PATCH") == []


async def test_publish_lists_what_is_missing_and_changes_nothing(tmp_path: Path) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    async with open_stores(tmp_path) as stores:
        await stores.advisories.save(advisory_record(REPO, GHSA, received_at=clock.now()))
        doors = _doors(stores, clock, BOT_PUBLISHES)
        # A CVE typed into the field, no coordinator the bot recorded, no merged fix.
        outcome = await _run("publish", "", await _call(stores, github, doors, _ready()))
        assert outcome.splitlines() == [
            "Not ready to publish:",
            "",
            f"- [x] CVSS v4 vector {CVSS4}",
            "- [x] CWE CWE-400",
            "- [ ] no coordinator: `/coordinate` or `/assign @member`",
            "- [ ] no merged public fix: link it with `/fix PR-URL` (it must merge)",
            "- [x] description has a title",
            f"- [ ] {CVE} was not got for this advisory by the bot (anyone who collaborates "
            f"here can edit the CVE field): `/cve reject` takes it off, `/cve {CVE}` records "
            "an ID the team got elsewhere",
            "- [x] every credit accepted",
        ]
        assert github.sent("PATCH") == []
        assert await Store(stores.database).get_delivery(EVENT) is None


async def test_under_cpythons_policy_publish_says_ready_and_leaves_publishing_to_a_person(
    tmp_path: Path,
) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    async with open_stores(tmp_path) as stores:
        await _team_work(stores, clock)
        call = await _call(stores, github, _doors(stores, clock), _ready())
        outcome = await publication.publish(call)
        assert outcome.startswith("Ready to publish:\n\n- [x] CVSS v4 vector")
        assert "- [ ]" not in outcome
        assert outcome.endswith(
            "Policy leaves publishing to a person: a repository admin can use 'Publish "
            "advisory' on this page."
        )
        assert github.sent("PATCH") == []
        assert await stores.advisories.audit_log(REPO, GHSA) == []


async def test_publish_publishes_audits_and_queues_the_publication_event_at_once(
    tmp_path: Path,
) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    async with open_stores(tmp_path) as stores:
        await _team_work(stores, clock)
        call = await _call(stores, github, _doors(stores, clock, BOT_PUBLISHES), _ready())
        outcome = await publication.publish(call)
        assert outcome.startswith("Published.\n\n- [x] CVSS v4 vector")
        assert "- [x] merged public fix: python/cpython#4242" in outcome
        assert [r.data for r in github.sent("PATCH")] == [{"state": "published"}]
        [entry] = await stores.advisories.audit_log(REPO, GHSA)
        assert (entry.action, entry.reason) == ("state-published", "@gpshead: /publish")
        queued = await Store(stores.database).get_delivery(EVENT)
        assert queued is not None and (queued.event, queued.source) == ("advisory", "bot")
        assert json.loads(queued.payload) == {
            "action": "updated",
            "changes": ["state"],
            "installation": {"id": 7},
            "repository": {"full_name": REPO},
            "repository_advisory": {"ghsa_id": GHSA, "state": "published"},
        }
        public = await stores.advisories.published_one(REPO, GHSA)
        assert public is not None and public.record["cve_id"] == CVE
        # The same call again sees what GitHub answered.
        assert await publication.publish(call) == "The advisory is already published."
        assert len(github.sent("PATCH")) == 1


async def test_waiving_credits_publishes_with_pending_credits_and_is_audited(
    tmp_path: Path,
) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    pending = _ready(
        credits_detailed=[
            credit("quinn", "reporter", "pending"),
            credit("gpshead", "coordinator", "accepted"),
        ]
    )
    async with open_stores(tmp_path) as stores:
        await _team_work(stores, clock)
        doors = _doors(stores, clock, BOT_PUBLISHES)
        not_waived = await _run("publish", "", await _call(stores, github, doors, pending))
        assert not_waived.startswith("Not ready to publish:")
        # GitHub refuses the PATCH: nothing was published, so nothing was waived.
        refused = await _call(stores, github, doors, pending)
        github.answer("PATCH", f"/repos/{REPO}/security-advisories/{GHSA}", BadRequest(FORBIDDEN))
        assert (await _run("publish", "--waive-credits", refused)).startswith("Failed")
        assert await stores.advisories.audit_log(REPO, GHSA) == []
        del github.answers[("PATCH", f"/repos/{REPO}/security-advisories/{GHSA}")]
        assert "- [ ] credits not accepted: @quinn (pending) (or `/publish --waive-credits`)" in (
            not_waived
        )
        outcome = await _run(
            "publish", "--waive-credits", await _call(stores, github, doors, pending)
        )
        assert "- [x] credits not accepted, waived: @quinn (pending)" in outcome
        assert outcome.startswith("Published.")
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [(e.action, e.reason) for e in log] == [
            ("state-published", "@gpshead: /publish"),
            ("credits-waived", "@gpshead: /publish"),
        ]


async def test_announce_needs_a_cve_id_the_bot_got_for_this_advisory(tmp_path: Path) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    async with open_stores(tmp_path) as stores:
        doors = _doors(stores, clock)
        none = await _call(stores, github, doors, _ready(cve_id=None))
        assert await _run("announce", "", none) == (
            "Not done: the announcement is titled by its CVE ID, and there is none: /cve."
        )
        typed = await _call(stores, github, doors, _ready())
        assert await _run("announce", "", typed) == (
            f"Not done: the advisory shows {CVE}, which the bot did not get for it (anyone who "
            f"collaborates here can edit the CVE field). `/cve reject` takes it off; if the team "
            f"got it elsewhere, `/cve {CVE}` records it."
        )
        assert github.requests == []


async def test_announce_drafts_the_email_from_the_teams_template_in_a_fence_it_cannot_close(
    tmp_path: Path,
) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    advisory = _ready(
        description="Parsing is quadratic:\n````\n**not** the end of the draft\n````\n",
        credits_detailed=[
            credit("quinn", "reporter", "accepted"),
            credit("gpshead", "coordinator", "accepted"),
            credit("alice", "remediation_developer", "declined"),
        ],
    )
    async with open_stores(tmp_path) as stores:
        await _team_work(stores, clock)
        draft = await publication.announce(
            await _call(stores, github, _doors(stores, clock, web_url=GHES), advisory)
        )
        assert draft.startswith(
            "Draft for security-announce (check it, then send it yourself; the bot sends no "
            "email):\n\n`````text\nSubject: [CVE-2026-50001] Quadratic complexity in http.cookies"
        )
        assert draft.endswith("\n`````")
        assert "There is a MEDIUM severity vulnerability affecting CPython." in draft
        assert "* https://www.cve.org/CVERecord?id=CVE-2026-50001" in draft
        assert f"* {GHES}/python/cpython/pull/4242" in draft  # GitHub's web host's
        assert "https://github.com/python/cpython/pull" not in draft
        assert f"Advisory: https://github.com/{REPO}/security/advisories/{GHSA}" in draft
        assert "Thanks to quinn (reporter), gpshead (coordinator)." in draft
        assert "alice" not in draft  # a declined credit is not thanked
        # A team without a template or a project name: the default text, the repository.
        plain = replace(
            CPYTHON, publish=replace(CPYTHON.publish, announce_template=None, project="")
        )
        draft = await publication.announce(
            await _call(stores, github, _doors(stores, clock, plain), advisory)
        )
        assert "There is a MEDIUM severity vulnerability affecting python/cpython." in draft
        assert github.requests == []
