"""Remediation credits: when a linked fix pull request merges, credit who wrote and reviewed it.

Fires on `pull_request.closed` with `merged: true`, in any installed
repository. If the pull request was linked to advisories with `/fix`, its
author is credited `remediation_developer` and its approving reviewers
`remediation_reviewer` on each of them, unless already credited (the other
credits are kept: GitHub replaces the array whole). Anyone can approve a
public pull request, so a reviewer counts only with write access to its
repository (GitHub's collaborator permission; a check that fails credits
nobody). The merge commit is kept for the public records. A pull request
nobody linked changes nothing.
"""

from __future__ import annotations

import datetime
from typing import Any, Protocol

from gidgethub import routing, sansio

from bot.advisories.comments import post_once
from bot.context import HasAdvisoryStore, HasApp, HasClock, HasFixLinks, HasGitHub

router = routing.Router()


class Doors(HasGitHub, HasApp, HasAdvisoryStore, HasClock, HasFixLinks, Protocol):
    """What the fix handler uses."""


def approving_reviewers(reviews: list[dict[str, Any]], author: str) -> list[str]:
    """People whose latest review approves, in the order they first reviewed."""
    latest: dict[str, str] = {}
    for review in reviews:
        login = str((review.get("user") or {}).get("login", ""))
        if login and review.get("state") in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[login] = str(review["state"])
    return [login for login, state in latest.items() if state == "APPROVED" and login != author]


async def _may_write(client: Any, repository: str, login: str) -> bool:
    """True when `login` has write (or maintain, or admin) access to `repository`."""
    try:
        answer = await client.getitem(f"/repos/{repository}/collaborators/{login}/permission")
    except Exception:  # an unanswered check credits nobody
        return False
    return str(answer.get("permission")) in ("admin", "write")


@router.register("pull_request", action="closed")
async def fix_merged(event: sansio.Event, context: Doors) -> None:
    """Fires when a pull request closes; credits a merged, linked fix's author and reviewers."""
    pull = event.data["pull_request"]
    if not pull.get("merged"):
        return
    pr_repository = str(event.data["repository"]["full_name"])
    number = int(pull["number"])
    store = context.advisories
    linked = await context.fix_links.advisories_fixed_by(pr_repository, number)
    if not linked:
        return
    merged_at = datetime.datetime.fromisoformat(
        str(pull.get("merged_at") or "1970-01-01T00:00:00Z").replace("Z", "+00:00")
    ).timestamp()
    merge_commit = pull.get("merge_commit_sha")
    await context.fix_links.record_merge(pr_repository, number, merge_commit, merged_at)
    author = str(pull["user"]["login"])
    reviews = [
        r async for r in context.github.getiter(f"/repos/{pr_repository}/pulls/{number}/reviews")
    ]
    reviewers = [
        login
        for login in approving_reviewers(reviews, author)
        if await _may_write(context.github, pr_repository, login)
    ]
    wanted = [(author, "remediation_developer")] + [
        (login, "remediation_reviewer") for login in reviewers
    ]
    for repository, ghsa_id in linked:
        record = await store.get(repository, ghsa_id)
        if record is None:
            continue
        client = context.app.installation(record.installation_id)
        path = f"/repos/{repository}/security-advisories/{ghsa_id}"
        advisory = await client.getitem(path)
        credits = [
            {"login": str(c["user"]["login"]), "type": str(c["type"])}
            for c in advisory.get("credits_detailed") or []
        ]
        have = {(c["login"].lower(), c["type"]) for c in credits}
        added = [
            {"login": login, "type": kind}
            for login, kind in wanted
            if (login.lower(), kind) not in have
        ]
        if added:
            updated = await client.patch(path, data={"credits": [*credits, *added]})
            await store.set_fingerprint(repository, ghsa_id, updated)
        names = ", ".join(f"@{c['login']} ({c['type'].replace('_', ' ')})" for c in added)
        posted = await post_once(
            client,
            store,
            repository=repository,
            ghsa_id=ghsa_id,
            name=f"fix-merged:{pr_repository}#{number}",
            body=f"The fix {pull['html_url']} is merged ({pull.get('merge_commit_sha')}). "
            + (
                f"Credited {names}." if added else "Its author and reviewers were already credited."
            ),
            now=context.clock.now(),
        )
        if posted or added:  # a repeated event was said and audited the first time
            await context.audit(
                repository,
                ghsa_id,
                "fix-merged",
                f"{pr_repository}#{number} merged; credited {names or 'nobody new'}",
            )
