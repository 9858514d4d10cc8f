"""Remediation credits from merged fix pull requests linked with /fix."""

from __future__ import annotations

from typing import Any

from handlers.fixes import approving_reviewers
from tests.harness import World, file_report
from tests.scenarios import commented, merged_payload, replies


def credits(advisory: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["user"]["login"], c["type"]) for c in advisory["credits_detailed"]]


async def test_a_merged_linked_fix_credits_its_author_and_approvers_once(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "gil")
    web = world.bot.services.settings.web_url
    await commented(world, advisory, "gpshead", f"/fix {web}/python/cpython/pull/4242")
    assert "Linked python/cpython#4242" in replies(world, advisory)[0]["body"]
    world.fake.add_review("python/cpython", 4242, "serhiy-storchaka", "APPROVED")
    world.fake.add_review("python/cpython", 4242, "vstinner", "APPROVED")
    world.fake.add_review("python/cpython", 4242, "vstinner", "CHANGES_REQUESTED")  # latest wins
    # Anyone may approve a public pull request: only a reviewer who can write counts.
    world.fake.add_review("python/cpython", 4242, "drive-by", "APPROVED")
    for login in ("serhiy-storchaka", "vstinner"):
        world.fake.collaborators[("python/cpython", login)] = "write"
    payload = merged_payload(world, 4242, "fixer")
    assert (await world.bot.send("pull_request", payload)).status == 202
    await world.bot.settle()
    assert credits(advisory) == [
        ("gil", "reporter"),  # kept
        ("fixer", "remediation_developer"),
        ("serhiy-storchaka", "remediation_reviewer"),
    ]
    # GitHub redelivers, or the same merge is announced twice: nothing more.
    assert (await world.bot.send("pull_request", payload)).status == 202
    await world.bot.settle()
    assert len(credits(advisory)) == 3
    notes = [
        c["body"]
        for c in world.fake.comments[("python/cpython", advisory["ghsa_id"])]
        if "is merged" in c["body"]
    ]
    assert len(notes) == 1 and "@fixer (remediation developer)" in notes[0]
    fixes = await world.bot.services.fix_links.fixes("python/cpython", advisory["ghsa_id"])
    assert fixes == [("python/cpython", 4242, "abc123def456")]
    await commented(world, advisory, "gil", "/status")
    status = replies(world, advisory)[-1]["body"]
    assert "**Fixes:** python/cpython#4242 (merged abc123def4)" in status


async def test_an_unlinked_or_unmerged_pull_request_credits_nobody(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "hal")
    await commented(world, advisory, "gpshead", "/fix python/cpython#7")
    await world.bot.send("pull_request", merged_payload(world, 8, "someone"))  # not linked
    await world.bot.send(
        "pull_request", merged_payload(world, 7, "fixer", merged=False)
    )  # closed unmerged
    await world.bot.settle()
    assert credits(advisory) == [("hal", "reporter")]


def test_only_the_latest_review_of_each_reviewer_counts() -> None:
    reviews = [
        {"user": {"login": "a"}, "state": "APPROVED"},
        {"user": {"login": "b"}, "state": "COMMENTED"},
        {"user": {"login": "c"}, "state": "CHANGES_REQUESTED"},
        {"user": {"login": "c"}, "state": "APPROVED"},
        {"user": {"login": "author"}, "state": "APPROVED"},
    ]
    assert approving_reviewers(reviews, "author") == ["a", "c"]
