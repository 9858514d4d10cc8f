"""Maintainers tagged once a report is accepted: one comment per advisory, never access.

Before acceptance the bot only suggests experts (handlers/triage.py, step 4:
logins without `@`, which notify nobody). Once the team accepts a report
(GitHub's own accept, which the poller sees as a state change to `draft`;
`/accept`; a title tag that acts), :func:`tag_accepted` posts one comment that
@-mentions the experts and CODEOWNERS owners of the report's modules, teams
included, and says how a coordinator invites them: a mention grants nothing.
`[experts] tag` says when: "on-accept" (the default), "on-report" (at triage,
instead of the suggestion) or "never".

Who is mentioned comes only from the team's files (the experts index and
CODEOWNERS, bot/advisories/experts.py): the report's text, which the reporter
writes, only selects which entries apply. A name that is not a GitHub login or
`org/team` is never mentioned, the reporter never is, and at most MAX_TAGGED
are. The report's own words (paths it names) appear only in code spans. The
comment carries a hidden marker (bot/advisories/comments.py), so any further
signal (a redelivery, the poller after `/accept`, a title tag) posts nothing.
`/accept` and an acting title tag raise `advisory.accepted` (:func:`accepted`)
rather than post: the comment is then its own delivery, retried on its own.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from bot.advisories.comments import post_once
from bot.advisories.experts import (
    LISTED_MODULES,
    LISTED_PEOPLE,
    LISTED_REASONS,
    Suggestion,
    suggest_for_team,
)
from bot.advisories.handle import AdvisoryHandle
from bot.advisories.store import AdvisoryStore
from bot.github.client import GitHubClient
from bot.queue.followups import FollowUps
from bot.team.data import TeamData

TAGGED = "experts-tagged"  # the comment's marker name: one per advisory
# A report names what it likes: this many people are mentioned at most, the rest listed.
MAX_TAGGED = 20

_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_TEAM = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

INVITING = (
    "Being tagged gives no access: you see this advisory only once you are invited. "
    "Coordinators: invite the people this needs with `/invite @user` (for a team, invite "
    "the members who need to know by name). Only people who need to know should see an "
    "embargoed report."
)


def mention(login: str) -> str | None:
    """`@login` or `@org/team` for a name that is one; None for anything else."""
    if _LOGIN.fullmatch(login) or _TEAM.fullmatch(login):
        return "@" + login
    return None


def _code(text: str) -> str:
    """`text` as a code span: a mention or a link inside one notifies and renders nothing."""
    return "`" + text[:200].replace("`", "'").replace("\n", " ") + "`"


def _reason(reason: str) -> str:
    """`tarfile (experts index)` → `` `tarfile` (experts index) ``."""
    name, found, source = reason.rpartition(" (")
    if not found or source not in ("experts index)", "CODEOWNERS)"):
        return _code(reason)
    return f"{_code(name)} ({source}"


def _some(items: Sequence[str], limit: int) -> str:
    more = f", and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def tagging_comment(
    modules: Sequence[str],
    people: Sequence[Suggestion],
    *,
    invited: Collection[str] = (),
    accepted: bool = True,
) -> str | None:
    """The comment that tags `people` (None when none can be mentioned).

    `invited`: lower-case logins and `org/team` names already collaborating.
    """
    named = [(text, person) for person in people if (text := mention(person.login))]
    if not named:
        return None
    shown = _some([_code(module[:100]) for module in modules], LISTED_MODULES)
    why = "The team accepted this report" if accepted else "This report is new"
    lines = [
        f"**Maintainers** of what this report is about ({shown or 'the files it names'}). "
        f"{why}; your knowledge is asked for:",
        "",
    ]
    for text, person in named[:MAX_TAGGED]:
        already = " (already a collaborator)" if person.login.lower() in invited else ""
        reasons = [_reason(reason) for reason in person.reasons]
        shown_reasons = "; ".join(reasons[:LISTED_REASONS])
        lines.append(f"- {text}{already}: {shown_reasons}")
    rest = named[MAX_TAGGED:]
    if rest:
        listed = _some([_code(person.login) for _, person in rest], LISTED_PEOPLE)
        lines.append(f"- not tagged (at most {MAX_TAGGED} are): {listed}")
    lines += ["", INVITING]
    return "\n".join(lines)


def collaborators(repository: str, advisory: Mapping[str, Any]) -> set[str]:
    """Lower-case logins and `org/team` names collaborating on the advisory."""
    org = repository.split("/", 1)[0]
    users = {str(u.get("login", "")).lower() for u in advisory.get("collaborating_users") or []}
    teams = {
        f"{org}/{t.get('slug', '')}".lower() for t in advisory.get("collaborating_teams") or []
    }
    return users | teams


def tagged_count(tagged: Sequence[str]) -> str:
    """For the audit log: how many, never who (the experts would say which module)."""
    teams = sum("/" in login for login in tagged)
    return f"tagged {len(tagged) - teams} people and {teams} team(s)"


async def post_tags(
    client: GitHubClient,
    store: AdvisoryStore,
    *,
    team: TeamData | None,
    repository: str,
    ghsa_id: str,
    advisory: Mapping[str, Any],
    reporter: str | None,
    accepted: bool,
    now: float,
) -> list[str] | None:
    """Post the tagging comment unless it is there already; the mentions posted, or None."""
    exclude = {login for login in (reporter, (advisory.get("author") or {}).get("login")) if login}
    modules, people = suggest_for_team(team, advisory, exclude=exclude, teams=True)
    body = tagging_comment(
        modules, people, invited=collaborators(repository, advisory), accepted=accepted
    )
    if body is None:
        return None
    posted = await post_once(
        client, store, repository=repository, ghsa_id=ghsa_id, name=TAGGED, body=body, now=now
    )
    if not posted:
        return None
    return [p.login for p in people if mention(p.login)][:MAX_TAGGED]


async def accepted(
    followups: FollowUps, handle: AdvisoryHandle, *, installation_id: int, by: str
) -> None:
    """Raise `advisory.accepted` for a report the bot itself accepted (`by`: how).

    Its own delivery tags the maintainers (handlers/triage.py), retried on its own:
    a failed post never makes `/accept` run again, and the event is stored once per
    advisory however often acceptance is announced.
    """
    payload = {
        "action": "accepted",
        "by": by,
        "installation": {"id": installation_id},
        "repository": {"full_name": handle.repository},
        "repository_advisory": {"ghsa_id": handle.ghsa_id, "state": "draft"},
    }
    guid = f"accepted:{handle.repository}:{handle.ghsa_id}"
    await followups.raise_event(guid, "advisory", payload, source="bot")


async def tag_accepted(
    handle: AdvisoryHandle, team: TeamData | None, mode: str, *, by: str
) -> bool:
    """The report was accepted (`by` says how): tag its maintainers once, unless "never"."""
    if mode == "never":
        return False
    record = await handle.store.get(handle.repository, handle.ghsa_id)
    tagged = await post_tags(
        handle.client,
        handle.store,
        team=team,
        repository=handle.repository,
        ghsa_id=handle.ghsa_id,
        advisory=handle.advisory,
        reporter=record.reporter if record else None,
        accepted=True,
        now=handle.clock.now(),
    )
    if tagged is None:
        return False
    await handle.audit("experts-tagged", f"accepted ({by}): {tagged_count(tagged)}")
    return True
