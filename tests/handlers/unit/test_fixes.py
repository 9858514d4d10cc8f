"""handlers/fixes.py with its doors (GitHub, the App, advisories, clock, fix links) and nothing else.

`github` is the delivery's installation (where the pull request is); the
advisory is reached through the App, as its record's installation.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Any

from gidgethub import GitHubBroken, sansio

from handlers import fixes
from tests.handlers.unit.doors import (
    ScriptedApp,
    ScriptedGitHub,
    Stores,
    UnitDoors,
    clock_at,
    event,
    open_stores,
)
from tests.handlers.unit.fakes import advisory_record
from tests.handlers.unit.github_answers import (
    credit,
    github_user,
    repository_advisory,
    script_advisory,
    script_comments,
)
from tests.harness import SteppedClock, load_payload

REPO = "python/cpython"
GHSA = "GHSA-8pq4-m2xv-j6hc"
ADVISORY = f"/repos/{REPO}/security-advisories/{GHSA}"
COMMENTS = f"{ADVISORY}/comments"
REVIEWS = f"/repos/{REPO}/pulls/4242/reviews"
MERGE_SHA = "d662e2db2605515a767f88ad48096b8ac623c774"
MERGED_AT = "2026-11-20T10:00:00Z"


def closed(number: int, author: str, *, merged: bool = True) -> sansio.Event:
    """GitHub's `pull_request.closed` (a real delivery, made this pull request)."""
    payload = load_payload("pull_request/closed.payload.json")
    payload["installation"] = {"id": 7, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNw=="}
    payload["repository"]["full_name"] = REPO
    pull = payload["pull_request"]
    pull.update(
        number=number,
        merged=merged,
        merged_at=MERGED_AT if merged else None,
        merge_commit_sha=MERGE_SHA,
        html_url=f"https://github.com/{REPO}/pull/{number}",
    )
    pull["user"]["login"] = author
    return event("pull_request", payload)


def review(login: str, state: str, number: int) -> dict[str, Any]:
    """A `pull-request-review` as GET .../pulls/N/reviews lists it."""
    return {
        "id": 80_000 + number,
        "node_id": f"PRR_kwDOABCD{number}",
        "user": github_user(login),
        "body": "",
        "state": state,
        "html_url": f"https://github.com/{REPO}/pull/4242#pullrequestreview-{80_000 + number}",
        "pull_request_url": f"https://api.github.com/repos/{REPO}/pulls/4242",
        "author_association": "CONTRIBUTOR",
        "submitted_at": "2026-11-19T12:00:00Z",
        "commit_id": MERGE_SHA,
    }


def permission(github: ScriptedGitHub, login: str, level: str, role: str | None = None) -> None:
    """GET .../collaborators/{login}/permission (maintain reads as write, triage as read)."""
    github.answer(
        "GET",
        f"/repos/{REPO}/collaborators/{login}/permission",
        {"permission": level, "role_name": role or level, "user": github_user(login)},
    )


def doors(
    github: ScriptedGitHub, app: ScriptedApp, stores: Stores, clock: SteppedClock
) -> UnitDoors:
    return UnitDoors(
        github=github,
        app=app,
        advisories=stores.advisories,
        clock=clock,
        fix_links=stores.fix_links,
    )


def credits_of(advisory: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["user"]["login"], c["type"]) for c in advisory["credits_detailed"]]


async def linked_report(stores: Stores, clock: SteppedClock, number: int = 4242) -> None:
    await stores.advisories.save(advisory_record(REPO, GHSA, received_at=clock.now()))
    assert await stores.fix_links.link_fix(REPO, GHSA, REPO, number)  # `/fix` did this


async def test_a_merged_linked_fix_credits_its_author_and_approving_writers_once(
    tmp_path: Path,
) -> None:
    github, app = ScriptedGitHub(), ScriptedApp()  # the pull request's and the advisory's
    github.answer(
        "GET",
        REVIEWS,
        [
            review("serhiy-storchaka", "APPROVED", 1),
            review("vstinner", "APPROVED", 2),
            review("vstinner", "CHANGES_REQUESTED", 3),  # the latest review counts
            review("drive-by", "APPROVED", 4),  # anyone may approve a public pull request
            review("fixer", "APPROVED", 5),  # the author is credited as developer only
            review("ned-deily", "COMMENTED", 6),
        ],
    )
    permission(github, "serhiy-storchaka", "write", "maintain")
    permission(github, "drive-by", "read")
    advisory = repository_advisory(
        REPO, GHSA, state="draft", credits_detailed=[credit("gil", "reporter", "accepted")]
    )
    script_advisory(app.installation(7), REPO, advisory)
    thread = script_comments(app.installation(7), COMMENTS)
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await linked_report(stores, clock)
        unit = doors(github, app, stores, clock)
        await fixes.fix_merged(closed(4242, "fixer"), unit)

        assert credits_of(advisory) == [
            ("gil", "reporter"),  # kept: GitHub replaces the array whole
            ("fixer", "remediation_developer"),
            ("serhiy-storchaka", "remediation_reviewer"),
        ]
        asked = [r.path.rsplit("/", 2)[-2] for r in github.sent("GET", "/collaborators/")]
        assert asked == ["serhiy-storchaka", "drive-by"]  # approvers only
        assert github.sent("PATCH") == [] and github.sent("POST") == []
        [note] = [c["body"] for c in thread]
        assert note == (
            f"<!-- ghsa-bot:fix-merged:{REPO}#4242 -->\n"
            f"The fix https://github.com/{REPO}/pull/4242 is merged ({MERGE_SHA}). Credited "
            "@fixer (remediation developer), @serhiy-storchaka (remediation reviewer).\n"
        )
        assert await stores.fix_links.fixes(REPO, GHSA) == [(REPO.lower(), 4242, MERGE_SHA)]
        record = await stores.advisories.get(REPO, GHSA)
        assert record is not None and record.state == "draft"  # the bot's PATCH, no echo
        assert [(c.login, c.type) for c in await stores.advisories.credits(REPO, GHSA)] == (
            credits_of(advisory)
        )
        [entry] = await stores.advisories.audit_log(REPO, GHSA)
        assert (entry.action, entry.reason) == (
            "fix-merged",
            f"{REPO}#4242 merged; credited @fixer (remediation developer), "
            "@serhiy-storchaka (remediation reviewer)",
        )

        # GitHub redelivers the webhook: no second PATCH or comment.
        await fixes.fix_merged(closed(4242, "fixer"), unit)
        assert len(app.installation(7).sent("PATCH")) == 1 and len(thread) == 1
        assert len(credits_of(advisory)) == 3
        assert len(await stores.advisories.audit_log(REPO, GHSA)) == 1  # nor a second entry


async def test_a_permission_check_that_fails_credits_nobody(tmp_path: Path) -> None:
    github, app = ScriptedGitHub(), ScriptedApp()
    github.answer(
        "GET",
        REVIEWS,
        [
            review("gpshead", "APPROVED", 1),
            review("unknown-user", "APPROVED", 2),
            review("flaky", "APPROVED", 3),
        ],
    )
    permission(github, "gpshead", "admin")
    # unknown-user: no answer scripted, GitHub says 404; flaky: GitHub fails.
    github.answer(
        "GET", f"/repos/{REPO}/collaborators/flaky/permission", GitHubBroken(HTTPStatus.BAD_GATEWAY)
    )
    advisory = repository_advisory(REPO, GHSA, state="draft")
    script_advisory(app.installation(7), REPO, advisory)
    script_comments(app.installation(7), COMMENTS)
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await linked_report(stores, clock)
        await fixes.fix_merged(closed(4242, "fixer"), doors(github, app, stores, clock))
        assert credits_of(advisory) == [
            ("fixer", "remediation_developer"),
            ("gpshead", "remediation_reviewer"),
        ]


async def test_credits_already_on_the_advisory_are_not_added_again(tmp_path: Path) -> None:
    github, app = ScriptedGitHub(), ScriptedApp()
    github.answer("GET", REVIEWS, [review("gpshead", "APPROVED", 1)])
    permission(github, "gpshead", "admin")
    advisory = repository_advisory(
        REPO,
        GHSA,
        state="draft",
        credits_detailed=[
            credit("Fixer", "remediation_developer", "accepted"),  # logins ignore case
            credit("gpshead", "coordinator", "accepted"),  # another type: kept, and added
        ],
    )
    script_advisory(app.installation(7), REPO, advisory)
    thread = script_comments(app.installation(7), COMMENTS)
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await linked_report(stores, clock)
        await fixes.fix_merged(closed(4242, "fixer"), doors(github, app, stores, clock))
        [patch] = app.installation(7).sent("PATCH", ADVISORY)
        assert patch.data == {
            "credits": [
                {"login": "Fixer", "type": "remediation_developer"},
                {"login": "gpshead", "type": "coordinator"},
                {"login": "gpshead", "type": "remediation_reviewer"},
            ]
        }
        assert "Credited @gpshead (remediation reviewer)." in thread[0]["body"]


async def test_an_unmerged_or_unlinked_pull_request_changes_nothing(tmp_path: Path) -> None:
    github, app = ScriptedGitHub(), ScriptedApp()
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await linked_report(stores, clock, number=7)
        unit = doors(github, app, stores, clock)
        await fixes.fix_merged(closed(7, "fixer", merged=False), unit)  # closed unmerged
        await fixes.fix_merged(closed(8, "someone"), unit)  # merged, linked to nothing
        assert github.requests == [] and app.clients == {}
        assert await stores.fix_links.fixes(REPO, GHSA) == [(REPO.lower(), 7, None)]
        assert await stores.advisories.audit_log(REPO, GHSA) == []


async def test_a_fix_for_an_advisory_the_bot_has_no_record_of_touches_no_advisory(
    tmp_path: Path,
) -> None:
    github, app = ScriptedGitHub(), ScriptedApp()
    github.answer("GET", REVIEWS, [])
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await stores.fix_links.link_fix(REPO, GHSA, REPO, 4242)  # its record is gone
        await fixes.fix_merged(closed(4242, "fixer"), doors(github, app, stores, clock))
        assert app.clients == {}  # no installation was even asked
        assert await stores.fix_links.fixes(REPO, GHSA) == [(REPO.lower(), 4242, MERGE_SHA)]
