"""The fake answers as GitHub does for what later workflows rely on (through the bot's client)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from gidgethub import BadRequest, InvalidField

from bot.github.client import GitHubClient
from tests.fakegithub import FakeGitHub
from tests.harness import github_app_for

REPO = "/repos/python/cpython/security-advisories"


@pytest.fixture
async def client(fake_github: tuple[FakeGitHub, str]) -> AsyncIterator[GitHubClient]:
    fake, url = fake_github
    async with aiohttp.ClientSession() as session:
        github = github_app_for(session, fake, url)
        yield github.installation(fake.primary_installation)  # type: ignore[attr-defined]


async def test_advisories_list_by_updated_with_cursor_pages_and_state(
    client: GitHubClient, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    created = [
        fake.new_advisory("python/cpython", summary=f"report {i}", description="d")
        for i in range(5)
    ]
    for index, advisory in enumerate(created):
        advisory["updated_at"] = f"2026-11-0{index + 1}T00:00:00Z"
    created[1]["state"] = "draft"
    seen = [a["ghsa_id"] async for a in client.getiter(f"{REPO}?sort=updated&per_page=2")]
    assert seen == [a["ghsa_id"] for a in reversed(created)]
    pages = fake.requests_to(f"^{REPO}$")
    assert len(pages) == 3 and "after=" in pages[-1].query  # cursor, not page numbers
    drafts = [a["ghsa_id"] async for a in client.getiter(f"{REPO}?state=draft")]
    assert drafts == [created[1]["ghsa_id"]]


async def test_patch_replaces_arrays_whole_and_keeps_credit_state(
    client: GitHubClient, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    advisory = fake.new_advisory("python/cpython", summary="s", description="d")
    path = f"{REPO}/{advisory['ghsa_id']}"
    await client.patch(path, data={"credits": [{"login": "alice", "type": "reporter"}]})
    advisory["credits_detailed"][0]["state"] = "accepted"  # alice accepted on github.com
    result = await client.patch(
        path,
        data={
            "credits": [
                {"login": "bob", "type": "coordinator"},
                {"login": "alice", "type": "reporter"},
            ]
        },
    )
    assert [(c["user"]["login"], c["state"]) for c in result["credits_detailed"]] == [
        ("bob", "pending"),
        ("alice", "accepted"),
    ]
    result = await client.patch(
        path, data={"collaborating_teams": ["psrt"], "collaborating_users": ["carol"]}
    )
    assert [t["slug"] for t in result["collaborating_teams"]] == ["psrt"]
    result = await client.patch(path, data={"collaborating_users": []})
    assert (
        result["collaborating_users"] == [] and result["collaborating_teams"]
    )  # only what was sent


async def test_state_transitions_follow_github(
    client: GitHubClient, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    advisory = fake.new_advisory("python/cpython", summary="s", description="d")
    path = f"{REPO}/{advisory['ghsa_id']}"
    assert (await client.patch(path, data={"state": "draft"}))["state"] == "draft"
    assert (await client.patch(path, data={"state": "published"}))["published_at"]
    with pytest.raises(BadRequest) as caught:
        await client.patch(path, data={"state": "draft"})
    assert caught.value.status_code == 422
    assert "Invalid state transition from `published` to `draft`." in str(caught.value)
    with pytest.raises(InvalidField):
        await client.patch(
            path, data={"state": "triage"}
        )  # not a settable state: the schema refuses it
    fake.violations.clear()  # that request was refused on purpose


async def test_severity_is_refused_when_cvss_is_set(
    client: GitHubClient, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    advisory = fake.new_advisory("python/cpython", summary="s", description="d")
    advisory["cvss"] = {
        "vector_string": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "score": 9.8,
    }
    with pytest.raises(BadRequest, match=r"Cannot update severity value when CVSS is set\."):
        await client.patch(f"{REPO}/{advisory['ghsa_id']}", data={"severity": "high"})


async def test_comments_add_edit_and_list_since(
    client: GitHubClient, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    advisory = fake.new_advisory("python/cpython", summary="s", description="d")
    comments = f"{REPO}/{advisory['ghsa_id']}/comments"
    first = fake.add_advisory_comment("python/cpython", advisory["ghsa_id"], "alice", "/accept")
    first["updated_at"] = first["created_at"] = "2026-11-01T00:00:00Z"
    mine = await client.post(comments, data={"body": "Thanks for the report."})
    assert mine["user"]["login"].endswith("[bot]")
    edited = await client.patch(f"{comments}/{mine['id']}", data={"body": "Thanks again."})
    assert edited["id"] == mine["id"] and edited["body"] == "Thanks again."
    since = [c["id"] async for c in client.getiter(f"{comments}?since=2026-11-02T00:00:00Z")]
    assert since == [mine["id"]]
    everything: list[Any] = [c async for c in client.getiter(comments)]
    assert [c["id"] for c in everything] == [first["id"], mine["id"]]


async def test_other_installations_repositories_are_404(
    client: GitHubClient, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    fake.add_installation("octo-org", ["octo-org/private"])
    with pytest.raises(BadRequest) as caught:
        await client.getitem("/repos/octo-org/private/security-advisories")
    assert caught.value.status_code == 404
