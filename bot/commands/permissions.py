"""Who may use a command: roles from the roster, GitHub's team API and the advisory.

Never from `author_association`. When a check cannot be made (GitHub fails),
the caller is denied and told that the check could not be made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gidgethub import BadRequest

from bot.advisories.store import AdvisoryRecord
from bot.github.client import GitHubClient, GitHubUnavailable, RateLimited
from bot.team.formats import RosterEntry


@dataclass(frozen=True)
class Roles:
    roles: frozenset[str]
    check_failed: str | None = None  # why a membership check could not be made


async def roles_of(
    login: str,
    *,
    needed: frozenset[str],
    client: GitHubClient,
    github_team: str | None,
    roster: Sequence[RosterEntry],
    record: AdvisoryRecord | None,
    advisory: Mapping[str, Any],
) -> Roles:
    """The roles `login` has on this advisory, asking GitHub only when it matters."""
    name = login.lower()
    roles = set()
    entry = next((e for e in roster if e.login.lower() == name), None)
    if entry is not None:
        roles.add("member")
        if "Admin" in entry.roles:
            roles.add("admin")
    if record is not None and (record.coordinator or "").lower() == name:
        roles.add("coordinator")
    if record is not None and (record.reporter or "").lower() == name:
        roles.add("reporter")
    collaborators = {
        str(u.get("login", "")).lower() for u in advisory.get("collaborating_users") or []
    }
    if name in collaborators:
        roles.add("collaborator")
    if roles & needed or "member" not in needed or "member" in roles or not github_team:
        return Roles(frozenset(roles))
    org, slug = github_team.split("/", 1)
    try:
        membership = await client.getitem(f"/orgs/{org}/teams/{slug}/memberships/{login}")
    except BadRequest as error:
        if error.status_code == 404:
            return Roles(frozenset(roles))
        return Roles(frozenset(roles), f"GitHub answered {error.status_code}")
    except (GitHubUnavailable, RateLimited) as error:
        return Roles(frozenset(roles), type(error).__name__)
    except Exception as error:  # any other failure is still a failed check, not a yes
        return Roles(frozenset(roles), type(error).__name__)
    if membership.get("state") == "active":
        roles.add("member")
    return Roles(frozenset(roles))
