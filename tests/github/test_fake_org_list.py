"""The fake's organization advisory list and `comments` count, as github-api-facts.md has them.

`GET /orgs/{org}/security-advisories` (OpenAPI subset: list-org-repository-advisories):
`sort` created|updated|published, `direction`, `per_page` 1-100, `state`, cursor
pagination with `before`/`after` in `Link` (never `page`), ETags like every GET.
An advisory carries `comments`, its non-confidential comments (changelog
2026-10-02); an edit does not change it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from gidgethub import BadRequest

from bot.github.client import GitHubApp, GitHubClient
from tests.fakegithub import FakeGitHub
from tests.harness import github_app_for

ORG = "/orgs/python/security-advisories"


@pytest.fixture
async def github(fake_github: tuple[FakeGitHub, str]) -> AsyncIterator[GitHubApp]:
    fake, url = fake_github
    async with aiohttp.ClientSession() as session:
        yield github_app_for(session, fake, url)


@pytest.fixture
def client(github: GitHubApp, fake_github: tuple[FakeGitHub, str]) -> GitHubClient:
    return github.installation(fake_github[0].primary_installation)  # type: ignore[attr-defined]


def dated(fake: FakeGitHub, repository: str, day: int, state: str = "triage") -> str:
    advisory = fake.new_advisory(repository, summary="s", description="d", state=state)
    advisory["updated_at"] = f"2026-11-{day:02d}T00:00:00Z"
    return str(advisory["ghsa_id"])


async def test_the_org_list_sorts_pages_by_cursor_both_ways_and_spans_repositories(
    client: GitHubClient, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    fake.add_repository("python/other")  # the organization's, not given to the App
    ids = [dated(fake, ("python/cpython", "python/other")[day % 2], day) for day in range(1, 6)]
    newest_first = list(reversed(ids))
    first = await client.getpage(f"{ORG}?sort=updated&direction=desc&per_page=2")
    assert [a["ghsa_id"] for a in first.items] == newest_first[:2]
    assert first.next_url is not None and "after=" in first.next_url
    assert "&page=" not in first.next_url and "?page=" not in first.next_url
    second = await client.getpage(first.next_url)
    assert [a["ghsa_id"] for a in second.items] == newest_first[2:4]
    assert "after=" in fake.requests_to(f"^{ORG}$")[-1].query
    # `before` walks back: the page before the second is the first.
    async with aiohttp.ClientSession() as session:
        url = f"{client.github.api_url}{ORG}?sort=updated&direction=desc&per_page=2"
        token = await client.github.installation_token(client.credential.installation_id or 0)
        headers = {"Authorization": f"token {token}"}
        async with session.get(url, headers=headers) as response:
            after = response.links["next"]["url"]
        async with session.get(after, headers=headers) as response:
            assert "prev" in response.links
            before = response.links["prev"]["url"]
        async with session.get(before, headers=headers) as response:
            assert [a["ghsa_id"] for a in await response.json()] == newest_first[:2]
    everything = [a["ghsa_id"] async for a in client.getiter(f"{ORG}?sort=updated&per_page=100")]
    assert everything == newest_first  # both repositories: the bot must filter
    ascending = [
        a["ghsa_id"] async for a in client.getiter(f"{ORG}?sort=updated&direction=asc")
    ]
    assert ascending == ids
    triage = [a["ghsa_id"] async for a in client.getiter(f"{ORG}?state=draft")]
    assert triage == []
    assert fake.violations == []


async def test_an_unchanged_org_list_is_a_304_and_a_change_is_not(
    client: GitHubClient, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    ghsa = dated(fake, "python/cpython", 1)
    url = f"{ORG}?sort=updated&direction=desc&per_page=100"
    assert not (await client.getpage(url)).not_modified
    again = await client.getpage(url)
    assert again.not_modified and [a["ghsa_id"] for a in again.items] == [ghsa]
    fake.add_advisory_comment("python/cpython", ghsa, "gpshead", "Looking.")
    changed = await client.getpage(url)
    assert not changed.not_modified and changed.items[0]["comments"] == 1
    assert [r.status for r in fake.requests_to(f"^{ORG}$")] == [200, 304, 200]


async def test_comments_counts_new_comments_and_not_edits(
    client: GitHubClient, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    ghsa = dated(fake, "python/cpython", 1)
    path = f"/repos/python/cpython/security-advisories/{ghsa}"
    assert (await client.getitem(path))["comments"] == 0
    comment = await client.post(f"{path}/comments", data={"body": "first"})
    await client.post(f"{path}/comments", data={"body": "second"})
    advisory = await client.getitem(path)
    assert advisory["comments"] == 2
    assert advisory["updated_at"] == "2026-11-01T00:00:00Z"  # not attested: left as it was
    await client.patch(f"{path}/comments/{comment['id']}", data={"body": "edited"})
    assert (await client.getitem(path))["comments"] == 2


async def test_the_org_list_refuses_other_accounts_and_page_numbers(
    github: GitHubApp, client: GitHubClient, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    personal = fake.add_installation("alice", ["alice/tool"], account_type="User")
    with pytest.raises(BadRequest) as refused:
        await github.installation(personal).getitem("/orgs/alice/security-advisories")
    assert refused.value.status_code == 404
    with pytest.raises(BadRequest) as other:  # not the installation's organization
        await github.installation(personal).getitem(ORG)
    assert other.value.status_code == 404
    fake.org_list_refused.add("python")
    with pytest.raises(BadRequest):
        await client.getitem(ORG)
    fake.org_list_refused.clear()
    with pytest.raises(BadRequest) as bad_cursor:
        await client.getitem(f"{ORG}?after=not-a-cursor")
    assert bad_cursor.value.status_code == 400
    # Query values are checked against the description: a page number is a violation.
    with pytest.raises(Exception):  # noqa: B017 - 422, and the violation recorded below
        await client.getitem(f"{ORG}?page=2")
    with pytest.raises(Exception):  # noqa: B017
        await client.getitem(f"{ORG}?sort=severity")
    assert len(fake.violations) == 2
    assert "page" in fake.violations[0] and "sort" in fake.violations[1]
    fake.violations.clear()  # expected here; the fixture fails the test on any left
