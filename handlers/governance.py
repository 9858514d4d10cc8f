"""PEP 811 governance: nominations, votes, the veto window, roster drift, the yearly report.

Fires on:

- `issue_comment` (created, edited) and `issues` (opened) in the configured
  governance repository (intake drops these events from every other
  repository): runs `/nominate`, `/vote`, `/veto` and `/help`, once per comment;
- `governance` events from the governance scanner (bot/governance/jobs.py):
  `vote_due` closes a vote and posts the result, `veto_window_ended` tells the
  admins what to change, `roster_check` keeps the roster-drift issue current,
  `inactivity_report` opens the year's report for the steering council.

Roles come from the canonical roster (member; admin = `Admin`). Every step is
in the audit log under `nomination-N` (`ghsa-bot nominations show N`).
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gidgethub import routing, sansio

from bot.advisories.comments import marker, post_once_at
from bot.commands.dispatch import (
    ReplyPlace,
    decide,
    pending_lines,
    post_owed_reply,
    run_command,
)
from bot.commands.parser import login, parse_commands
from bot.commands.registry import REGISTRY, CommandError, command
from bot.context import HandlerContext
from bot.github.client import GitHubClient
from bot.governance.store import (
    APPROVED,
    OPEN,
    VETO_WINDOW,
    VETOED,
    BallotRefused,
    GovernanceStore,
    Nomination,
    utc_minutes,
)
from bot.governance.votes import CHOICES, Tally
from bot.team.formats import RosterEntry
from bot.team.inactivity import gather_activity, inactivity_report, member_activity
from bot.team.roster import drift_report, export_csv

router = routing.Router()


@dataclass
class GovernanceCall:
    """What a governance command receives."""

    context: HandlerContext
    client: GitHubClient
    repository: str
    issue_number: int
    source_id: int  # the comment (or issue) the command is in
    caller: str
    roster: Sequence[RosterEntry]
    arguments: list[str] = field(default_factory=list)
    venue = "governance"

    @property
    def governance(self) -> GovernanceStore:
        store = self.context.governance
        return store

    async def audit(self, nomination: Nomination, action: str, reason: str) -> None:
        await self.context.audit(self.repository, nomination.subject, action, reason)


def _is_governance_repository(context: HandlerContext, repository: str) -> bool:
    configured = context.config.governance.repository
    return configured is not None and configured.lower() == repository.lower()


def governance_roles(caller: str, roster: Sequence[RosterEntry]) -> frozenset[str]:
    entry = next((e for e in roster if e.login.lower() == caller.lower()), None)
    if entry is None:
        return frozenset()
    return frozenset({"member", "admin"} if "Admin" in entry.roles else {"member"})


def ballot_url(context: HandlerContext, nomination: Nomination) -> str:
    base = context.public_url or ""
    return f"{base}/vote/{nomination.id}"


def admins(roster: Sequence[RosterEntry]) -> list[str]:
    return [entry.login for entry in roster if "Admin" in entry.roles]


# -- commands written in the governance repository -------------------------------------


@router.register("issue_comment", action="created")
@router.register("issue_comment", action="edited")
async def governance_comment(event: sansio.Event, context: HandlerContext) -> None:
    """Fires for a comment in the governance repository; runs the commands it adds.

    The caller is the comment's author, and only while GitHub says the author is
    who wrote this version (the delivery's `sender`): an edit by anyone else (an
    admin can edit others' comments) runs nothing, and the bot says so once.
    """
    data = event.data["comment"]
    await _run_commands(event, context, int(data["id"]), data)


@router.register("issues", action="opened")
async def governance_issue_opened(event: sansio.Event, context: HandlerContext) -> None:
    """Fires for a new issue in the governance repository; its body may hold `/nominate`."""
    data = event.data["issue"]
    await _run_commands(event, context, int(data["id"]), data)


def _sender(event: sansio.Event) -> str | None:
    sender = event.data.get("sender")
    login = sender.get("login") if isinstance(sender, dict) else None
    return str(login) if login else None


async def _run_commands(
    event: sansio.Event, context: HandlerContext, source_id: int, data: dict[str, Any]
) -> None:
    repository = str(event.data["repository"]["full_name"])
    if not _is_governance_repository(context, repository):
        return
    author = str(data["user"]["login"])
    if data["user"].get("type") == "Bot":
        return
    lines = await parse_commands(str(data.get("body") or ""))
    if not lines:
        return
    client = context.github
    number = int(event.data["issue"]["number"])
    place = ReplyPlace(
        f"/repos/{repository}/issues/{number}/comments",
        repository,
        f"issue-{number}",
        "governance-reply",
    )
    roster = context.team.roster()
    editor = _sender(event)
    if editor is None or editor.lower() != author.lower():
        await _edited_by_someone_else(context, client, place, source_id, author, editor, roster)
        return
    store = context.advisories
    roles = governance_roles(author, roster)
    done = await context.command_log.command_keys(source_id)
    pending = pending_lines(
        lines, done, store.digester, prefix="governance:", legacy="governance:"
    )
    now = context.clock.now()
    for item in pending:
        line = item.line
        declared = REGISTRY.find(line.verb, "governance")
        outcome = decide(
            item,
            declared,
            venue="governance",
            caller=author,
            caller_roles=roles,
            roles_for_line=roles,
            check_failed=None if roster else "the roster is not loaded",
        )
        if outcome is None:
            assert declared is not None
            call = GovernanceCall(context, client, repository, number, source_id, author, roster)
            outcome = await run_command(declared, line.arguments, call)
        await context.command_log.record_command(
            source_id, item.key, line.position, line.text, outcome, at=now
        )
    await post_owed_reply(
        client, store, context.command_log, place, source_id=source_id, caller=author, now=now
    )


async def _edited_by_someone_else(
    context: HandlerContext,
    client: GitHubClient,
    place: ReplyPlace,
    source_id: int,
    author: str,
    editor: str | None,
    roster: Sequence[RosterEntry],
) -> None:
    """Run nothing; say once that commands act only as the person who wrote them."""
    if not governance_roles(author, roster) and not (
        editor and governance_roles(editor, roster)
    ):
        return  # strangers get silence
    who = f"@{editor}" if editor else "someone GitHub does not name"
    name = f"governance-edited:{source_id}:{(editor or '').lower()}"
    await post_once_at(
        client,
        context.advisories,
        url=place.url,
        key=name,
        name=name,
        body=f"{who} changed @{author}'s words here, so the bot ran nothing new from them: "
        "a command acts as the person who wrote it, and only the author's own writing "
        "runs commands. Write the commands in a comment of your own.",
        now=context.clock.now(),
    )


@command(
    "nominate",
    usage="/nominate @USER REASON",
    description="Nominates someone for the team and opens a vote of the members "
    "(secret ballot unless the team votes in comments).",
    roles=("member",),
    examples=("/nominate @octocat maintains the ssl module and has fixed three CVEs",),
    venues=("governance",),
)
async def nominate(call: GovernanceCall) -> str:
    if len(call.arguments) < 2:
        raise CommandError("name one person and say why")
    nominee = login(call.arguments[0])
    reason = " ".join(call.arguments[1:])
    if governance_roles(nominee, call.roster):
        raise CommandError(f"@{nominee} is already a member")
    for other in await call.governance.nominations(states=(OPEN, VETO_WINDOW)):
        if other.nominee.lower() == nominee.lower():
            raise CommandError(
                f"@{nominee} already has a nomination in progress "
                f"({other.repository}#{other.issue_number})"
            )
    config = call.context.config.governance
    now = call.context.clock.now()
    nomination, is_new = await call.governance.open_nomination(
        repository=call.repository,
        issue_number=call.issue_number,
        nominee=nominee,
        nominator=call.caller,
        reason=reason,
        mode=config.votes,
        source_comment=call.source_id,
        opened_at=now,
        closes_at=now + config.vote_days * 86400,
    )
    if is_new:
        await call.audit(
            nomination, "nominated", f"@{call.caller} nominated @{nominee}: {reason[:200]}"
        )
    how = (
        "Members vote yes, no or abstain on the ballot page: "
        f"{ballot_url(call.context, nomination)} "
        "(sign in with GitHub). Ballots are secret: nobody sees the tally or who voted what "
        "before the close, and you may change your vote until then."
        if nomination.mode == "ballot"
        else "Members vote in this issue with `/vote yes`, `/vote no` or `/vote abstain`; "
        "a later `/vote` replaces your earlier one."
    )
    quorum = f" A result needs at least {config.quorum} ballots." if config.quorum else ""
    return (
        f"Nomination {nomination.id}: @{nominee}, nominated by @{call.caller}. The vote is open "
        f"until {utc_minutes(nomination.closes_at)}. {how} It passes with at least two-thirds "
        f"yes of the votes cast (abstentions do not count).{quorum}"
    )


async def _nomination_here(call: GovernanceCall, states: tuple[str, ...]) -> Nomination:
    found = [n for n in await call.governance.in_issue(call.repository, call.issue_number)]
    matching = [n for n in found if n.state in states]
    if call.arguments and call.arguments[-1].startswith("@"):
        wanted = login(call.arguments[-1]).lower()
        matching = [n for n in matching if n.nominee.lower() == wanted]
    if not matching:
        raise CommandError(f"this issue has no nomination that is {' or '.join(states)}")
    if len(matching) > 1:
        raise CommandError("this issue has several; name the nominee last, e.g. `@octocat`")
    return matching[0]


@command(
    "vote",
    usage="/vote yes|no|abstain [@NOMINEE]",
    description="Votes on this issue's open nomination (teams that vote in comments).",
    roles=("member",),
    examples=("/vote yes",),
    venues=("governance",),
)
async def vote(call: GovernanceCall) -> str:
    if not call.arguments or call.arguments[0].lower() not in CHOICES:
        raise CommandError("say yes, no or abstain")
    nomination = await _nomination_here(call, (OPEN,))
    if nomination.mode == "ballot":
        raise CommandError(
            f"this vote is by secret ballot: vote at {ballot_url(call.context, nomination)}. "
            "Your comment is visible to everyone who can read this issue; you may delete it"
        )
    choice = call.arguments[0].lower()
    try:
        changed = await call.governance.cast(
            nomination.id, call.caller, choice, now=call.context.clock.now()
        )
    except BallotRefused as error:
        raise CommandError(str(error)) from None
    await call.audit(
        nomination, "vote changed" if changed else "vote", f"@{call.caller} voted {choice}"
    )
    verb = "changed their vote to" if changed else "voted"
    return f"@{call.caller} {verb} {choice} on nomination {nomination.id} (@{nomination.nominee})."


@command(
    "veto",
    usage="/veto NOTE",
    description="Records the steering council's veto of a nomination that passed, "
    "during its veto window (an admin, on the council's behalf).",
    roles=("admin",),
    examples=("/veto The Steering Council vetoed this nomination by email on 2026-05-02",),
    venues=("governance",),
)
async def veto(call: GovernanceCall) -> str:
    if not call.arguments:
        raise CommandError("say what the council decided, and where")
    nomination = await _nomination_here(call, (VETO_WINDOW,))
    note = " ".join(call.arguments)
    if not await call.governance.finish(
        nomination.id, from_state=VETO_WINDOW, to_state=VETOED, note=note
    ):
        raise CommandError("the veto window has just ended")
    await call.audit(nomination, "vetoed", f"@{call.caller} on the council's behalf: {note[:200]}")
    return (
        f"Nomination {nomination.id} is vetoed by the steering council (recorded by "
        f"@{call.caller}: {note}). @{nomination.nominee} does not join the team."
    )


# -- clock-driven steps ------------------------------------------------------------------


async def _post(
    context: HandlerContext, repository: str, number: int, name: str, body: str
) -> None:
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


def council_email(nomination: Nomination, tally: Tally, team_name: str, veto_ends: float) -> str:
    return "\n".join(
        [
            "To: the Python Steering Council",
            f"Subject: {team_name}: nomination of @{nomination.nominee} passed; veto window "
            f"until {utc_minutes(veto_ends)[:10]}",
            "",
            "Dear Steering Council,",
            "",
            f"The {team_name} voted on the nomination of @{nomination.nominee} "
            f"(https://github.com/{nomination.nominee}), nominated by @{nomination.nominator}, "
            f"from {utc_minutes(nomination.opened_at)} to {utc_minutes(nomination.closes_at)}.",
            "",
            f"Result: {tally.explain()}",
            "",
            "Under PEP 811 the nomination stands unless the Steering Council vetoes it. "
            f"Please reply by {utc_minutes(veto_ends)} if you wish to veto it.",
        ]
    )


@router.register("governance", action="vote_due")
async def vote_due(event: sansio.Event, context: HandlerContext) -> None:
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
        email = council_email(nomination, tally, context.config.team.name, nomination.veto_ends_at)
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
async def veto_window_ended(event: sansio.Event, context: HandlerContext) -> None:
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
    if places.github_team:
        org, slug = places.github_team.split("/", 1)
        steps.append(
            f"Add @{login} to the GitHub team `{places.github_team}`: "
            f"https://github.com/orgs/{org}/teams/{slug}/members"
        )
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


async def _governance_issue(
    context: HandlerContext, purpose: str, title: str, body: str
) -> tuple[str, int]:
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
async def roster_check(event: sansio.Event, context: HandlerContext) -> None:
    """Fires once per `roster_check_hours`: compares the roster, the team and the published list.

    Drift is reported to the admins in the governance repository's "Roster drift"
    issue, and again only when it changes (also when it is resolved).
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
    await _post(
        context, repository, number, f"roster-drift-{digest[:16]}", f"{mentions}\n\n{report}"
    )
    await store.set_governance_issue("roster-drift", repository, number, digest)


@router.register("governance", action="inactivity_report")
async def yearly_inactivity_report(event: sansio.Event, context: HandlerContext) -> None:
    """Fires once a year on `inactivity_report_date`: posts the report for the council."""
    team = context.team
    now = context.clock.now()
    until = datetime.datetime.fromtimestamp(now, datetime.UTC).date()
    since = until.replace(year=until.year - 1)
    activity = await gather_activity(await team.advisory_clients(), since.isoformat())
    rows = member_activity(team.roster(), context.config.coordinators.roster, activity)
    report = inactivity_report(context.config.team.name, rows, since=since, until=until)
    await _governance_issue(
        context,
        f"inactivity-{until.year}",
        f"Inactivity report {until.year}",
        report + "\nFor the steering council (PEP 811). An admin forwards it.",
    )
