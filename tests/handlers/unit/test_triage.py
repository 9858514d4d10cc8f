"""handlers/triage.py with its doors (GitHub, advisories, clock, config, team) and nothing else."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from gidgethub import sansio

from bot.advisories.experts import TeamFilesNotLoaded
from bot.core.config import BotConfig
from bot.team.formats import RosterEntry, parse_codeowners, parse_experts_rst
from bot.team.roster import canonical_entries
from handlers import triage
from tests.handlers.unit.doors import (
    CPYTHON,
    ScriptedGitHub,
    Stores,
    UnitDoors,
    advisory_event,
    clock_at,
    event,
    open_stores,
)
from tests.handlers.unit.github_answers import (
    BOT_LOGIN,
    credit,
    github_user,
    repository_advisory,
    script_advisory,
    script_comments,
    thread_comment,
)
from tests.harness import REPORT, SteppedClock, fixtures_dir, load_payload

REPO = "python/cpython"
GHSA = "GHSA-4mq2-9c5v-wx7h"
ADVISORY = f"/repos/{REPO}/security-advisories/{GHSA}"
COMMENTS = f"{ADVISORY}/comments"
OUTSIDE_TEAM = ("hugovk", "sethmlarson")  # roster members the GitHub team does not list
CREATED = "2026-10-01T09:00:00Z"


class TriageTeam:
    """The part of TeamData (bot/team/data.py) triage reads: the roster (roster.toml),
    the GitHub team's members, everyone who is a member, and the parsed team files."""

    def __init__(self, config: BotConfig, *, github_team: Iterable[str]) -> None:
        self.entries = canonical_entries(config.coordinators.roster)
        self.github_team = {login.lower() for login in github_team}
        cpython = fixtures_dir() / "cpython"
        self.files = {
            "experts": parse_experts_rst((cpython / "experts.rst").read_text()),
            "codeowners": parse_codeowners((cpython / "CODEOWNERS").read_text()),
        }

    def roster(self) -> list[RosterEntry]:
        return list(self.entries)

    async def team_members(
        self, client: Any, github_team: str, *, now: float, max_age: float = 600.0
    ) -> set[str]:
        assert github_team == "python/psrt"
        return set(self.github_team)

    async def member_logins(self, client: Any, *, now: float) -> set[str]:
        return {entry.login.lower() for entry in self.entries} | self.github_team

    def get(self, name: str) -> Any:
        return self.files.get(name)


def psrt(config: BotConfig = CPYTHON, *also: str) -> TriageTeam:
    """The python/psrt team: every roster member but two, and `also`."""
    logins = [e.login for e in canonical_entries(config.coordinators.roster)]
    return TriageTeam(config, github_team=[*(x for x in logins if x not in OUTSIDE_TEAM), *also])


def team_object(slug: str) -> dict[str, Any]:
    """A `team` as GitHub lists it in `collaborating_teams`."""
    return {
        "id": 2_814_301,
        "node_id": "T_kwDOAAgqTM4AKvOd",
        "url": "https://api.github.com/organizations/1525981/team/2814301",
        "html_url": f"https://github.com/orgs/python/teams/{slug}",
        "name": slug,
        "slug": slug,
        "description": "Python Security Response Team",
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": "https://api.github.com/organizations/1525981/team/2814301/members{/member}",
        "repositories_url": "https://api.github.com/organizations/1525981/team/2814301/repos",
        "parent": None,
    }


def on_github(github: ScriptedGitHub, advisory: dict[str, Any]) -> None:
    """GET and PATCH of the advisory as GitHub answers them, teams included."""
    script_advisory(github, REPO, advisory)
    patch = github.answers[("PATCH", ADVISORY)]

    def with_teams(body: dict[str, Any]) -> Any:
        answer = patch(body)
        if "collaborating_teams" in body:
            advisory["collaborating_teams"] = [team_object(s) for s in body["collaborating_teams"]]
            answer["collaborating_teams"] = advisory["collaborating_teams"]
        return answer

    github.answer("PATCH", ADVISORY, with_teams)


def report(reporter: str, **fields: Any) -> dict[str, Any]:
    fields.setdefault("summary", "tarfile symlink escape")
    fields.setdefault("description", REPORT)
    return repository_advisory(
        REPO, GHSA, author=github_user(reporter), created_at=CREATED, **fields
    )


def reported(sender: str) -> sansio.Event:
    """GitHub's `repository_advisory.reported` (a real delivery: null author and dates)."""
    payload = load_payload("repository_advisory/reported.payload.json")
    payload["repository"]["full_name"] = REPO
    payload["repository_advisory"]["ghsa_id"] = GHSA
    payload["installation"] = {"id": 7, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNw=="}
    payload["sender"]["login"] = sender
    return event("repository_advisory", payload)


def seen(action: str, state: str, *changes: str) -> sansio.Event:
    """The poller's `advisory` event (bot/queue/followups.py, `advisory_changed`)."""
    return advisory_event(
        action,
        REPO,
        GHSA,
        changes=list(changes),
        installation={"id": 7},
        repository_advisory={"ghsa_id": GHSA, "state": state},
    )


def discovered(state: str = "triage") -> sansio.Event:
    return seen("discovered", state)


def doors(
    github: ScriptedGitHub,
    stores: Stores,
    clock: SteppedClock,
    team: TriageTeam,
    config: BotConfig = CPYTHON,
) -> UnitDoors:
    return UnitDoors(
        github=github, advisories=stores.advisories, clock=clock, config=config, team=team
    )


async def actions(stores: Stores) -> list[str]:
    return [entry.action for entry in await stores.advisories.audit_log(REPO, GHSA)]


async def test_a_report_gets_team_access_and_credit_in_one_patch_and_one_acknowledgement(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    advisory = report(
        "alice",
        credits=[{"login": "bob", "type": "analyst"}],
        credits_detailed=[credit("bob", "analyst", "accepted")],
        collaborating_users=[github_user("maintainer-x")],
    )
    on_github(github, advisory)
    thread = script_comments(github, COMMENTS)
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        unit = doors(github, stores, clock, psrt())
        await triage.reported(reported("alice"), unit)

        [patch] = github.sent("PATCH", ADVISORY)
        assert patch.data == {
            "collaborating_teams": ["psrt"],
            "collaborating_users": ["maintainer-x", *OUTSIDE_TEAM],  # the earlier one kept
            "credits": [
                {"login": "bob", "type": "analyst"},  # kept: GitHub replaces the array
                {"login": "alice", "type": "reporter"},
            ],
        }
        acknowledgement, experts = (c["body"] for c in thread)
        assert acknowledgement.startswith(triage.ACK_MARKER)
        assert "Hi @alice, thank you for reporting this to the Python Security Response Team" in (
            acknowledgement
        )
        assert "by **2026-12-30** (90 days after" in acknowledgement  # created_at + 90 days
        assert "credited on the advisory as the reporter" in acknowledgement
        assert "everything our report template asks for" in acknowledgement
        assert "https://devguide.python.org/security/policy/" in acknowledgement
        assert "ethanfurman: Lib/tarfile.py (CODEOWNERS)" in experts
        assert "`/invite @user`" in experts and "@alice" not in experts

        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None
        assert (record.reporter, record.state, record.installation_id) == ("alice", "triage", 7)
        assert record.received_at == datetime.datetime.fromisoformat(CREATED).timestamp()
        assert record.acknowledged_at == clock.now()
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [(e.action, e.reason) for e in log] == [
            (
                "access-and-credit",
                "set collaborating_teams, collaborating_users, credits (new advisory)",
            ),
            ("acknowledged", "acknowledgement comment posted"),
            ("experts-suggested", "1 people suggested for 1 module(s)"),
        ]
        assert {e.delivery for e in log} == {"unit-test-delivery"}

        # Redelivered, and then found by the poller: nothing is patched or said twice.
        clock.advance(3600)
        await triage.reported(reported("alice"), unit)
        await triage.discovered(discovered(), unit)
        assert len(github.sent("PATCH")) == 1 and len(github.sent("POST")) == 2
        assert len(thread) == 2
        assert await actions(stores) == ["access-and-credit", "acknowledged", "experts-suggested"]


async def test_the_acknowledgement_says_what_the_report_is_missing(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    description = (
        "### Summary\nA crash.\n\n### Threat model\n\n### Notes\n"
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\nTested on 3.15.0a1 only."
    )
    on_github(github, report("carol", summary="crash", description=description))
    thread = script_comments(github, COMMENTS)
    async with open_stores(tmp_path) as stores:
        await triage.reported(reported("carol"), doors(github, stores, clock_at(), psrt()))
    [acknowledgement] = [c["body"] for c in thread]  # no module named: no experts comment
    assert "The **Threat model** section is empty; please fill it in." in acknowledgement
    assert "The report has no **Proof of concept** section" in acknowledgement
    assert "The report has no **Versions tested** section" in acknowledgement
    assert "The report includes a CVSS score." in acknowledgement
    assert "names only pre-release versions (3.15)" in acknowledgement


async def test_a_maintainers_draft_found_by_the_poller_gets_team_access_only(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    draft = report("gpshead", summary="maintainer draft", state="draft", submission=None)
    on_github(github, draft)
    thread = script_comments(github, COMMENTS)
    async with open_stores(tmp_path) as stores:
        unit = doors(github, stores, clock_at(), psrt())
        await triage.discovered(discovered("draft"), unit)
        [patch] = github.sent("PATCH", ADVISORY)
        assert patch.data == {
            "collaborating_teams": ["psrt"],
            "collaborating_users": list(OUTSIDE_TEAM),
        }  # no credit: a maintainer's draft is not a report
        assert thread == [] and github.sent("POST") == []
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.reporter is None and record.state == "draft"
        assert record.acknowledged_at is None
        assert await actions(stores) == ["access-and-credit"]
        await triage.discovered(discovered("draft"), unit)  # seen again
        assert len(github.sent("PATCH")) == 1


async def test_a_retry_after_a_crash_finds_the_earlier_acknowledgement(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    on_github(github, report("frank"))
    earlier = thread_comment(COMMENTS, BOT_LOGIN, f"{triage.ACK_MARKER}\nHi @frank")
    thread = script_comments(github, COMMENTS, earlier)
    async with open_stores(tmp_path) as stores:
        # The earlier attempt posted the acknowledgement, then died before recording it.
        key = f"comment:acknowledgement:{REPO}:{GHSA}:attempted"
        await stores.advisories.record_effect(key, at=0)
        await triage.reported(reported("frank"), doors(github, stores, clock_at(), psrt()))
        assert sum(triage.ACK_MARKER in c["body"] for c in thread) == 1
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [e.reason for e in log if e.action == "acknowledged"] == ["found the earlier one"]
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.acknowledged_at is not None


async def test_experts_are_invited_by_policy_only_when_they_are_members(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    advisory = report("olga", summary="ssl hostname check bypass", description="In Lib/ssl.py")
    on_github(github, advisory)
    thread = script_comments(github, COMMENTS)
    config = replace(CPYTHON, policy=replace(CPYTHON.policy, auto_invite_experts=True))
    async with open_stores(tmp_path) as stores:
        unit = doors(github, stores, clock_at(), psrt(config), config)
        await triage.reported(reported("olga"), unit)
        first, invite = (r.data for r in github.sent("PATCH", ADVISORY))
        assert first["collaborating_users"] == list(OUTSIDE_TEAM)
        # tiran (emeritus) and alex are in the experts index but not on the team.
        assert invite == {"collaborating_users": [*OUTSIDE_TEAM, "dstufft", "gpshead", "picnixz"]}
        assert [u["login"] for u in advisory["collaborating_users"]] == invite[
            "collaborating_users"
        ]
        assert "tiran" in thread[1]["body"] and "alex" in thread[1]["body"]  # suggested only
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [e.reason for e in log if e.action == "experts-invited"] == [
            "auto_invite_experts: dstufft, gpshead, picnixz"
        ]


async def test_experts_are_only_suggested_by_default(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    on_github(github, report("olga", summary="ssl hostname check bypass"))
    thread = script_comments(github, COMMENTS)
    async with open_stores(tmp_path) as stores:
        await triage.reported(reported("olga"), doors(github, stores, clock_at(), psrt()))
        assert len(github.sent("PATCH")) == 1  # access and credit, no invitation
        assert "dstufft" in thread[1]["body"]
        assert "experts-invited" not in await actions(stores)


async def test_experts_wait_for_the_team_files_rather_than_naming_nobody(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    advisory = report("olga", summary="ssl hostname check bypass")
    on_github(github, advisory)
    thread = script_comments(github, COMMENTS)
    team = psrt()
    files, team.files = team.files, {}  # not read yet: GitHub failed, or the bot just started
    async with open_stores(tmp_path) as stores:
        unit = doors(github, stores, clock_at(), team)
        with pytest.raises(TeamFilesNotLoaded, match=r"sources\.experts, sources\.codeowners"):
            await triage.reported(reported("olga"), unit)
        assert len(thread) == 1  # the reporter is acknowledged at once all the same
        advisory["state"] = "draft"
        with pytest.raises(TeamFilesNotLoaded):  # nor are the maintainers tagged on accept
            await triage.accepted_by_the_bot(seen("accepted", "draft"), unit)
        assert len(thread) == 1
        advisory["state"] = "triage"
        team.files = files  # read at last: the worker's retry names them
        await triage.reported(reported("olga"), unit)
        assert len(thread) == 2 and "dstufft" in thread[1]["body"]
        assert (await actions(stores)).count("acknowledged") == 1


async def test_a_change_the_poller_saw_is_audited_and_a_new_fork_announced_once(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    fork = {
        "id": 845_120_777,
        "node_id": "R_kgDOMl_1iQ",
        "name": "cpython-ghsa-4mq2-9c5v-wx7h",
        "full_name": "python/cpython-ghsa-4mq2-9c5v-wx7h",
        "private": True,
        "html_url": "https://github.com/python/cpython-ghsa-4mq2-9c5v-wx7h",
        "url": "https://api.github.com/repos/python/cpython-ghsa-4mq2-9c5v-wx7h",
    }
    advisory = report("pat", state="draft", private_fork=None)
    on_github(github, advisory)
    thread = script_comments(github, COMMENTS)
    changed = seen("updated", "draft", "state", "private_fork")
    async with open_stores(tmp_path) as stores:
        unit = doors(github, stores, clock_at(), psrt())
        await triage.updated(changed, unit)
        await triage.fork_ready(changed, unit)  # asked for, not made yet (GitHub takes minutes)
        assert thread == []
        advisory["private_fork"] = fork
        await triage.fork_ready(changed, unit)
        await triage.fork_ready(changed, unit)
        [announced] = [c["body"] for c in thread]
        assert "temporary private fork exists" in announced
        assert "`python/cpython-ghsa-4mq2-9c5v-wx7h`" in announced
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [(e.action, e.reason) for e in log] == [
            ("changed-on-github", "changed: state, private_fork"),
            ("fork-ready", "python/cpython-ghsa-4mq2-9c5v-wx7h exists"),
        ]
        # A change that is not the fork asks GitHub nothing.
        before = len(github.requests)
        await triage.fork_ready(seen("updated", "draft", "summary"), unit)
        assert len(github.requests) == before
