"""The poller over real HTTP against the fake GitHub: cost follows organizations and changes.

- an organization is listed once per cycle (`/orgs/{org}/security-advisories`), and
  advisories of repositories the App was not given are ignored;
- a personal account, and an organization whose list GitHub refuses, are listed
  per repository, and the log says so once;
- comments are read only when an advisory's `comments` count or `updated_at`
  moved, and the edit sweep finds an edited comment within `edit_sweep_minutes`;
- the poll cycle's duration and the last successful poll are in /metrics.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import pytest

from bot.advisories.poller import RETRY_REFUSED_SECONDS
from bot.github.installations import sync_all
from tests.fakegithub import FakeGitHub
from tests.harness import World, file_report

ORG_LIST = r"^/orgs/python/security-advisories$"
REPO_LISTS = r"^/repos/[^/]+/[^/]+/security-advisories$"
COMMENTS = r"/security-advisories/GHSA-[^/]+/comments$"


def since(fake: FakeGitHub, start: int, pattern: str) -> list[Any]:
    return [r for r in fake.requests[start:] if re.search(pattern, r.path) and r.method == "GET"]


async def quiet(world: World) -> None:
    """Cycles until the bot's own changes (its PATCHes and comments) have been read."""
    for _ in range(3):
        await world.bot.services.poller.poll_once()
        await world.bot.settle()


def per_repository_notes(caplog: pytest.LogCaptureFixture, account: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if "listed per repository" in r.getMessage()
        and getattr(r, "fields", {}).get("account") == account
    ]


async def test_an_organization_is_listed_once_a_cycle_and_other_repositories_are_ignored(
    world: World,
) -> None:
    fake, services = world.fake, world.bot.services
    fake.add_repository("python/secret-elsewhere")  # the organization's; not given to the App
    outside = fake.new_advisory("python/secret-elsewhere", summary="s", description="d")
    inside = fake.new_advisory("python/cpython", summary="s", description="d", state="draft")
    start = len(fake.requests)
    report = await services.poller.poll_once()
    await world.bot.settle()
    assert report.repositories == 2 and report.events == 1
    assert len(since(fake, start, ORG_LIST)) == 1
    assert since(fake, start, REPO_LISTS) == []  # no per-repository lists at all
    assert await services.advisories.get("python/cpython", inside["ghsa_id"]) is not None
    assert await services.advisories.get("python/secret-elsewhere", outside["ghsa_id"]) is None
    assert all("secret-elsewhere" not in r.path for r in fake.requests[start:])


async def test_a_personal_account_is_listed_per_repository_and_said_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    fake, services = world.fake, world.bot.services
    fake.add_installation("alice", ["alice/tool"], account_type="User")
    await sync_all(services.github, services.installations, now=world.clock.now())
    advisory = fake.new_advisory("alice/tool", summary="s", description="d", state="draft")
    caplog.set_level(logging.INFO, logger="ghsa_bot.poller")
    start = len(fake.requests)
    for _ in range(2):
        await services.poller.poll_once()
    assert since(fake, start, r"^/orgs/alice/") == []
    assert len(since(fake, start, r"^/repos/alice/tool/security-advisories$")) == 2
    assert len(since(fake, start, ORG_LIST)) == 2  # the organization beside it: its own list
    assert await services.advisories.get("alice/tool", advisory["ghsa_id"]) is not None
    assert len(per_repository_notes(caplog, "alice")) == 1


@pytest.mark.parametrize("status", [403, 404, 422])
async def test_a_refused_org_list_falls_back_to_repositories_and_says_so_once(
    world: World, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    fake, services = world.fake, world.bot.services
    if status == 404:
        fake.org_list_refused.add("python")  # documented for this operation
    else:  # not in the OpenAPI description; GitHub answers them to Apps it refuses
        fake.inject(ORG_LIST, method="GET", status=status, times=100)
    draft = fake.new_advisory("python/cpython", summary="s", description="d", state="draft")
    caplog.set_level(logging.INFO, logger="ghsa_bot.poller")
    start = len(fake.requests)
    for _ in range(3):
        report = await services.poller.poll_once()
        assert report.errors == 0
    await world.bot.settle()
    assert len(since(fake, start, ORG_LIST)) == 1  # refused once, then not asked again
    assert len(since(fake, start, r"^/repos/python/cpython/security-advisories$")) == 3
    assert await services.advisories.get("python/cpython", draft["ghsa_id"]) is not None
    assert len(per_repository_notes(caplog, "python")) == 1
    # An hour later the organization list is tried again; accepted, it is used.
    fake.org_list_refused.clear()
    fake.faults.clear()
    world.clock.advance(RETRY_REFUSED_SECONDS)
    start = len(fake.requests)
    await services.poller.poll_once()
    assert len(since(fake, start, ORG_LIST)) == 1
    assert since(fake, start, REPO_LISTS) == []


async def test_comments_are_read_only_when_the_count_or_updated_at_moves(world: World) -> None:
    fake, services = world.fake, world.bot.services
    advisory = await file_report(world.bot, fake, "carol")
    await quiet(world)
    path = f"/repos/python/cpython/security-advisories/{advisory['ghsa_id']}/comments"

    start = len(fake.requests)
    assert (await services.poller.poll_once()).comment_reads == 0
    assert since(fake, start, COMMENTS) == []  # nothing moved: not read

    fake.add_advisory_comment("python/cpython", advisory["ghsa_id"], "gpshead", "Looking.")
    start = len(fake.requests)
    report = await services.poller.poll_once()
    assert report.comment_reads == 1 and report.events == 1
    assert [r.path for r in since(fake, start, COMMENTS)] == [path]
    await world.bot.settle()
    await quiet(world)  # the bot's own replies, if any, are read once

    start = len(fake.requests)
    await services.poller.poll_once()
    assert since(fake, start, COMMENTS) == []

    advisory["updated_at"] = "2099-01-01T00:00:00Z"  # changed on github.com
    start = len(fake.requests)
    report = await services.poller.poll_once()
    assert [r.path for r in since(fake, start, COMMENTS)] == [path]
    start = len(fake.requests)
    await services.poller.poll_once()
    assert since(fake, start, COMMENTS) == []


async def test_a_missing_count_is_not_taken_for_zero(world: World) -> None:
    fake, services = world.fake, world.bot.services
    advisory = await file_report(world.bot, fake, "dora")
    await quiet(world)
    del advisory["comments"]  # GitHub Enterprise Server, or an older API: no count
    for _ in range(2):
        start = len(fake.requests)
        await services.poller.poll_once()
        assert len(since(fake, start, COMMENTS)) == 1  # read every cycle, as before


async def test_the_edit_sweep_finds_an_edited_comment_within_the_period(world: World) -> None:
    fake, services = world.fake, world.bot.services
    poller = services.poller
    assert poller.edit_sweep_seconds == 600 and poller.interval == 60  # the defaults
    advisories = [await file_report(world.bot, fake, f"rep{n}") for n in range(5)]
    comments = [
        fake.add_advisory_comment("python/cpython", a["ghsa_id"], "gpshead", "Thanks, looking.")
        for a in advisories
    ]
    await quiet(world)
    edited = comments[2]
    edited["body"] = "Thanks, looking. (edited: it reproduces on 3.13)"
    edited["updated_at"] = "2099-01-01T00:00:00Z"  # an edit: the count does not move
    cycles_per_sweep = 10
    for cycle in range(1, cycles_per_sweep + 1):
        world.clock.advance(poller.interval)
        start = len(fake.requests)
        report = await poller.poll_once()
        assert report.comment_reads == 0  # no count or updated_at moved
        assert report.sweeps <= math.ceil(len(advisories) / cycles_per_sweep)
        assert len(since(fake, start, COMMENTS)) == report.sweeps
        if report.events:
            found_after = cycle * poller.interval
            break
    else:
        pytest.fail("the edit was not found within edit_sweep_minutes")
    assert found_after <= poller.edit_sweep_seconds
    await world.bot.settle()
    # Advisories whose comments are only the bot's are never swept: no edit there matters.
    lone = await file_report(world.bot, fake, "solo")
    await quiet(world)
    swept = set()
    for _ in range(cycles_per_sweep):
        world.clock.advance(poller.interval)
        start = len(fake.requests)
        await poller.poll_once()
        swept |= {r.path.split("/")[5] for r in since(fake, start, COMMENTS)}
    assert lone["ghsa_id"] not in swept
    assert swept == {a["ghsa_id"] for a in advisories}  # each swept within the period


async def test_the_poll_is_in_the_metrics(world: World) -> None:
    services = world.bot.services
    await services.poller.poll_once()
    async with world.bot.session.get(f"{world.bot.url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    last = re.search(r"^ghsa_bot_poll_last_success_timestamp_seconds (\S+)$", text, re.M)
    assert last is not None and float(last.group(1)) == pytest.approx(world.clock.now())
    count = re.search(r"^ghsa_bot_poll_cycle_seconds_count (\S+)$", text, re.M)
    assert count is not None and float(count.group(1)) >= 2  # the start-up cycle and this one
    used = re.search(r"^ghsa_bot_github_points_used (\S+)$", text, re.M)
    assert used is not None and float(used.group(1)) >= 1
    total = re.search(r'^ghsa_bot_github_points_total\{source="poller"\} (\S+)$', text, re.M)
    assert total is not None and float(total.group(1)) >= 1
    assert re.search(r"^ghsa_bot_github_points_limit 600.0$", text, re.M)
    assert 'ghsa_bot_poll_requests_total{kind="list"}' in text
