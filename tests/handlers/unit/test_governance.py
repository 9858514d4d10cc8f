"""handlers/governance.py, the clock-driven PEP 811 steps, with its doors (GitHub, advisories,
clock, config, governance, team) and nothing else."""

from __future__ import annotations

import copy
import datetime
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from gidgethub import sansio

from bot.core.config import BotConfig
from bot.governance.store import APPROVED, FAILED, OPEN, VETO_WINDOW, VETOED, Nomination
from bot.team.formats import RosterEntry, parse_psrt_csv
from bot.team.roster import Drift, Places, canonical_entries, export_csv, roster_drift
from handlers import governance
from tests.handlers.unit.doors import (
    CPYTHON,
    ScriptedGitHub,
    Stores,
    UnitDoors,
    clock_at,
    event,
    open_stores,
)
from tests.handlers.unit.github_answers import (
    BOT_LOGIN,
    credit,
    github_user,
    repository_advisory,
    script_comments,
    thread_comment,
)
from tests.harness import ROOT, SteppedClock

GOVERNANCE = "python/psrt-governance"
ISSUES = f"/repos/{GOVERNANCE}/issues"
ADMINS = "@warsaw @ewdurbin @ned-deily @sethmlarson @StanFromIreland"  # roster.toml's order
DAY = 86400.0
GHES = "https://github.example.org"  # a GitHub Enterprise Server's web host


class GovernanceTeam:
    """The part of TeamData (bot/team/data.py) the governance steps use: the roster
    (roster.toml), where the three lists live, the roster check, and a client per
    advisory repository. `github_team` and `published` are the GitHub team and the
    published list as read now; None: that place could not be read."""

    def __init__(
        self,
        config: BotConfig,
        *,
        github_team: Iterable[str] | None = None,
        published: Sequence[RosterEntry] | None = None,
        clients: Sequence[tuple[str, ScriptedGitHub]] = (),
    ) -> None:
        self.notes = config.coordinators.roster
        self.github_team_name = config.team.github_team
        self.entries = canonical_entries(self.notes)
        logins = [entry.login for entry in self.entries]
        self.github_team = {x.lower() for x in (logins if github_team is None else github_team)}
        self.team_readable = True
        self.published = list(self.entries if published is None else published)
        self.clients = list(clients)

    def roster(self) -> list[RosterEntry]:
        return list(self.entries)

    def places(self) -> Places:
        return Places(
            roster_file=str(self.notes.path),
            github_team=self.github_team_name,
            published="python/devguide:security/psrt.csv",
            web_url=GHES,
        )

    async def check_roster(self, now: float) -> tuple[list[Drift], Places, list[str]]:
        problems = []
        team: set[str] | None = self.github_team
        if not self.team_readable:
            team = None
            problems.append(f"could not read the GitHub team {self.github_team_name}: 502")
        drift = roster_drift(
            self.entries,
            team=team,
            published=self.published,
            places=self.places(),
            emeritus=self.notes.emeritus,
        )
        return drift, self.places(), problems

    async def advisory_clients(self) -> list[tuple[str, ScriptedGitHub]]:
        return list(self.clients)


def scanned(action: str, **extra: Any) -> sansio.Event:
    """An event of the governance scanner (bot/governance/jobs.py)."""
    payload = {
        "action": action,
        "installation": {"id": 7},
        "repository": {"full_name": GOVERNANCE},
        **extra,
    }
    return event("governance", payload)


def doors(
    github: ScriptedGitHub, stores: Stores, clock: SteppedClock, team: GovernanceTeam
) -> UnitDoors:
    return UnitDoors(
        github=github,
        advisories=stores.advisories,
        clock=clock,
        config=CPYTHON,
        governance=stores.governance,
        team=team,
        web_url=GHES,
    )


def issues_open(github: ScriptedGitHub, number: int) -> list[dict[str, Any]]:
    """POST /repos/{governance}/issues answers a new issue (201) numbered `number`."""
    opened: list[dict[str, Any]] = []

    def create(body: dict[str, Any]) -> dict[str, Any]:
        issue = {
            "id": 2_500_000_000 + number,
            "node_id": f"I_kwDOGov{number}",
            "url": f"https://api.github.com{ISSUES}/{number}",
            "repository_url": f"https://api.github.com/repos/{GOVERNANCE}",
            "html_url": f"https://github.com/{GOVERNANCE}/issues/{number}",
            "number": number,
            "state": "open",
            "title": body["title"],
            "body": body["body"],
            "user": {**github_user(BOT_LOGIN), "type": "Bot"},
            "labels": [],
            "assignees": [],
            "comments": 0,
            "created_at": "2027-01-15T06:00:00Z",
            "updated_at": "2027-01-15T06:00:00Z",
            "closed_at": None,
            "author_association": "NONE",
        }
        opened.append(issue)
        return copy.deepcopy(issue)

    github.answer("POST", ISSUES, create)
    return opened


async def nominated(stores: Stores, clock: SteppedClock, ballots: Sequence[str]) -> Nomination:
    """@warsaw nominated @octo-newcomer in issue 12 a week ago; `ballots` were cast."""
    nomination, _ = await stores.governance.open_nomination(
        repository=GOVERNANCE,
        issue_number=12,
        nominee="octo-newcomer",
        nominator="warsaw",
        reason="fixed three CVEs in ssl and zipfile",
        mode="ballot",
        source_comment=1_900_000_001,
        opened_at=clock.now(),
        closes_at=clock.now() + 7 * DAY,
    )
    members = [entry.login for entry in canonical_entries(CPYTHON.coordinators.roster)]
    for voter, choice in zip(members, ballots, strict=False):
        await stores.governance.cast(nomination.id, voter, choice, now=clock.now())
    clock.advance(7 * DAY)
    return nomination


async def audit(stores: Stores, nomination: Nomination) -> list[tuple[str, str]]:
    log = await stores.advisories.audit_log(GOVERNANCE, nomination.subject)
    return [(entry.action, entry.reason) for entry in log]


async def test_a_passed_vote_posts_the_result_and_the_councils_email_once(tmp_path: Path) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    thread = script_comments(github, f"{ISSUES}/12/comments")
    async with open_stores(tmp_path) as stores:
        nomination = await nominated(stores, clock, ["yes"] * 4 + ["no"] * 2 + ["abstain"])
        unit = doors(github, stores, clock, GovernanceTeam(CPYTHON))
        await governance.vote_due(scanned("vote_due", nomination=nomination.id), unit)
        await governance.vote_due(scanned("vote_due", nomination=nomination.id), unit)  # again

        closed = await stores.governance.get(nomination.id)
        assert closed is not None and closed.state == VETO_WINDOW
        assert closed.veto_ends_at == clock.now() + 7 * DAY
        [result] = [c["body"] for c in thread]
        assert result.startswith(
            "<!-- ghsa-bot:vote-result-1 -->\n**The vote on nomination 1 (@octo-newcomer) "
            "passed.** 4 yes, 2 no, 1 abstaining (7 ballots): 4 of 6 votes cast are yes, at "
            "least two-thirds, so it passes"
        )
        assert f"{ADMINS}: please send the council this email (a draft)" in result
        assert "Subject: Python Security Response Team: nomination of @octo-newcomer passed" in (
            result
        )
        assert "an admin records a veto with `/veto NOTE`" in result
        assert f"@octo-newcomer ({GHES}/octo-newcomer), nominated by" in result
        assert await audit(stores, nomination) == [
            (
                "vote closed",
                "veto_window: 4 yes, 2 no, 1 abstaining (7 ballots): 4 of 6 votes cast are yes, "
                "at least two-thirds, so it passes (abstentions do not count).",
            )
        ]


async def test_a_vote_closes_only_when_its_week_is_over_and_a_failed_one_ends(
    tmp_path: Path,
) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    thread = script_comments(github, f"{ISSUES}/12/comments")
    async with open_stores(tmp_path) as stores:
        nomination = await nominated(stores, clock, ["yes", "no"])
        unit = doors(github, stores, clock, GovernanceTeam(CPYTHON))
        clock.advance(-60)  # a minute before the close: nothing is counted or said
        await governance.vote_due(scanned("vote_due", nomination=nomination.id), unit)
        still = await stores.governance.get(nomination.id)
        assert still is not None and still.state == OPEN and still.yes_votes is None
        assert github.requests == [] and await audit(stores, nomination) == []

        clock.advance(60)
        await governance.vote_due(scanned("vote_due", nomination=nomination.id), unit)
        closed = await stores.governance.get(nomination.id)
        assert closed is not None and closed.state == FAILED and closed.veto_ends_at is None
        [result] = [c["body"] for c in thread]
        assert "**The vote on nomination 1 (@octo-newcomer) failed.**" in result
        assert "1 of 2 votes cast are yes, less than two-thirds, so it fails" in result
        assert result.rstrip().endswith(f"The nomination ends here. {ADMINS}")
        assert "email" not in result
        assert [action for action, _ in await audit(stores, nomination)] == ["vote closed"]


async def test_when_the_veto_window_ends_the_admins_are_told_what_to_change(
    tmp_path: Path,
) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    thread = script_comments(github, f"{ISSUES}/12/comments")
    async with open_stores(tmp_path) as stores:
        nomination = await nominated(stores, clock, ["yes", "yes", "yes"])
        await stores.governance.close(nomination.id, now=clock.now(), quorum=0, veto_days=7)
        clock.advance(7 * DAY)
        unit = doors(github, stores, clock, GovernanceTeam(CPYTHON))
        await governance.veto_window_ended(scanned("veto_window_ended", nomination=1), unit)
        await governance.veto_window_ended(scanned("veto_window_ended", nomination=1), unit)

        approved = await stores.governance.get(nomination.id)
        assert approved is not None and approved.state == APPROVED
        [welcome] = [c["body"] for c in thread]
        assert "@octo-newcomer joins the Python Security Response Team.** Welcome!" in welcome
        assert f"{ADMINS}: please" in welcome
        assert (
            "1. Add @octo-newcomer to the GitHub team `python/psrt`: "
            f"{GHES}/orgs/python/teams/psrt/members"  # GitHub's web host, not github.com
        ) in welcome
        assert f"2. Add them to `{ROOT / 'config' / 'roster.toml'}`" in welcome
        assert "[members.octo-newcomer]" in welcome
        assert "3. Add this line to `python/devguide:security/psrt.csv`" in welcome
        assert '"THEIR NAME, AS PUBLISHED",octo-newcomer,' in welcome
        assert await audit(stores, nomination) == [("approved", "no veto in the window")]


async def test_a_vetoed_nomination_is_not_welcomed(tmp_path: Path) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    async with open_stores(tmp_path) as stores:
        nomination = await nominated(stores, clock, ["yes"])
        await stores.governance.close(nomination.id, now=clock.now(), quorum=0, veto_days=7)
        assert await stores.governance.finish(
            nomination.id, from_state=VETO_WINDOW, to_state=VETOED, note="vetoed by email"
        )
        clock.advance(7 * DAY)
        unit = doors(github, stores, clock, GovernanceTeam(CPYTHON))
        await governance.veto_window_ended(scanned("veto_window_ended", nomination=1), unit)
        vetoed = await stores.governance.get(nomination.id)
        assert vetoed is not None and vetoed.state == VETOED
        assert github.requests == [] and await audit(stores, nomination) == []


async def test_roster_drift_opens_one_issue_and_reports_each_change_once(tmp_path: Path) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    opened = issues_open(github, 31)
    thread = script_comments(github, f"{ISSUES}/31/comments")
    members = [entry.login for entry in canonical_entries(CPYTHON.coordinators.roster)]
    # The GitHub team lacks a member and keeps someone who left.
    team = GovernanceTeam(
        CPYTHON, github_team=[*(m for m in members if m != "sethmlarson"), "old-member"]
    )
    async with open_stores(tmp_path) as stores:
        unit = doors(github, stores, clock, team)
        await governance.roster_check(scanned("roster_check", period="1"), unit)
        # A retry of the same check, then the next day's: the same drift, said once.
        await governance.roster_check(scanned("roster_check", period="1"), unit)
        await governance.roster_check(scanned("roster_check", period="2"), unit)

        [issue] = opened
        assert issue["title"] == "Roster drift"
        assert issue["body"].startswith("<!-- ghsa-bot:governance-issue:roster-drift -->\n")
        [report] = [c["body"] for c in thread]
        assert report.split("\n")[1] == ADMINS
        assert "**2 difference(s)** from the canonical roster" in report
        assert "- @sethmlarson: is in" in report and "but not in the GitHub team python/psrt" in (
            report
        )
        assert "- @old-member: is in the GitHub team python/psrt but not in" in report
        known = await stores.governance.governance_issue("roster-drift")
        assert known is not None and known[:2] == (GOVERNANCE, 31)

        # The admins fix the team: the resolution is said in the same issue.
        team.github_team = {m.lower() for m in members}
        clock.advance(DAY)
        await governance.roster_check(scanned("roster_check", period="3"), unit)
        assert len(opened) == 1 and len(thread) == 2
        assert "the GitHub team and the published list agree." in thread[1]["body"]

        # The same drift comes back: it is reported again, not taken for the old report.
        team.github_team = {*(m.lower() for m in members if m != "sethmlarson"), "old-member"}
        await governance.roster_check(scanned("roster_check", period="4"), unit)
        assert len(thread) == 3
        assert thread[2]["body"].split("\n", 1)[1] == report.split("\n", 1)[1]  # past the marker


async def test_no_drift_and_no_issue_yet_says_nothing(tmp_path: Path) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    published = parse_psrt_csv(export_csv(canonical_entries(CPYTHON.coordinators.roster)))
    async with open_stores(tmp_path) as stores:
        unit = doors(github, stores, clock, GovernanceTeam(CPYTHON, published=published))
        await governance.roster_check(scanned("roster_check"), unit)
        assert github.requests == []
        assert await stores.governance.governance_issue("roster-drift") is None


async def test_a_place_that_cannot_be_read_is_reported_not_taken_as_empty(
    tmp_path: Path,
) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    opened = issues_open(github, 32)
    thread = script_comments(github, f"{ISSUES}/32/comments")
    team = GovernanceTeam(CPYTHON)
    team.team_readable = False
    async with open_stores(tmp_path) as stores:
        await governance.roster_check(scanned("roster_check"), doors(github, stores, clock, team))
        assert len(opened) == 1
        [report] = [c["body"] for c in thread]
        assert report.rstrip().endswith(
            "Not checked: could not read the GitHub team python/psrt: 502."
        )
        assert "difference" not in report


async def test_the_yearly_inactivity_report_is_opened_once_for_the_council(
    tmp_path: Path,
) -> None:
    github, advisories = ScriptedGitHub(), ScriptedGitHub()  # governance; python/cpython
    ghsa_id = "GHSA-2q3r-4s5t-6u7v"
    advisories.answer(
        "GET",
        "/repos/python/cpython/security-advisories?per_page=100&sort=updated",
        [
            repository_advisory(
                "python/cpython",
                ghsa_id,
                state="published",
                updated_at="2026-06-02T09:00:00Z",
                published_at="2026-06-02T09:00:00Z",
                credits_detailed=[credit("gpshead", "coordinator", "accepted")],
            )
        ],
    )
    comments = f"/repos/python/cpython/security-advisories/{ghsa_id}/comments"
    script_comments(
        advisories,
        f"{comments}?per_page=100",
        thread_comment(comments, "sethmlarson", "Reproduced.", at="2026-05-20T08:00:00Z"),
    )
    opened = issues_open(github, 40)
    report_day = datetime.datetime(2027, 1, 15, 6, 0, tzinfo=datetime.UTC).timestamp()
    clock = SteppedClock(report_day)
    team = GovernanceTeam(CPYTHON, clients=[("python/cpython", advisories)])
    async with open_stores(tmp_path) as stores:
        unit = doors(github, stores, clock, team)
        await governance.yearly_inactivity_report(scanned("inactivity_report"), unit)
        clock.advance(3600)
        await governance.yearly_inactivity_report(scanned("inactivity_report"), unit)  # again

        [issue] = opened
        assert issue["title"] == "Inactivity report 2027"
        body = issue["body"]
        assert body.startswith("<!-- ghsa-bot:governance-issue:inactivity-2027 -->\n")
        assert "# Python Security Response Team: inactivity report, 2026-01-15 to 2027-01-15" in (
            body
        )
        assert f"| Gregory P. Smith (@gpshead) | {ghsa_id} (2026-06-02) | none | active |" in body
        assert f"| Seth Larson (@sethmlarson) | none | {ghsa_id} (2026-05-20) | active |" in body
        assert "| Tim Peters (@tim-one) | none | none | inactive |" in body
        assert "@hugovk (release manager)" in body  # exempt, not inactive
        assert body.rstrip().endswith("For the steering council (PEP 811). An admin forwards it.")
        known = await stores.governance.governance_issue("inactivity-2027")
        assert known is not None and known[:2] == (GOVERNANCE, 40)


async def test_the_inactivity_report_due_on_february_29_covers_the_year_from_february_28(
    tmp_path: Path,
) -> None:
    github, advisories = ScriptedGitHub(), ScriptedGitHub()
    advisories.answer(
        "GET", "/repos/python/cpython/security-advisories?per_page=100&sort=updated", []
    )
    opened = issues_open(github, 41)
    leap_day = datetime.datetime(2028, 2, 29, 6, 0, tzinfo=datetime.UTC).timestamp()
    team = GovernanceTeam(CPYTHON, clients=[("python/cpython", advisories)])
    async with open_stores(tmp_path) as stores:
        unit = doors(github, stores, SteppedClock(leap_day), team)
        await governance.yearly_inactivity_report(scanned("inactivity_report"), unit)
    [issue] = opened
    assert issue["title"] == "Inactivity report 2028"
    assert "inactivity report, 2027-02-28 to 2028-02-29" in issue["body"]


async def test_an_issue_that_may_have_been_opened_before_a_crash_is_not_opened_twice(
    tmp_path: Path,
) -> None:
    github, clock = ScriptedGitHub(), clock_at()
    opened = issues_open(github, 33)
    team = GovernanceTeam(CPYTHON, github_team=["someone-else"])
    async with open_stores(tmp_path) as stores:
        # An earlier attempt was recorded, and the process died before the issue was.
        await stores.advisories.record_effect(
            "governance-issue:roster-drift:attempted", at=clock.now() - 60
        )
        unit = doors(github, stores, clock, team)
        with pytest.raises(RuntimeError, match="may have succeeded; not opening a second one"):
            await governance.roster_check(scanned("roster_check"), unit)
        assert opened == [] and github.requests == []
