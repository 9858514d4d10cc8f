"""Credentials go only where they belong: the installation token and the App JWT to
GITHUB_API_URL's scheme, host and port; the CVE Services API key to CVE_SERVICES_URL.

A canary server on another port records whatever reaches it: it must see nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.core.settings import CveServicesCredentials
from bot.github.client import ForeignUrl
from bot.records.cve_services import CveServicesClient, CveServicesError
from tests.conftest import free_port
from tests.fakecve import FakeCveServices
from tests.fakegithub import FakeGitHub
from tests.harness import catch_all_server, github_app_for

ADVISORIES = "/repos/python/cpython/security-advisories"


@dataclass
class Canary:
    """Another server (another port): it records every request and answers plausibly."""

    url: str = ""
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    async def answer(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, request.path_qs, dict(request.headers)))
        if request.path.endswith("/cve-id"):
            return web.json_response({"cve_ids": [{"cve_id": "CVE-2099-0001"}]})
        if request.path.startswith("/app/installations"):
            return web.json_response([])
        return web.json_response([] if request.path.endswith("advisories") else {"ok": True})


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    canary = Canary()
    async with catch_all_server(canary.answer) as url:
        canary.url = url
        yield canary


def _a_page_linking_to(fake: FakeGitHub, path: str, next_url: str, items: Any) -> None:
    """The fake answers `path` with a page whose `Link: rel="next"` points at `next_url`."""
    fake.inject(
        path + "$",
        method="GET",
        status=200,
        body=items,
        headers={"Link": f'<{next_url}>; rel="next"'},
    )


@pytest.mark.parametrize(
    "elsewhere",
    ["canary", "https-same-host-and-port", "other-host-same-port"],
)
async def test_a_pagination_link_elsewhere_is_refused_and_the_token_never_leaves(
    fake_github: tuple[FakeGitHub, str], canary: Canary, elsewhere: str
) -> None:
    fake, url = fake_github
    installation = fake.primary_installation  # type: ignore[attr-defined]
    advisory = fake.new_advisory("python/cpython", summary="s", description="embargoed")
    port = url.rsplit(":", 1)[1]
    next_url = {
        "canary": f"{canary.url}{ADVISORIES}?page=2",  # another port, plain HTTP
        "https-same-host-and-port": f"https://127.0.0.1:{port}{ADVISORIES}?page=2",
        "other-host-same-port": f"http://localhost:{port}{ADVISORIES}?page=2",
    }[elsewhere]
    _a_page_linking_to(fake, ADVISORIES, next_url, [advisory])
    async with aiohttp.ClientSession() as session:
        github = github_app_for(session, fake, url)
        seen = []
        with pytest.raises(ForeignUrl):
            async for item in github.installation(installation).getiter(ADVISORIES):
                seen.append(item["ghsa_id"])
    assert seen == [advisory["ghsa_id"]]  # the first page, from GitHub, was read
    assert canary.seen == []
    # Nothing went to the fake under another name either: one request, the first page.
    assert len(fake.requests_to(ADVISORIES + "$")) == 1


async def test_the_app_jwt_never_follows_a_link_elsewhere(
    fake_github: tuple[FakeGitHub, str], canary: Canary
) -> None:
    fake, url = fake_github
    _a_page_linking_to(
        fake, "/app/installations", f"{canary.url}/app/installations?page=2", [{"id": 1}]
    )
    async with aiohttp.ClientSession() as session:
        github = github_app_for(session, fake, url)
        with pytest.raises(ForeignUrl):
            async for _ in github.app().getiter("/app/installations"):
                pass
    assert canary.seen == []


async def test_a_redirect_elsewhere_is_refused_and_one_within_github_is_followed(
    fake_github: tuple[FakeGitHub, str], canary: Canary
) -> None:
    fake, url = fake_github
    installation = fake.primary_installation  # type: ignore[attr-defined]
    advisory = fake.new_advisory("python/cpython", summary="s", description="embargoed")
    path = f"{ADVISORIES}/{advisory['ghsa_id']}"
    async with aiohttp.ClientSession() as session:
        client = github_app_for(session, fake, url).installation(installation)

        fake.inject(path + "$", status=307, headers={"Location": f"{canary.url}{path}"})
        with pytest.raises(ForeignUrl):
            await client.getitem(path)
        assert canary.seen == []

        # A renamed repository: GitHub redirects within its own origin, and that works.
        fake.inject(path + "$", status=301, headers={"Location": f"{url}{path}"})
        answer = await client.getitem(path)
    assert answer["ghsa_id"] == advisory["ghsa_id"]
    statuses = [(r.status, r.auth) for r in fake.requests_to(path + "$")]
    assert statuses == [
        (307, f"installation:{installation}"),
        (301, f"installation:{installation}"),
        (200, f"installation:{installation}"),
    ]
    assert canary.seen == []


async def test_cve_services_redirects_are_not_followed_and_the_key_stays_home(
    fixtures: Path, canary: Canary
) -> None:
    fake = FakeCveServices(redirect_to=canary.url + "/api")
    server = TestServer(fake.web_app(), host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        credentials = CveServicesCredentials(
            url=str(server.make_url("/api")), org=fake.org, user=fake.user, api_key=fake.api_key
        )
        async with aiohttp.ClientSession() as session:
            client = CveServicesClient(session, credentials)
            with pytest.raises(CveServicesError) as refused:
                await client.reserve(2025)
    finally:
        await server.close()
    assert canary.seen == []  # neither the key nor the request reached the other host
    assert refused.value.status == 307
    assert "307" in str(refused.value) and "redirect" in str(refused.value)
    assert fake.api_key not in str(refused.value)
    assert fake.ids == {}
