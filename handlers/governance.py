"""PEP 811 governance on the clock: vote results, the veto window, roster drift, the yearly report.

Fires on `governance` events from the governance scanner
(bot/governance/jobs.py): `vote_due` closes a vote and posts the result,
`veto_window_ended` tells the admins what to change, `roster_check` keeps the
roster-drift issue current, `inactivity_report` opens the year's report for
the steering council. The commands written in the governance repository are
in handlers/governance_commands.py. Every step of a nomination is in the audit
log under `nomination-N` (`ghsa-bot nominations show N`).
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Sequence
from typing import Protocol

from gidgethub import routing, sansio

from bot.advisories.comments import marker, post_once_at
from bot.context import (
    HasAdvisoryStore,
    HasClock,
    HasConfig,
    HasGitHub,
    HasGovernance,
    HasTeam,
    HasUrls,
)
from bot.governance.store import APPROVED, VETO_WINDOW, Nomination, utc_minutes
from bot.governance.votes import Tally
from bot.team.formats import RosterEntry
from bot.team.inactivity import gather_activity, inactivity_report, member_activity
from bot.team.roster import drift_report, export_csv

router = routing.Router()


class Doors(
    HasGitHub, HasAdvisoryStore, HasClock, HasConfig, HasGovernance, HasTeam, HasUrls, Protocol
):
    """What the clock-driven governance steps use."""


def admins(roster: Sequence[RosterEntry]) -> list[str]:
    return [entry.login for entry in roster if "Admin" in entry.roles]


# -- clock-driven steps ------------------------------------------------------------------


async def _post(context: Doors, repository: str, number: int, name: str, body: str) -> None:
    client = context.github
    await post_once_at(
        client,
        context.advisories,
        url=f"/repos/{repository}/issues/{number}/comments",
        key=f"governance:{name}",
        name=name,
        body=body,
        now=context.clock.now(),
    )


def council_email(
    nomination: Nomination, tally: Tally, team_name: str, veto_ends: float, web_url: str
) -> str:
    """The draft email to the steering council; `web_url` is GitHub's web host."""
    return "\n".join(
        [
            "To: the Python Steering Council",
            f"Subject: {team_name}: nomination of @{nomination.nominee} passed; veto window "
            f"until {utc_minutes(veto_ends)[:10]}",
            "",
            "Dear Steering Council,",
            "",
            f"The {team_name} voted on the nomination of @{nomination.nominee} "
            f"({web_url}/{nomination.nominee}), nominated by @{nomination.nominator}, "
            f"from {utc_minutes(nomination.opened_at)} to {utc_minutes(nomination.closes_at)}.",
            "",
            f"Result: {tally.explain()}",
            "",
            "Under PEP 811 the nomination stands unless the Steering Council vetoes it. "
            f"Please reply by {utc_minutes(veto_ends)} if you wish to veto it.",
        ]
    )


@router.register("governance", action="vote_due")
async def vote_due(event: sansio.Event, context: Doors) -> None:
    """Fires when a nomination's week is over: counts the ballots once and posts the result.

    A passed vote opens the steering council's veto window and drafts the email
    to the council for an admin to send; a failed vote ends the nomination.
    """
    store = context.governance
    config = context.config.governance
    nomination_id = int(event.data["nomination"])
    closed = await store.close(
        nomination_id, now=context.clock.now(), quorum=config.quorum, veto_days=config.veto_days
    )
    nomination = await store.get(nomination_id)
    if nomination is None or nomination.yes_votes is None:
        return
    if closed is not None:
        await context.audit(
            nomination.repository,
            nomination.subject,
            "vote closed",
            f"{nomination.state}: {closed[1].explain()}",
        )
    tally = Tally(
        nomination.yes_votes, nomination.no_votes or 0, nomination.abstentions or 0, config.quorum
    )
    roster = context.team.roster()
    mentions = " ".join(f"@{a}" for a in admins(roster))
    if nomination.veto_ends_at is not None:
        email = council_email(
            nomination,
            tally,
            context.config.team.name,
            nomination.veto_ends_at,
            context.web_url,
        )
        body = (
            f"**The vote on nomination {nomination.id} (@{nomination.nominee}) passed.** "
            f"{tally.explain()}\n\nThe steering council may veto it until "
            f"{utc_minutes(nomination.veto_ends_at)}; an admin records a veto with `/veto NOTE`. "
            f"{mentions}: please send the council this email (a draft):\n\n"
            f"<details><summary>Email to the steering council</summary>\n\n```text\n{email}\n"
            "```\n\n</details>\n\nWhen the window ends I will list what to change."
        )
    else:
        body = (
            f"**The vote on nomination {nomination.id} (@{nomination.nominee}) failed.** "
            f"{tally.explain()} The nomination ends here. {mentions}"
        )
    await _post(
        context,
        nomination.repository,
        nomination.issue_number,
        f"vote-result-{nomination.id}",
        body,
    )


@router.register("governance", action="veto_window_ended")
async def veto_window_ended(event: sansio.Event, context: Doors) -> None:
    """Fires when the veto window of a passed vote is over: the nominee joins.

    Tells the admins exactly what to change: the GitHub team, roster.toml and
    the published list.
    """
    store = context.governance
    nomination = await store.get(int(event.data["nomination"]))
    if nomination is None:
        return
    if await store.finish(nomination.id, from_state=VETO_WINDOW, to_state=APPROVED):
        await context.audit(
            nomination.repository, nomination.subject, "approved", "no veto in the window"
        )
        nomination = await store.get(nomination.id)
    if nomination is None or nomination.state != APPROVED:
        return
    team = context.team
    places = team.places()
    roster = team.roster()
    login = nomination.nominee
    steps = []
    team_page = places.team_page()
    if team_page is not None:
        steps.append(f"Add @{login} to the GitHub team `{places.github_team}`: {team_page}")
    roster_file = places.roster_file
    steps.append(
        f"Add them to `{roster_file}`:\n\n```toml\n[members.{login}]\n"
        'name = "THEIR NAME, AS PUBLISHED"\n```'
    )
    if places.published:
        line = export_csv([RosterEntry("THEIR NAME, AS PUBLISHED", login, frozenset())]).strip()
        steps.append(
            f"Add this line to `{places.published}` (or run `ghsa-bot roster export csv`):"
            f"\n\n```text\n{line}\n```"
        )
    numbered = "\n".join(f"{i}. {step}" for i, step in enumerate(steps, start=1))
    mentions = " ".join(f"@{a}" for a in admins(roster))
    body = (
        f"**No veto by {utc_minutes(nomination.veto_ends_at or 0)}: @{login} joins the "
        f"{context.config.team.name}.** Welcome!\n\n{mentions}: please\n\n{numbered}\n\n"
        "The daily roster check will say when the three agree."
    )
    await _post(
        context, nomination.repository, nomination.issue_number, f"approved-{nomination.id}", body
    )


async def _governance_issue(context: Doors, purpose: str, title: str, body: str) -> tuple[str, int]:
    """The bot's issue for `purpose` in the governance repository, opened once."""
    store = context.governance
    client = context.github
    repository = context.config.governance.repository
    assert repository is not None
    known = await store.governance_issue(purpose)
    if known is not None:
        return known[0], known[1]
    attempted = f"governance-issue:{purpose}:attempted"
    tag = marker(f"governance-issue:{purpose}")
    if await context.advisories.effect_done(attempted):
        raise RuntimeError(
            f"an earlier attempt to open the {purpose} issue may have succeeded; "
            "not opening a second one"
        )
    await context.advisories.record_effect(attempted, at=context.clock.now())
    issue = await client.post(
        f"/repos/{repository}/issues", data={"title": title, "body": f"{tag}\n{body}"}
    )
    number = int(issue["number"])
    await store.set_governance_issue(purpose, repository, number, None)
    return repository, number


@router.register("governance", action="roster_check")
async def roster_check(event: sansio.Event, context: Doors) -> None:
    """Fires once per `roster_check_hours`: compares the roster, the team and the published list.

    Drift is reported to the admins in the governance repository's "Roster drift"
    issue, and again only when it changes (also when it is resolved, and when
    the same drift comes back later).
    """
    team, store = context.team, context.governance
    drift, places, problems = await team.check_roster(context.clock.now())
    report = drift_report(drift, places)
    if problems:
        report += "\n\nNot checked: " + "; ".join(problems) + "."
    digest = hashlib.sha256(report.encode()).hexdigest()
    known = await store.governance_issue("roster-drift")
    if known is None and not drift and not problems:
        return  # nothing to tell, and no issue to update
    if known is not None and known[2] == digest:
        return
    mentions = " ".join(f"@{a}" for a in admins(team.roster()))
    repository, number = await _governance_issue(
        context,
        "roster-drift",
        "Roster drift",
        "The bot's daily comparison of the canonical roster with the GitHub team and the "
        "published member list (PEP 811: admins keep them synchronized).",
    )
    # Once per check period and report: a retried check posts nothing twice, and a
    # drift that comes back after it was resolved is reported again.
    period = str(event.data.get("period") or "")
    name = f"roster-drift-{digest[:16]}" + (f"-{period}" if period else "")
    await _post(context, repository, number, name, f"{mentions}\n\n{report}")
    await store.set_governance_issue("roster-drift", repository, number, digest)


def _a_year_before(day: datetime.date) -> datetime.date:
    """The same day a year earlier; February 28 for a February 29."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


@router.register("governance", action="inactivity_report")
async def yearly_inactivity_report(event: sansio.Event, context: Doors) -> None:
    """Fires once a year on `inactivity_report_date`: posts the report for the council."""
    team = context.team
    now = context.clock.now()
    until = datetime.datetime.fromtimestamp(now, datetime.UTC).date()
    since = _a_year_before(until)
    activity = await gather_activity(await team.advisory_clients(), since.isoformat())
    rows = member_activity(team.roster(), context.config.coordinators.roster, activity)
    report = inactivity_report(context.config.team.name, rows, since=since, until=until)
    await _governance_issue(
        context,
        f"inactivity-{until.year}",
        f"Inactivity report {until.year}",
        report + "\nFor the steering council (PEP 811). An admin forwards it.",
    )
