"""Installations and their repositories are recorded; tokens are cached per installation."""

from __future__ import annotations

from tests.fakegithub import FakeGitHub
from tests.harness import BotUnderTest


async def test_startup_lists_installations_and_their_repositories(
    bot: BotUnderTest, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    await bot.started()
    installations = await bot.services.installations.installations()
    assert [i.id for i in installations] == [bot.installation_id]
    assert installations[0].account_login == "python"
    names = [r.full_name for r in await bot.services.installations.repositories(bot.installation_id)]
    assert names == ["python/cpython", "python/devguide"]
    assert fake.requests_to("^/app/installations$")[0].auth == "jwt"


async def test_installation_created_records_repositories_from_github(
    bot: BotUnderTest, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    new_id = fake.add_installation("octo-org", ["octo-org/one", "octo-org/two"])
    payload = bot.payload("installation/created.payload.json")
    payload["installation"]["id"] = new_id
    assert (await bot.send("installation", payload)).status == 202
    await bot.settle()
    names = [r.full_name for r in await bot.services.installations.repositories(new_id)]
    assert names == ["octo-org/one", "octo-org/two"]

    deleted = bot.payload("installation/deleted.payload.json")
    deleted["installation"]["id"] = new_id
    assert (await bot.send("installation", deleted)).status == 202
    await bot.settle()
    assert await bot.services.installations.repositories(new_id) == []
    assert new_id not in [i.id for i in await bot.services.installations.installations()]


async def test_repositories_added_and_removed(
    bot: BotUnderTest, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    fake.add_repository("python/peps")
    fake.installation_repos[bot.installation_id].append("python/peps")
    added = bot.payload("installation_repositories/added.payload.json")
    added["repositories_added"] = [
        {"id": fake.repos["python/peps"]["id"], "full_name": "python/peps", "private": False}
    ]
    assert (await bot.send("installation_repositories", added)).status == 202
    await bot.settle()
    names = {r.full_name for r in await bot.services.installations.repositories(bot.installation_id)}
    assert names == {"python/cpython", "python/devguide", "python/peps"}

    fake.installation_repos[bot.installation_id].remove("python/peps")
    removed = bot.payload("installation_repositories/removed.payload.json")
    removed["repositories_removed"] = added["repositories_added"]
    assert (await bot.send("installation_repositories", removed)).status == 202
    await bot.settle()
    names = {r.full_name for r in await bot.services.installations.repositories(bot.installation_id)}
    assert names == {"python/cpython", "python/devguide"}


async def test_many_events_one_token_per_installation(
    bot: BotUnderTest, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    payload = bot.payload("installation_repositories/added.payload.json")
    payload["repositories_added"] = []
    for _ in range(40):
        assert (await bot.send("installation_repositories", payload)).status == 202
    await bot.settle()
    assert fake.token_requests[bot.installation_id] == 1
    repo_lists = fake.requests_to("^/installation/repositories$")
    assert len(repo_lists) >= 40
    assert {r.auth for r in repo_lists} == {f"installation:{bot.installation_id}"}
    # The list did not change: after the first, GitHub answers 304 (no rate limit cost).
    assert sum(r.status == 304 for r in repo_lists) >= 39
    assert {r.api_version for r in fake.requests} == {"2022-11-28"}


async def test_token_is_refreshed_before_it_expires(
    bot: BotUnderTest, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    github = bot.services.github
    assert github is not None
    # An installation only this test asks for: the bot's own background jobs (the
    # poller) use the CPython one, and a token they refreshed under the moved clock
    # would be counted here.
    installation = fake.add_installation("octo-org", ["octo-org/one"])
    await github.installation_token(installation)
    first = fake.token_requests[installation]
    now = fake.clock()
    github.clock = lambda: now + 3000  # still inside the refresh margin: cached
    await github.installation_token(installation)
    assert fake.token_requests[installation] == first
    github.clock = lambda: now + 3301  # less than 5 minutes left: refreshed
    await github.installation_token(installation)
    assert fake.token_requests[installation] == first + 1


async def test_concurrent_token_requests_are_single_flight(
    bot: BotUnderTest, fake_github: tuple[FakeGitHub, str]
) -> None:
    import asyncio

    fake, _ = fake_github
    github = bot.services.github
    assert github is not None
    fake.latency = 0.05
    new_id = fake.add_installation("octo-org", ["octo-org/one"])
    tokens = await asyncio.gather(*(github.installation_token(new_id) for _ in range(20)))
    assert len(set(tokens)) == 1
    assert fake.token_requests[new_id] == 1
