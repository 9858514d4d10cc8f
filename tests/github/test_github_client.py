"""The GitHub client against the fake's fault injection (real HTTP, recorded waits)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from gidgethub import BadRequest, GitHubBroken

from bot.core.metrics import Metrics
from bot.github.client import GitHubApp, GitHubUnavailable, RateLimited, error_summary, reply_error
from tests.fakegithub import FakeGitHub
from tests.harness import BotUnderTest, github_app_for

ADVISORY_PATH = r"/security-advisories/GHSA-[^/]+$"


class Waits:
    """The client's sleep, recorded instead of slept (the client receives it)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest.fixture
async def client_parts(
    fake_github: tuple[FakeGitHub, str],
) -> AsyncIterator[tuple[FakeGitHub, GitHubApp, Waits, int, list[str]]]:
    fake, url = fake_github
    installation = fake.primary_installation  # type: ignore[attr-defined]
    waits = Waits()
    printed: list[str] = []
    async with aiohttp.ClientSession() as session:
        github = github_app_for(session, fake, url, sleep=waits, dry_run_sink=printed.append)
        yield fake, github, waits, installation, printed


def _advisory(fake: FakeGitHub) -> dict[str, Any]:
    return fake.new_advisory("python/cpython", summary="tarfile escape", description="details")


async def test_429_with_retry_after_waits_that_long(client_parts: Any) -> None:
    fake, github, waits, installation, _ = client_parts
    advisory = _advisory(fake)
    fake.inject(ADVISORY_PATH, status=429, headers={"retry-after": "7"}, times=2)
    result = await github.installation(installation).getitem(advisory["url"].split(".com", 1)[1])
    assert result["ghsa_id"] == advisory["ghsa_id"]
    assert waits.seconds == [7.0, 7.0]
    assert [r.status for r in fake.requests_to(ADVISORY_PATH)] == [429, 429, 200]


async def test_primary_limit_exhausted_waits_for_reset(client_parts: Any) -> None:
    fake, github, waits, installation, _ = client_parts
    advisory = _advisory(fake)
    reset = int(time.time()) + 30
    fake.inject(
        ADVISORY_PATH,
        status=403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        body={"message": "API rate limit exceeded for installation."},
    )
    await github.installation(installation).getitem(
        f"/repos/python/cpython/security-advisories/{advisory['ghsa_id']}"
    )
    assert len(waits.seconds) == 1 and 25 <= waits.seconds[0] <= 32


async def test_secondary_limit_without_retry_after_waits_a_minute(client_parts: Any) -> None:
    fake, github, waits, installation, _ = client_parts
    advisory = _advisory(fake)
    fake.inject(
        ADVISORY_PATH,
        status=403,
        body={"message": "You have exceeded a secondary rate limit. Please wait a few minutes."},
    )
    await github.installation(installation).getitem(
        f"/repos/python/cpython/security-advisories/{advisory['ghsa_id']}"
    )
    assert waits.seconds == [60.0]


async def test_a_permission_403_is_not_retried(client_parts: Any) -> None:
    fake, github, waits, installation, _ = client_parts
    advisory = _advisory(fake)
    fake.inject(
        ADVISORY_PATH, status=403, body={"message": "Resource not accessible by integration"}
    )
    with pytest.raises(BadRequest):
        await github.installation(installation).getitem(
            f"/repos/python/cpython/security-advisories/{advisory['ghsa_id']}"
        )
    assert waits.seconds == []


async def test_a_long_wait_is_deferred_to_the_worker(client_parts: Any) -> None:
    fake, github, waits, installation, _ = client_parts
    advisory = _advisory(fake)
    fake.inject(ADVISORY_PATH, status=429, headers={"retry-after": "3600"})
    with pytest.raises(RateLimited) as caught:
        await github.installation(installation).getitem(
            f"/repos/python/cpython/security-advisories/{advisory['ghsa_id']}"
        )
    assert caught.value.retry_at >= time.time() + 3500
    assert waits.seconds == []


async def test_5xx_on_get_is_retried_with_backoff(client_parts: Any) -> None:
    fake, github, waits, installation, _ = client_parts
    advisory = _advisory(fake)
    fake.inject(ADVISORY_PATH, method="GET", status=502, times=2)
    await github.installation(installation).getitem(
        f"/repos/python/cpython/security-advisories/{advisory['ghsa_id']}"
    )
    assert waits.seconds == [0.5, 1.0]


async def test_5xx_that_persists_gives_up(client_parts: Any) -> None:
    fake, github, _waits, installation, _ = client_parts
    advisory = _advisory(fake)
    fake.inject(ADVISORY_PATH, method="GET", status=503, times=10)
    with pytest.raises(GitHubBroken):
        await github.installation(installation).getitem(
            f"/repos/python/cpython/security-advisories/{advisory['ghsa_id']}"
        )
    assert len(fake.requests_to(ADVISORY_PATH)) == 4


async def test_5xx_on_post_is_not_blindly_resent(client_parts: Any) -> None:
    fake, github, _waits, installation, _ = client_parts
    advisory = _advisory(fake)
    path = f"/repos/python/cpython/security-advisories/{advisory['ghsa_id']}/comments"
    fake.inject(path + "$", method="POST", status=502)
    with pytest.raises(GitHubBroken):
        await github.installation(installation).post(path, data={"body": "hello"})
    assert len(fake.requests_to(path + "$", "POST")) == 1
    assert fake.comments[("python/cpython", advisory["ghsa_id"])] == []


async def test_expired_token_is_refreshed_once_on_401(client_parts: Any) -> None:
    fake, github, _waits, installation, _ = client_parts
    advisory = _advisory(fake)
    client = github.installation(installation)
    path = f"/repos/python/cpython/security-advisories/{advisory['ghsa_id']}"
    await client.getitem(path)
    fake.tokens.clear()  # GitHub no longer accepts the cached token
    await client.patch(path, data={"summary": "tarfile: path escape"})
    assert fake.token_requests[installation] == 2
    assert (
        fake.advisories["python/cpython"][advisory["ghsa_id"]]["summary"] == "tarfile: path escape"
    )
    assert [r.status for r in fake.requests_to(path + "$", "PATCH")] == [401, 200]


async def test_dropped_connection_on_get_is_retried(client_parts: Any) -> None:
    fake, github, waits, installation, _ = client_parts
    advisory = _advisory(fake)
    # aiohttp itself resends an idempotent request once on a dropped keep-alive
    # connection; dropping three times also exercises the client's own retry.
    fake.inject(ADVISORY_PATH, drop=True, times=3)
    result = await github.installation(installation).getitem(
        f"/repos/python/cpython/security-advisories/{advisory['ghsa_id']}"
    )
    assert result["ghsa_id"] == advisory["ghsa_id"]
    assert [r.status for r in fake.requests_to(ADVISORY_PATH)] == [599, 599, 599, 200]
    assert waits.seconds


async def test_unreachable_github_raises_unavailable(fake_github: tuple[FakeGitHub, str]) -> None:
    fake, _ = fake_github
    waits = Waits()
    async with aiohttp.ClientSession() as session:
        github = GitHubApp(
            session,
            api_url="http://127.0.0.1:9",
            app_id="1",
            jwt_issuer="1",
            private_key=fake.app.private_key,
            metrics=Metrics(),
            sleep=waits,
        )
        with pytest.raises(GitHubUnavailable):
            await github.app().getitem("/app")
    assert waits.seconds == [0.5, 1.0, 2.0]


async def test_dry_run_prints_mutations_and_sends_none(client_parts: Any) -> None:
    fake, github, _waits, installation, printed = client_parts
    advisory = _advisory(fake)
    github.dry_run = True
    path = f"/repos/python/cpython/security-advisories/{advisory['ghsa_id']}"
    client = github.installation(installation)
    await client.getitem(path)
    await client.patch(path, data={"state": "draft"})
    assert printed == [f'DRY-RUN PATCH {path} {{"state": "draft"}}']
    assert fake.mutations() == []
    assert fake.advisories["python/cpython"][advisory["ghsa_id"]]["state"] == "triage"


async def test_mutations_to_one_installation_are_serialized_and_spaced(client_parts: Any) -> None:
    fake, github, _waits, installation, _ = client_parts
    advisory = _advisory(fake)
    path = f"/repos/python/cpython/security-advisories/{advisory['ghsa_id']}/comments"
    client = github.installation(installation)
    await github.installation_token(installation)
    github.sleep = asyncio.sleep  # real spacing for this test
    github.mutation_interval = 0.1
    fake.latency = 0.05
    await asyncio.gather(*(client.post(path, data={"body": f"c{i}"}) for i in range(3)))
    posts = sorted(fake.requests_to(path + "$", "POST"), key=lambda r: r.started)
    assert len(posts) == 3
    for before, after in itertools.pairwise(posts):
        # Never two at once, and the interval counts from the previous answer, so
        # the gap holds however long each request took to arrive.
        assert after.started - before.finished >= 0.1
    assert len(fake.comments[("python/cpython", advisory["ghsa_id"])]) == 3


async def test_rate_limited_delivery_is_retried_end_to_end(
    bot: BotUnderTest, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    await bot.settle()
    fake.inject("^/installation/repositories$", status=429, headers={"retry-after": "1"})
    payload = bot.payload("installation_repositories/added.payload.json")
    payload["repositories_added"] = []
    sent = await bot.send("installation_repositories", payload)
    await bot.settle()
    stored = await bot.services.store.get_delivery(sent.guid)
    assert stored is not None and stored.state == "done"
    statuses = [r.status for r in fake.requests_to("^/installation/repositories$")]
    assert 429 in statuses and statuses[-1] in (200, 304)


async def test_error_summary_names_fields_and_reply_error_keeps_githubs_message(
    client_parts: Any,
) -> None:
    fake, github, _waits, installation, _ = client_parts
    advisory = _advisory(fake)
    path = f"/repos/python/cpython/security-advisories/{advisory['ghsa_id']}"
    fake.inject(
        path + "$",
        method="PATCH",
        status=422,
        body={
            "message": "Validation Failed: SECRET-TITLE",
            "errors": [{"field": "summary", "code": "custom", "message": "SECRET-TITLE is long"}],
        },
    )
    with pytest.raises(BadRequest) as refused:
        await github.installation(installation).patch(path, data={"summary": "SECRET-TITLE"})
    assert error_summary(refused.value) == "GitHub 422 ValidationError (fields: summary)"
    assert "SECRET-TITLE" in reply_error(refused.value)  # for the advisory's own thread
    assert reply_error(refused.value).startswith("GitHub 422: ")
