"""The one thing that speaks HTTP to GitHub.

:class:`GitHubApp` holds what one process shares: the aiohttp session, the App
JWT, installation tokens (cached until shortly before `expires_at`, refreshed
single-flight), one ETag cache per installation, and one mutation lock per
installation. :class:`GitHubClient` is a gidgethub client bound to one
credential; its transport adds the token and the pinned API version, refreshes
an expired token once on 401, retries 5xx and connection errors with bounded
backoff, and in dry-run prints mutating requests instead of sending them.
Rate limits go through gidgethub 6's `manage_rate_limit` and
`handle_rate_limit_error` hooks; before it is sent, every request pays its
points (GET 1, mutation 5) to the one :class:`~bot.github.budget.RequestBudget`
of the process, waiting while the minute's points are spent.

Credentials go only to `GITHUB_API_URL`'s origin (scheme, host and port):
every request, a pagination `Link` gidgethub follows or a redirect included,
is checked before it is sent, and one aimed anywhere else is refused
(:class:`ForeignUrl`). Redirects within that origin are followed here, never
by aiohttp.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import cachetools
from gidgethub import HTTPException, sansio
from gidgethub import abc as gh_abc
from gidgethub.apps import get_jwt
from yarl import URL

from bot.core.errors import SafeMessage
from bot.core.metrics import Metrics
from bot.github.budget import RequestBudget
from bot.github.errors import error_summary as error_summary
from bot.github.errors import reply_error as reply_error

API_VERSION = "2022-11-28"
MUTATING_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
TOKEN_REFRESH_MARGIN = 300.0
JWT_LIFETIME = 600
JWT_REUSE_FOR = 300.0
# Each polled repository's advisory list needs its own ETag entry, or the
# poller pays full price (found with 1,000 repositories and 512 entries).
ETAG_ENTRIES_PER_INSTALLATION = 8192
# Redirects GitHub may answer with (a renamed or transferred repository), followed
# within GITHUB_API_URL's origin only.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5

log = logging.getLogger("ghsa_bot.github")


class RateLimited(SafeMessage, Exception):
    """GitHub asked us to wait longer than a handler should block; retry at `retry_at`."""

    def __init__(self, retry_at: float, reason: str) -> None:
        super().__init__(reason)
        self.retry_at = retry_at


class GitHubUnavailable(SafeMessage, Exception):
    """GitHub could not be reached, or kept answering 5xx, after bounded retries."""


class ForeignUrl(SafeMessage, Exception):
    """A request (a pagination link, a redirect) pointed outside GITHUB_API_URL's origin.

    Nothing was sent there: the token or JWT goes to GitHub's origin only.
    """


def origin_of(url: str | URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in, lower-cased."""
    parsed = url if isinstance(url, URL) else URL(url)
    return ((parsed.scheme or "").lower(), (parsed.host or "").lower(), parsed.port)


@dataclass(frozen=True)
class Credential:
    kind: str  # "installation", "app" or "anonymous"
    installation_id: int | None = None

    @property
    def lock_key(self) -> str:
        return f"{self.kind}:{self.installation_id}"


class GitHubApp:
    """Process-wide GitHub state: session, JWT, tokens, ETag caches, mutation locks."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_url: str,
        app_id: str | None,
        jwt_issuer: str | None,
        private_key: str | None,
        metrics: Metrics,
        dry_run: bool = False,
        dry_run_sink: Callable[[str], None] = print,
        mutation_interval: float = 1.0,
        max_inline_wait: float = 60.0,
        transport_attempts: int = 4,
        backoff_base: float = 0.5,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        requester: str = "ghsa-bot",
        budget: RequestBudget | None = None,
    ) -> None:
        self.session = session
        self.api_url = api_url.rstrip("/")
        self.origin = origin_of(self.api_url)
        self.app_id = app_id
        self.jwt_issuer = jwt_issuer
        self._private_key = private_key
        self.metrics = metrics
        self.dry_run = dry_run
        self.dry_run_sink = dry_run_sink
        self.mutation_interval = mutation_interval
        self.max_inline_wait = max_inline_wait
        self.transport_attempts = transport_attempts
        self.backoff_base = backoff_base
        self.clock = clock
        self.sleep = sleep
        self.requester = requester
        # Every request sent pays its points here first (bot/github/budget.py); None: no budget.
        self.budget = budget
        self._jwt: tuple[str, float] | None = None
        self._tokens: cachetools.LRUCache[int, tuple[str, float]] = cachetools.LRUCache(100_000)
        self._token_locks: dict[int, asyncio.Lock] = {}
        self._etag_caches: cachetools.LRUCache[str, cachetools.LRUCache[Any, Any]] = (
            cachetools.LRUCache(10_000)
        )
        self._mutation_locks: dict[str, asyncio.Lock] = {}
        self._last_mutation: dict[str, float] = {}
        self._clients: cachetools.LRUCache[str, GitHubClient] = cachetools.LRUCache(10_000)
        self.token_requests = 0

    def __repr__(self) -> str:
        return f"GitHubApp(api_url={self.api_url!r}, app_id={self.app_id!r})"

    def check_origin(self, url: str | URL) -> None:
        """Raise :class:`ForeignUrl` unless `url` is on GITHUB_API_URL's scheme, host and port."""
        target = origin_of(url)
        if target != self.origin or not target[1]:
            scheme, host, port = target
            raise ForeignUrl(
                f"refused to send a GitHub request to {scheme}://{host}:{port}: "
                f"not GITHUB_API_URL's scheme, host and port"
            )

    # -- credentials ---------------------------------------------------------------

    def app_jwt(self) -> str:
        """An App JWT (RS256, iat 60 s in the past), reused for five minutes."""
        if self._private_key is None or self.jwt_issuer is None:
            raise RuntimeError("no GitHub App credentials are configured")
        now = time.monotonic()
        if self._jwt is None or now >= self._jwt[1]:
            token = get_jwt(
                app_id=self.jwt_issuer, private_key=self._private_key, expiration=JWT_LIFETIME
            )
            self._jwt = (token, now + JWT_REUSE_FOR)
        return self._jwt[0]

    async def installation_token(self, installation_id: int, *, stale: str | None = None) -> str:
        """A cached installation token; `stale` names a token GitHub just refused."""
        cached = self._tokens.get(installation_id)
        if cached is not None and cached[0] != stale and self.clock() < cached[1]:
            return cached[0]
        lock = self._token_locks.setdefault(installation_id, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(installation_id)
            if cached is not None and cached[0] != stale and self.clock() < cached[1]:
                return cached[0]
            self.token_requests += 1
            response = await self.app().post(
                f"/app/installations/{installation_id}/access_tokens", data=b""
            )
            token = str(response["token"])
            expires_at = _parse_time(str(response["expires_at"]))
            self._tokens[installation_id] = (token, expires_at - TOKEN_REFRESH_MARGIN)
            return token

    # -- clients -------------------------------------------------------------------

    def installation(self, installation_id: int) -> GitHubClient:
        return self._client(Credential("installation", installation_id))

    def app(self) -> GitHubClient:
        return self._client(Credential("app"))

    def anonymous(self) -> GitHubClient:
        return self._client(Credential("anonymous"))

    def _client(self, credential: Credential) -> GitHubClient:
        key = credential.lock_key
        client = self._clients.get(key)
        if client is None:
            cache = self._etag_caches.get(key)
            if cache is None:
                cache = self._etag_caches[key] = cachetools.LRUCache(ETAG_ENTRIES_PER_INSTALLATION)
            client = GitHubClient(self, credential, cache)
            self._clients[key] = client
        return client

    async def authorization(
        self, credential: Credential, *, stale: str | None = None
    ) -> str | None:
        if credential.kind == "installation":
            assert credential.installation_id is not None
            token = await self.installation_token(credential.installation_id, stale=stale)
            return f"token {token}"
        if credential.kind == "app":
            return f"Bearer {self.app_jwt()}"
        return None

    def mutation_lock(self, credential: Credential) -> asyncio.Lock:
        return self._mutation_locks.setdefault(credential.lock_key, asyncio.Lock())

    async def space_mutation(self, credential: Credential) -> None:
        """Wait until `mutation_interval` seconds have passed since the last mutation
        of this installation was answered (GitHub: serially, a second apart)."""
        last = self._last_mutation.get(credential.lock_key)
        now = time.monotonic()
        if last is not None and now - last < self.mutation_interval:
            await self.sleep(self.mutation_interval - (now - last))

    def mutation_answered(self, credential: Credential) -> None:
        """Start the interval when a mutation's answer (or failure) arrives, so the
        gap GitHub sees between two mutations is never shorter than the interval."""
        self._last_mutation[credential.lock_key] = time.monotonic()


def _parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _is_token_request(method: str, url: str) -> bool:
    return method == "POST" and url.rstrip("/").endswith("/access_tokens")


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_url: str | None
    not_modified: bool


class GitHubClient(gh_abc.GitHubAPI):
    """A gidgethub client for one credential, with the transport rules of this module."""

    def __init__(self, github: GitHubApp, credential: Credential, cache: Any) -> None:
        super().__init__(github.requester, cache=cache, base_url=github.api_url)
        self.github = github
        self.credential = credential

    async def sleep(self, seconds: float) -> None:
        await self.github.sleep(seconds)

    async def getpage(self, url: str) -> Page:
        """One page of a list through the ETag cache: its items, the next page's URL, and
        whether GitHub answered 304 (nothing changed since the cached copy: `items` is it)."""
        data, more, status = await self._make_request(
            "GET", url, {}, b"", sansio.accept_format()
        )
        items: list[Any] = data if isinstance(data, list) else []
        return Page(items, more, status == 304)

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        github = self.github
        # Before anything else: gidgethub follows `Link` headers and takes absolute URLs.
        github.check_origin(url)
        request_headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        request_headers["x-github-api-version"] = API_VERSION
        mutating = method in MUTATING_METHODS and not _is_token_request(method, url)
        if mutating and github.dry_run:
            return self._dry_run(method, url, body)
        if not mutating:
            return await self._send(method, url, request_headers, body)
        async with github.mutation_lock(self.credential):
            await github.space_mutation(self.credential)
            try:
                return await self._send(method, url, request_headers, body)
            finally:
                github.mutation_answered(self.credential)

    def _dry_run(self, method: str, url: str, body: bytes) -> tuple[int, Mapping[str, str], bytes]:
        path = url.removeprefix(self.github.api_url)
        shown = body.decode("utf-8", "replace") if body else ""
        self.github.dry_run_sink(f"DRY-RUN {method} {path} {shown}".rstrip())
        self.github.metrics.github_requests.inc(method=method, status="dry-run")
        echo = body if body else b"{}"
        return 200, {"content-type": "application/json; charset=utf-8"}, echo

    async def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        github = self.github
        refreshed = False
        stale: str | None = None
        attempt = 0
        redirects = 0
        while True:
            # The credential is attached below: check where it would go, every time.
            github.check_origin(url)
            attempt += 1
            authorization = await github.authorization(self.credential, stale=stale)
            if authorization is not None:
                headers["authorization"] = authorization
            if github.budget is not None:
                await github.budget.spend(method)  # waits while the minute's points are spent
            try:
                async with github.session.request(
                    method, url, headers=headers, data=body or None, allow_redirects=False
                ) as response:
                    status, response_headers = response.status, response.headers
                    content = await response.read()
                    answered_url = response.url
            except (TimeoutError, aiohttp.ClientError) as error:
                github.metrics.github_requests.inc(method=method, status="error")
                not_sent = isinstance(error, aiohttp.ClientConnectorError)
                if (method == "POST" and not not_sent) or attempt >= github.transport_attempts:
                    raise GitHubUnavailable(f"{method} failed: {type(error).__name__}") from error
                await self.sleep(github.backoff_base * 2 ** (attempt - 1))
                continue
            github.metrics.github_requests.inc(method=method, status=str(status))
            remaining = response_headers.get("x-ratelimit-remaining")
            if remaining is not None and remaining.isdigit():
                github.metrics.rate_limit_remaining.set(float(remaining))
            location = response_headers.get("location")
            if status in REDIRECT_STATUSES and location:
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise GitHubUnavailable(f"{method} redirected more than {MAX_REDIRECTS} times")
                try:
                    target = answered_url.join(URL(location))
                except ValueError:
                    raise ForeignUrl("refused to follow a malformed redirect URL") from None
                github.check_origin(target)  # refused before anything is sent there
                url = str(target)
                if status == 303 or (status in (301, 302) and method not in ("GET", "HEAD")):
                    method, body = "GET", b""
                attempt = 0
                continue
            if status == 401 and self.credential.kind == "installation" and not refreshed:
                refreshed = True
                stale = authorization.removeprefix("token ") if authorization else None
                continue
            stale = None
            if status >= 500 and method != "POST" and attempt < github.transport_attempts:
                await self.sleep(github.backoff_base * 2 ** (attempt - 1))
                continue
            return status, response_headers, content

    async def manage_rate_limit(self, *, method: str, url: str) -> None:
        """Before a request: if the primary limit is spent, wait for its reset."""
        limit = self.rate_limit
        if limit is None or limit.remaining > 0:
            return
        wait = limit.reset_datetime.timestamp() - self.github.clock()
        if wait <= 0:
            return
        await self._wait_or_defer(wait + 1, "primary rate limit exhausted")

    async def handle_rate_limit_error(
        self, *, method: str, url: str, exception: HTTPException, attempt: int
    ) -> bool:
        """After a 403/429: honour `retry-after`, then the reset time, then back off."""
        if exception.status_code not in (403, 429) or attempt > 5:
            return False
        headers = {k.lower(): v for k, v in exception.headers.items()}
        message = str(exception).lower()
        if "retry-after" in headers:
            wait = _seconds(headers["retry-after"], default=60.0)
        elif headers.get("x-ratelimit-remaining") == "0":
            reset = _seconds(headers.get("x-ratelimit-reset", "0"), default=0.0)
            wait = max(0.0, reset - self.github.clock()) + 1
        elif exception.status_code == 429 or "rate limit" in message:
            wait = 60.0 * 2 ** (attempt - 1)
        else:
            return False  # a permission refusal, not a limit
        await self._wait_or_defer(wait, f"GitHub answered {exception.status_code}")
        return True

    async def _wait_or_defer(self, wait: float, reason: str) -> None:
        self.github.metrics.rate_limit_waits.inc()
        if wait > self.github.max_inline_wait:
            raise RateLimited(self.github.clock() + wait, f"{reason}; retry in {wait:.0f} s")
        log.info(
            "waiting for GitHub rate limit",
            extra={"fields": {"wait_seconds": round(wait, 1), "reason": reason}},
        )
        await self.sleep(wait)


def _seconds(value: str, *, default: float) -> float:
    try:
        return max(0.0, float(value))
    except ValueError:
        return default
