"""What GitHub answers, for the scripted GitHub of the unit tests: users, repository
advisories (and how a PATCH changes one), credits, and comment threads.

The shapes follow GitHub's REST API as the fake GitHub (tests/fakegithub/) serves it.
"""

from __future__ import annotations

import copy
from http import HTTPStatus
from typing import Any

from gidgethub import BadRequest

from tests.fakegithub.server import cvss_score
from tests.handlers.unit.doors import ScriptedGitHub


def github_user(login: str) -> dict[str, Any]:
    """A `simple-user` as GitHub puts it in an advisory (author, credits, collaborators)."""
    number = sum(ord(character) for character in login) * 7919
    return {
        "login": login,
        "id": number,
        "node_id": f"U_{number}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{number}?v=4",
        "url": f"https://api.github.com/users/{login}",
        "html_url": f"https://github.com/{login}",
        "type": "User",
        "site_admin": False,
    }


def repository_advisory(repository: str, ghsa_id: str, **fields: Any) -> dict[str, Any]:
    """A `repository-advisory` as GET .../security-advisories/{ghsa_id} answers (a private
    report in triage unless `fields` say otherwise; every key GitHub always sends)."""
    advisory: dict[str, Any] = {
        "ghsa_id": ghsa_id,
        "cve_id": None,
        "url": f"https://api.github.com/repos/{repository}/security-advisories/{ghsa_id}",
        "html_url": f"https://github.com/{repository}/security/advisories/{ghsa_id}",
        "summary": "tarfile extraction follows a symlink out of the destination",
        "description": "### Summary\ntarfile.extractall() follows a symlink.\n",
        "severity": None,
        "author": github_user("octocat"),
        "publisher": None,
        "identifiers": [{"type": "GHSA", "value": ghsa_id}],
        "state": "triage",
        "created_at": "2026-10-01T09:00:00Z",
        "updated_at": "2026-10-01T09:00:00Z",
        "published_at": None,
        "closed_at": None,
        "withdrawn_at": None,
        "submission": {"accepted": False},
        "vulnerabilities": [],
        "cvss": None,
        "cvss_severities": {"cvss_v3": None, "cvss_v4": None},
        "cwes": [],
        "cwe_ids": [],
        "credits": [],
        "credits_detailed": [],
        "collaborating_users": [],
        "collaborating_teams": [],
        "private_fork": None,
    }
    advisory.update(fields)
    return advisory


def credit(login: str, kind: str, state: str = "pending") -> dict[str, Any]:
    """One entry of `credits_detailed`."""
    return {"user": github_user(login), "type": kind, "state": state}


# The moves PATCH may make (GitHub answers 422 to any other).
STATE_MOVES = {"triage": {"draft", "closed"}, "draft": {"published", "closed"}, "closed": {"draft"}}


def script_advisory(github: ScriptedGitHub, repository: str, advisory: dict[str, Any]) -> str:
    """Script GET and PATCH of `advisory` the way GitHub answers them; returns its path.

    `advisory` is GitHub's copy and changes with each PATCH: the fields given are
    replaced (arrays whole), `credits` become `credits_detailed` (a credit already
    there keeps its acceptance, a new one is pending), `collaborating_users` become
    users, a vector sets `cvss` and `cvss_severities`, a state move GitHub refuses is
    a 422; the answer is the whole object, and the next GET sees it.
    """
    path = f"/repos/{repository}/security-advisories/{advisory['ghsa_id']}"

    def patch(body: dict[str, Any]) -> dict[str, Any]:
        state = body.get("state")
        moves = STATE_MOVES.get(advisory["state"], set())
        if state is not None and state != advisory["state"] and state not in moves:
            raise BadRequest(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                f"Invalid state transition from `{advisory['state']}` to `{state}`.",
            )
        for key in ("summary", "description", "cve_id", "severity", "cwe_ids", "state"):
            if key in body:
                advisory[key] = body[key]
        if "credits" in body:
            before = {
                (c["user"]["login"], c["type"]): c["state"] for c in advisory["credits_detailed"]
            }
            advisory["credits"] = [dict(c) for c in body["credits"]]
            advisory["credits_detailed"] = [
                credit(c["login"], c["type"], before.get((c["login"], c["type"]), "pending"))
                for c in body["credits"]
            ]
        if "collaborating_users" in body:
            advisory["collaborating_users"] = [github_user(u) for u in body["collaborating_users"]]
        if "cvss_vector_string" in body:
            vector = body["cvss_vector_string"]
            scored = {"vector_string": vector, "score": cvss_score(vector)}
            advisory["cvss"] = scored
            advisory["cvss_severities"]["cvss_v4" if vector.startswith("CVSS:4") else "cvss_v3"] = (
                scored
            )
        advisory["updated_at"] = "2026-10-02T09:00:00Z"
        return copy.deepcopy(advisory)

    github.answer("GET", path, lambda _: copy.deepcopy(advisory))
    github.answer("PATCH", path, patch)
    return path


BOT_LOGIN = "ghsa-bot[bot]"  # who GitHub says wrote the App's comments
_COMMENT_IDS = iter(range(4_000_001, 1 << 31))


def thread_comment(
    url: str, login: str, body: str, *, at: str = "2026-10-02T09:00:00Z"
) -> dict[str, Any]:
    """A comment as GitHub lists it at `url`: an advisory's `.../comments` (the advisory
    comments API, docs/github-api-facts.md) or an issue's `.../issues/N/comments`."""
    number = next(_COMMENT_IDS)
    owner_repo, _, rest = url.removeprefix("/repos/").partition("/")
    owner_repo = f"{owner_repo}/{rest.split('/', 1)[0]}"
    if "/security-advisories/" in url:
        ghsa_id = url.split("/security-advisories/", 1)[1].split("/", 1)[0]
        html = f"https://github.com/{owner_repo}/security/advisories/{ghsa_id}#advisory-comment-{number}"
    else:
        issue = url.split("/issues/", 1)[1].split("/", 1)[0]
        html = f"https://github.com/{owner_repo}/issues/{issue}#issuecomment-{number}"
    user = github_user(login)
    if login.endswith("[bot]"):
        user["type"] = "Bot"
    comment: dict[str, Any] = {
        "id": number,
        "node_id": f"IC_{number}",
        "url": f"https://api.github.com{url}/{number}",
        "html_url": html,
        "body": body,
        "user": user,
        "created_at": at,
        "updated_at": at,
        "author_association": "NONE" if login.endswith("[bot]") else "MEMBER",
    }
    if "/issues/" in url:
        comment["issue_url"] = f"https://api.github.com{url.removesuffix('/comments')}"
    return comment


def script_comments(
    github: ScriptedGitHub, url: str, *earlier: dict[str, Any]
) -> list[dict[str, Any]]:
    """Script the comment thread at `url`: GET lists it, POST adds the App's comment and
    answers it (201, the whole comment). Returns the thread, which grows with each POST."""
    thread = [dict(comment) for comment in earlier]

    def add(body: dict[str, Any]) -> dict[str, Any]:
        thread.append(thread_comment(url, BOT_LOGIN, body["body"]))
        return copy.deepcopy(thread[-1])

    github.answer("GET", url, lambda _: copy.deepcopy(thread))
    github.answer("POST", url, add)
    return thread
