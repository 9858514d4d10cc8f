"""Advisory triage: see every report, bring in the team, credit and acknowledge the reporter.

Fires on `repository_advisory.reported` (the webhook) and on the poller's
`advisory.discovered` (reports and drafts GitHub sent no webhook for, and the
backfill of a newly installed repository). Each step is done once per
advisory, whichever event arrives first and however often:

1. Team access: the configured team joins `collaborating_teams`, and roster
   members outside that team join `collaborating_users`; in another
   organization's repository (GitHub refuses a team from elsewhere) every
   roster member joins as a user.
2. Reporter credit (reports only), in the same PATCH. GitHub replaces these
   arrays whole, so what is already there is kept.
3. One acknowledgement comment (reports only), with the target date, the
   policy link and what the report is missing. A hidden marker makes it safe
   to retry: a retry looks for the marker before posting again.
4. One comment suggesting experts (reports only) from the experts index and
   CODEOWNERS, for coordinators to `/invite`; invited automatically only
   when the policy says so. The suggestion names them without `@` (nobody is
   notified); with `[experts] tag = "on-report"` one comment tags them instead.

`advisory.updated` records the new state and the audit trail; a report that
became a draft (accepted on GitHub's page) gets its maintainers tagged once
(bot/advisories/expert_tags.py), as does `advisory.accepted`, which `/accept`
and acting title tags raise.
"""

from __future__ import annotations

import datetime
import string
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from gidgethub import routing, sansio

from bot.advisories.comments import marker, post_once
from bot.advisories.expert_tags import post_tags, tag_accepted, tagged_count
from bot.advisories.experts import require_team_files, suggest_for_team, suggestion_comment
from bot.advisories.report_check import check_report
from bot.advisories.store import AdvisoryRecord
from bot.context import HasAdvisoryHandles, HasConfig, HasTeam
from bot.github.client import GitHubClient

router = routing.Router()


class Doors(HasAdvisoryHandles, HasConfig, HasTeam, Protocol):
    """What triage uses."""


ACK_NAME = "acknowledgement"
ACK_MARKER = marker(ACK_NAME)


def _names(items: Sequence[Mapping[str, Any]] | None, key: str) -> list[str]:
    return [str(item[key]) for item in items or [] if isinstance(item, Mapping) and key in item]


def access_and_credit_patch(
    advisory: Mapping[str, Any],
    *,
    team_slug: str | None,
    outside_members: Sequence[str],
    reporter: str | None,
    credit_type: str,
) -> dict[str, Any]:
    """The PATCH body that adds what is missing, keeping everything already there."""
    patch: dict[str, Any] = {}
    teams = _names(advisory.get("collaborating_teams"), "slug")
    if team_slug and team_slug not in teams:
        patch["collaborating_teams"] = [*teams, team_slug]
    users = _names(advisory.get("collaborating_users"), "login")
    known = {user.lower() for user in users}
    missing = [m for m in outside_members if m.lower() not in known and m != reporter]
    if missing:
        patch["collaborating_users"] = [*users, *missing]
    if reporter:
        credits = [
            {"login": c["user"]["login"], "type": c["type"]}
            for c in advisory.get("credits_detailed") or []
        ]
        if not any(c["login"].lower() == reporter.lower() for c in credits):
            patch["credits"] = [*credits, {"login": reporter, "type": credit_type}]
    return patch


def acknowledgement(
    advisory: Mapping[str, Any], context: Doors, *, reporter: str, received_at: float
) -> str:
    config = context.config
    days = config.policy.response_days
    target = datetime.datetime.fromtimestamp(received_at, datetime.UTC) + datetime.timedelta(days)
    findings = check_report(
        advisory,
        required_sections=config.report.required_sections,
        supported_versions=config.report.supported_versions,
        prerelease_versions=config.report.prerelease_versions,
    )
    if findings:
        checks = "**About the report.** To help us triage it quickly:\n\n" + "\n".join(
            f"- {finding}" for finding in findings
        )
    else:
        checks = "**About the report.** It has everything our report template asks for. Thanks!"
    template_path = config.policy.acknowledgement_template
    template = (
        template_path.read_text(encoding="utf-8")
        if template_path is not None
        else "Hi @$reporter, thank you for the report. We aim to finish by $target_date."
        "\n\n$report_checks\n"
    )
    body = string.Template(template).safe_substitute(
        reporter=reporter,
        team=config.team.name,
        target_date=target.strftime("%Y-%m-%d"),
        policy_url=config.policy.url,
        credit_type=config.policy.reporter_credit,
        report_checks=checks,
    )
    return body.strip()


def _received_at(advisory: Mapping[str, Any], fallback: float) -> float:
    created = advisory.get("created_at")
    if isinstance(created, str) and created:
        return datetime.datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
    return fallback


async def triage(event: sansio.Event, context: Doors, *, reporter_hint: str | None) -> None:
    client = context.github
    repository = str(event.data["repository"]["full_name"])
    ghsa_id = str(event.data["repository_advisory"]["ghsa_id"])
    store = context.advisories
    now = context.clock.now()
    # Webhook payloads carry null authors and dates: always act on the REST view.
    advisory = await client.getitem(f"/repos/{repository}/security-advisories/{ghsa_id}")
    is_report = advisory["state"] == "triage"
    author = (advisory.get("author") or {}).get("login")
    reporter = (author or reporter_hint) if is_report else None
    record = await store.get(repository, ghsa_id)
    received_at = _received_at(advisory, record.received_at if record else now)
    record = AdvisoryRecord(
        repository=repository,
        ghsa_id=ghsa_id,
        installation_id=event.data["installation"]["id"],
        state=advisory["state"],
        reporter=reporter or (record.reporter if record else None),
        coordinator=record.coordinator if record else None,
        received_at=received_at,
        acknowledged_at=record.acknowledged_at if record else None,
        last_activity_at=now,
        github_updated_at=record.github_updated_at if record else None,
        fingerprint=record.fingerprint if record else None,
    )
    await store.save(record)

    github_team = context.config.team.github_team
    team_org, _, team_slug_in_org = (github_team or "").partition("/")
    roster = context.team.roster()
    outside: list[str] = []
    team_slug: str | None = team_slug_in_org or None
    if github_team and repository.split("/", 1)[0].lower() != team_org.lower():
        # GitHub refuses a team of another organization on an advisory: in another
        # organization's repository the roster's members join as users instead.
        team_slug = None
        outside = [entry.login for entry in roster]
    elif roster and github_team:
        in_team = await context.team.team_members(client, github_team, now=now)
        outside = [entry.login for entry in roster if entry.login.lower() not in in_team]
    patch = access_and_credit_patch(
        advisory,
        team_slug=team_slug,
        outside_members=outside,
        reporter=reporter,
        credit_type=context.config.policy.reporter_credit,
    )
    if patch:
        advisory = await client.patch(
            f"/repos/{repository}/security-advisories/{ghsa_id}", data=patch
        )
        await store.set_fingerprint(repository, ghsa_id, advisory)
        reason = ", ".join(sorted(patch))
        await context.audit(
            repository, ghsa_id, "access-and-credit", f"set {reason} (new advisory)"
        )
    if reporter and record.acknowledged_at is None:
        await acknowledge(client, context, record, advisory, reporter)
    if reporter:
        await suggest_experts(client, context, record, advisory, reporter)


async def suggest_experts(
    client: GitHubClient,
    context: Doors,
    record: AdvisoryRecord,
    advisory: Mapping[str, Any],
    reporter: str,
) -> None:
    """Step 4: name the experts for the modules the report is about, once.

    Only suggested: coordinators invite with `/invite` (need-to-know), unless
    the policy `auto_invite_experts` is on. With `[experts] tag = "on-report"`
    the one comment tags them (`@`) instead of naming them.
    """
    require_team_files(context.config.sources, context.team)
    modules, people = suggest_for_team(context.team, advisory, exclude={reporter})
    now = context.clock.now()
    if context.config.experts_tag == "on-report":
        await _tag_on_report(client, context, record, advisory, reporter)
    elif people:
        posted = await post_once(
            client,
            context.advisories,
            repository=record.repository,
            ghsa_id=record.ghsa_id,
            name="experts",
            body=suggestion_comment(modules, people),
            now=now,
        )
        if posted:
            await context.audit(
                record.repository,
                record.ghsa_id,
                "experts-suggested",
                f"{len(people)} people suggested for {len(modules) or 'named'} module(s)",
            )
    if not people:
        return
    if context.config.policy.auto_invite_experts:
        # Need-to-know: an expert named in a file (experts.rst, CODEOWNERS) is invited
        # automatically only when the roster or the GitHub team says they are a member.
        members = await context.team.member_logins(client, now=now)
        users = _names(advisory.get("collaborating_users"), "login")
        known = {user.lower() for user in users}
        missing = [
            p.login for p in people if p.login.lower() not in known and p.login.lower() in members
        ]
        if missing:
            path = f"/repos/{record.repository}/security-advisories/{record.ghsa_id}"
            updated = await client.patch(path, data={"collaborating_users": [*users, *missing]})
            await context.advisories.set_fingerprint(record.repository, record.ghsa_id, updated)
            await context.audit(
                record.repository,
                record.ghsa_id,
                "experts-invited",
                f"auto_invite_experts: {', '.join(missing)}",
            )


async def _tag_on_report(
    client: GitHubClient,
    context: Doors,
    record: AdvisoryRecord,
    advisory: Mapping[str, Any],
    reporter: str,
) -> None:
    """`[experts] tag = "on-report"`: the one comment tags them, at once."""
    tagged = await post_tags(
        client,
        context.advisories,
        team=context.team,
        repository=record.repository,
        ghsa_id=record.ghsa_id,
        advisory=advisory,
        reporter=reporter,
        accepted=False,
        now=context.clock.now(),
    )
    if tagged is not None:
        await context.audit(
            record.repository,
            record.ghsa_id,
            "experts-tagged",
            f"on report: {tagged_count(tagged)}",
        )


async def acknowledge(
    client: GitHubClient,
    context: Doors,
    record: AdvisoryRecord,
    advisory: Mapping[str, Any],
    reporter: str,
) -> None:
    """Post the acknowledgement once, even across crashes and retries."""
    now = context.clock.now()
    body = acknowledgement(advisory, context, reporter=reporter, received_at=record.received_at)
    posted = await post_once(
        client,
        context.advisories,
        repository=record.repository,
        ghsa_id=record.ghsa_id,
        name=ACK_NAME,
        body=body,
        now=now,
    )
    await context.advisories.save(replace(record, acknowledged_at=now, last_activity_at=now))
    await context.audit(
        record.repository,
        record.ghsa_id,
        "acknowledged",
        "acknowledgement comment posted" if posted else "found the earlier one",
    )


@router.register("repository_advisory", action="reported")
async def reported(event: sansio.Event, context: Doors) -> None:
    """Fires when someone files a private vulnerability report (webhook).

    The delivery's sender is the reporter (the payload's author is null).
    Brings in the team, credits and acknowledges the reporter, once.
    """
    sender = event.data.get("sender") or {}
    await triage(event, context, reporter_hint=sender.get("login"))


@router.register("advisory", action="discovered")
async def discovered(event: sansio.Event, context: Doors) -> None:
    """Fires when the poller finds an advisory it had not seen (no webhook came).

    A report (`triage`) is handled as a new report; a draft opened by a
    maintainer gets team access only.
    """
    await triage(event, context, reporter_hint=None)


@router.register("advisory", action="updated")
async def updated(event: sansio.Event, context: Doors) -> None:
    """Fires when the poller sees an advisory change; adds it to the audit log.

    The new state itself was recorded by the poller with what it saw.
    """
    repository = str(event.data["repository"]["full_name"])
    ghsa_id = str(event.data["repository_advisory"]["ghsa_id"])
    changes = ", ".join(event.data.get("changes") or []) or "nothing watched"
    await context.audit(repository, ghsa_id, "changed-on-github", f"changed: {changes}")


@router.register("advisory", action="updated")
async def accepted_on_github(event: sansio.Event, context: Doors) -> None:
    """Fires on a change the poller saw; a report that became a draft was accepted.

    Tags the maintainers of its modules once (`[experts] tag`); `/accept` did it
    already when the bot accepted it, and then this posts nothing.
    """
    if "state" not in (event.data.get("changes") or []):
        return
    if event.data["repository_advisory"].get("state") != "draft":
        return
    if context.config.experts_tag == "never":
        return
    repository = str(event.data["repository"]["full_name"])
    ghsa_id = str(event.data["repository_advisory"]["ghsa_id"])
    record = await context.advisories.get(repository, ghsa_id)
    if record is None or record.reporter is None:
        return  # a draft a maintainer opened is no report to accept
    require_team_files(context.config.sources, context.team)
    found = await context.fetch_advisory(event)
    if found.advisory["state"] == "draft":
        await tag_accepted(found, context.team, context.config.experts_tag, by="on GitHub")


@router.register("advisory", action="accepted")
async def accepted_by_the_bot(event: sansio.Event, context: Doors) -> None:
    """Fires when `/accept` or an acting title tag accepted a report (the bot raises it,
    once per advisory); tags the maintainers of its modules once (`[experts] tag`)."""
    if context.config.experts_tag == "never":
        return
    require_team_files(context.config.sources, context.team)
    found = await context.fetch_advisory(event)
    if found.advisory["state"] == "draft":
        by = str(event.data.get("by") or "the bot")
        await tag_accepted(found, context.team, context.config.experts_tag, by=by)


@router.register("advisory", action="updated")
async def fork_ready(event: sansio.Event, context: Doors) -> None:
    """Fires on a change the poller saw; announces a temporary private fork once it exists."""
    if "private_fork" not in (event.data.get("changes") or []):
        return
    client = context.github
    repository = str(event.data["repository"]["full_name"])
    ghsa_id = str(event.data["repository_advisory"]["ghsa_id"])
    advisory = await client.getitem(f"/repos/{repository}/security-advisories/{ghsa_id}")
    fork = advisory.get("private_fork")
    if not fork:
        return
    posted = await post_once(
        client,
        context.advisories,
        repository=repository,
        ghsa_id=ghsa_id,
        name="fork-ready",
        body=f"The temporary private fork exists: {fork['html_url']} (`{fork['full_name']}`). "
        "Collaborators can push fix branches there; CI does not run in it.",
        now=context.clock.now(),
    )
    if posted:
        await context.audit(repository, ghsa_id, "fork-ready", f"{fork['full_name']} exists")
