"""A stateful fake of the GitHub endpoints the bot uses, served over real HTTP.

It authenticates like GitHub (App JWTs verified with the App's public key,
installation tokens that expire), answers with rate-limit headers and ETags
(a matching `If-None-Match` gets a 304 that costs nothing), checks every
request and response against the OpenAPI subset (mismatches are collected in
`violations`; the test fixture fails on any), and can inject faults.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cvss import CVSS3, CVSS4

from tests.fakegithub.issues_oauth import IssuesAndOAuth
from tests.fakegithub.openapi import OpenAPISpec

IDENTITY: web.RequestKey[str] = web.RequestKey("identity", str)
JSON_BODY: web.RequestKey[Any] = web.RequestKey("json", object)
STARTED: web.RequestKey[float] = web.RequestKey("started", float)
SUPPORTED_API_VERSIONS = {"2022-11-28", "2026-03-10"}
GHSA_ALPHABET = "23456789cfghjmpqrvwx"
# GET /users/{username}, cut from the same upstream description (tests/fixtures/README.md).
USERS_SPEC = "github-openapi-users.json"


def generate_private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


@dataclass
class Fault:
    """Answer matching requests with `status` (or drop, or delay) `times` times."""

    path: str
    method: str | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    drop: bool = False
    # Handle the request (its effect happens), then drop the connection before
    # answering: the client cannot tell whether its change was made.
    drop_after: bool = False
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and re.search(
            self.path, path
        ) is not None


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    status: int
    auth: str  # "jwt", "installation:<id>", "anonymous", "invalid"
    api_version: str | None
    body: Any
    started: float = 0.0
    finished: float = 0.0
    at: float = 0.0  # the fake's clock when the request arrived


@dataclass
class App:
    id: int
    slug: str
    name: str
    client_id: str
    client_secret: str
    webhook_secret: str
    private_key: str
    owner: dict[str, Any]
    permissions: dict[str, str]
    events: list[str]

    @property
    def public_key(self) -> Any:
        key = serialization.load_pem_private_key(self.private_key.encode(), password=None)
        return key.public_key()


class FakeGitHub(IssuesAndOAuth):
    """State and behaviour; :meth:`web_app` serves it."""

    def __init__(self, spec_path: Path | None, fixtures: Path) -> None:
        self.spec = (
            OpenAPISpec(spec_path, fixtures / USERS_SPEC) if spec_path is not None else None
        )
        self.fixtures = fixtures
        self.clock: Callable[[], float] = time.time
        self.token_lifetime = 3600.0
        self.apps: dict[int, App] = {}
        self.app = self._new_app(
            "ghsa-bot-test", {"login": "octo-org", "id": 1, "type": "Organization"}
        )
        self.installations: dict[int, dict[str, Any]] = {}
        self.installation_repos: dict[int, list[str]] = {}
        self.repos: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, tuple[int, float]] = {}
        self.token_requests: Counter[int] = Counter()
        self.advisories: dict[str, dict[str, dict[str, Any]]] = {}
        self.comments: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.team_members: dict[tuple[str, str], dict[str, str]] = {}
        self.collaborators: dict[tuple[str, str], str] = {}
        self.contents: dict[tuple[str, str], bytes] = {}
        self.manifest_codes: dict[str, dict[str, Any]] = {}
        # The App's delivery log, newest last; each attempt keeps what was sent so a
        # redelivery can send it again. `webhook_url` and `webhook_secret` are where
        # and how the fake delivers (tests set them, as an App's settings would).
        self.hook_deliveries: list[dict[str, Any]] = []
        self.hook_requests: dict[int, tuple[str, bytes]] = {}
        self.redeliveries: list[int] = []
        self.webhook_url: str | None = None
        self.webhook_secret = b""
        self.background: set[asyncio.Task[Any]] = set()
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.violations: list[str] = []
        self.rate_limits: dict[str, list[int]] = {}
        self._ids = itertools.count(1000)
        self.latency = 0.0
        self.reviews: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.fork_delay = 0.0  # GitHub creates temporary private forks asynchronously
        self.pending_forks: list[tuple[float, dict[str, Any], dict[str, Any]]] = []
        # CVE requests (GitHub as CNA): refused with 403 while `cve_forbidden` (the App
        # lacks admin or security-manager rights); assigned after `cve_delay` seconds.
        self.cve_forbidden = False
        self.cve_delay = 0.0
        self.pending_cves: list[tuple[float, dict[str, Any]]] = []
        self._cve_numbers = itertools.count(50001)
        # Whether a new comment moves its advisory's `updated_at`: not attested either
        # way (github-api-facts.md), so the bot must not rely on it; off by default.
        self.comment_bumps_updated_at = False
        # Organizations whose advisory list the App may not read (not an owner or
        # security manager): GitHub answers 404, as the OpenAPI description lists.
        self.org_list_refused: set[str] = set()
        # GET /users/{username}: the name on each profile (absent: none set), and the
        # logins GitHub has no profile for (deleted, suspended): 404.
        self.profile_names: dict[str, str] = {}
        self.no_profile: set[str] = set()
        # Teams per organization, for the organizations a test lists: a PATCH or a
        # create naming a team the advisory's organization lacks gets 422.
        self.org_teams: dict[str, set[str]] = {}
        self._init_issues_oauth()

    # -- set-up helpers ------------------------------------------------------------

    def _new_app(self, name: str, owner: dict[str, Any]) -> App:
        app_id = 4000 + len(self.apps) + 1
        app = App(
            id=app_id,
            slug=re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
            name=name,
            client_id=f"Iv23li{secrets.token_hex(7)}",
            client_secret=secrets.token_hex(20),
            webhook_secret=secrets.token_urlsafe(24),
            private_key=generate_private_key(),
            owner=owner,
            permissions={"repository_advisories": "write", "metadata": "read"},
            events=["repository_advisory"],
        )
        self.apps[app_id] = app
        return app

    def _repository_template(self) -> dict[str, Any]:
        path = self.fixtures / "webhooks" / "issues" / "opened.payload.json"
        return dict(json.loads(path.read_text())["repository"])

    def add_repository(self, full_name: str, *, private: bool = False) -> dict[str, Any]:
        owner, name = full_name.split("/")
        repo = self._repository_template()
        repo_id = next(self._ids)
        repo.update(
            id=repo_id,
            node_id=f"R_{repo_id}",
            name=name,
            full_name=full_name,
            private=private,
            visibility="private" if private else "public",
            html_url=f"https://github.com/{full_name}",
            url=f"https://api.github.com/repos/{full_name}",
        )
        repo["owner"] = dict(repo["owner"], login=owner)
        self.repos[full_name] = repo
        self.advisories.setdefault(full_name, {})
        return repo

    def add_installation(
        self, account: str, repositories: list[str], *, account_type: str = "Organization"
    ) -> int:
        installation_id = next(self._ids)
        template = json.loads(
            (self.fixtures / "webhooks" / "installation" / "created.payload.json").read_text()
        )["installation"]
        installation = dict(template)
        installation.update(
            id=installation_id,
            app_id=self.app.id,
            app_slug=self.app.slug,
            target_id=installation_id + 1,
            # The subset's inline schema for GET /app/installations says
            # `allOf: [simple-user, enterprise]` for `account` (the $ref'd one
            # says anyOf), so the account carries both sets of fields.
            account=dict(
                self._repository_template()["owner"],
                login=account,
                id=installation_id + 1,
                type=account_type,
                name=account,
                slug=account,
                created_at=iso(self.clock()),
                updated_at=iso(self.clock()),
            ),
            repository_selection="selected",
            created_at=iso(self.clock()),
            updated_at=iso(self.clock()),
            suspended_at=None,
            suspended_by=None,
            access_tokens_url=f"https://api.github.com/app/installations/{installation_id}/access_tokens",
        )
        self.installations[installation_id] = installation
        for full_name in repositories:
            if full_name not in self.repos:
                self.add_repository(full_name)
        self.installation_repos[installation_id] = list(repositories)
        return installation_id

    def set_content(self, full_name: str, path: str, data: bytes) -> None:
        self.contents[(full_name, path)] = data

    def inject(self, path: str, **options: Any) -> Fault:
        fault = Fault(path=path, **options)
        self.faults.append(fault)
        return fault

    def requests_to(self, pattern: str, method: str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if re.search(pattern, r.path) and (method is None or r.method == method)
        ]

    def mutations(self) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if r.method in {"POST", "PATCH", "PUT", "DELETE"}
            and not r.path.endswith("/access_tokens")
        ]

    # -- auth ----------------------------------------------------------------------

    def _verify_jwt(self, token: str) -> App | None:
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        issuer = str(unverified.get("iss", ""))
        app = next((a for a in self.apps.values() if issuer in {str(a.id), a.client_id}), None)
        if app is None:
            return None
        try:
            claims = jwt.decode(
                token,
                app.public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"], "verify_iat": False},
                leeway=0,
            )
        except jwt.PyJWTError:
            return None
        now = self.clock()
        if claims["iat"] > now + 60 or claims["exp"] - now > 600 or claims["exp"] <= now:
            return None
        return app

    def _identity(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        if not header:
            return "anonymous"
        if scheme.lower() == "bearer":
            return "jwt" if self._verify_jwt(credential) else "invalid"
        if scheme.lower() == "token":
            entry = self.tokens.get(credential)
            if entry is None or entry[1] <= self.clock():
                return "invalid"
            return f"installation:{entry[0]}"
        return "invalid"

    # -- the web app ---------------------------------------------------------------

    def web_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        routes = [
            (
                "POST",
                "/app/installations/{installation_id}/access_tokens",
                self.create_token,
                "jwt",
            ),
            ("GET", "/app", self.get_app, "jwt"),
            ("GET", "/app/installations", self.list_installations, "jwt"),
            ("GET", "/app/installations/{installation_id}", self.get_installation, "jwt"),
            ("GET", "/repos/{owner}/{repo}/installation", self.repo_installation, "jwt"),
            ("GET", "/installation/repositories", self.installation_repositories, "token"),
            ("GET", "/app/hook/deliveries", self.list_hook_deliveries, "jwt"),
            ("POST", "/app/hook/deliveries/{delivery_id}/attempts", self.redeliver, "jwt"),
            ("POST", "/app-manifests/{code}/conversions", self.convert_manifest, "none"),
            ("GET", "/repos/{owner}/{repo}/security-advisories", self.list_advisories, "token"),
            ("GET", "/orgs/{org}/security-advisories", self.list_org_advisories, "token"),
            ("POST", "/repos/{owner}/{repo}/security-advisories", self.create_advisory, "token"),
            ("POST", "/repos/{owner}/{repo}/security-advisories/reports", self.report, "token"),
            (
                "GET",
                "/repos/{owner}/{repo}/security-advisories/{ghsa_id}",
                self.get_advisory,
                "token",
            ),
            (
                "PATCH",
                "/repos/{owner}/{repo}/security-advisories/{ghsa_id}",
                self.patch_advisory,
                "token",
            ),
            (
                "GET",
                "/repos/{owner}/{repo}/security-advisories/{ghsa_id}/comments",
                self.list_comments,
                "token",
            ),
            (
                "POST",
                "/repos/{owner}/{repo}/security-advisories/{ghsa_id}/comments",
                self.add_comment,
                "token",
            ),
            (
                "POST",
                "/repos/{owner}/{repo}/security-advisories/{ghsa_id}/forks",
                self.create_fork,
                "token",
            ),
            (
                "POST",
                "/repos/{owner}/{repo}/security-advisories/{ghsa_id}/cve",
                self.request_cve,
                "token",
            ),
            (
                "GET",
                "/repos/{owner}/{repo}/security-advisories/{ghsa_id}/comments/{comment_id}",
                self.get_comment,
                "token",
            ),
            (
                "PATCH",
                "/repos/{owner}/{repo}/security-advisories/{ghsa_id}/comments/{comment_id}",
                self.edit_comment,
                "token",
            ),
            (
                "GET",
                "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
                self.list_reviews,
                "token",
            ),
            ("GET", "/orgs/{org}/teams/{team_slug}/members", self.list_team_members, "token"),
            (
                "GET",
                "/orgs/{org}/teams/{team_slug}/memberships/{username}",
                self.team_membership,
                "token",
            ),
            (
                "GET",
                "/repos/{owner}/{repo}/collaborators/{username}/permission",
                self.collaborator_permission,
                "token",
            ),
            (
                "GET",
                "/repos/{owner}/{repo}/contents/{path:.+}",
                self.get_content,
                "token-or-anonymous",
            ),
            ("POST", "/repos/{owner}/{repo}/issues", self.create_issue, "token"),
            ("GET", "/repos/{owner}/{repo}/issues/{issue_number}", self.get_issue, "token"),
            ("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}", self.update_issue, "token"),
            (
                "GET",
                "/repos/{owner}/{repo}/issues/{issue_number}/comments",
                self.list_issue_comments,
                "token",
            ),
            (
                "POST",
                "/repos/{owner}/{repo}/issues/{issue_number}/comments",
                self.create_issue_comment,
                "token",
            ),
            ("GET", "/login/oauth/authorize", self.oauth_authorize, "web"),
            ("POST", "/login/oauth/access_token", self.oauth_access_token, "web"),
            ("GET", "/user", self.authenticated_user, "none"),
            ("GET", "/users/{username}", self.get_user, "token-or-anonymous"),
            ("POST", "/settings/apps/new", self.web_new_app, "web"),
            ("POST", "/organizations/{org}/settings/apps/new", self.web_new_app, "web"),
        ]
        for method, path, handler, auth in routes:
            app.router.add_route(method, path, self._guard(handler, auth))
        return app

    def _guard(
        self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]], auth: str
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            identity = request[IDENTITY]
            if auth == "jwt" and identity != "jwt":
                return _error(401, "A JSON web token could not be decoded")
            if auth == "token" and not identity.startswith("installation:"):
                return _error(401, "Bad credentials")
            if auth == "token-or-anonymous" and identity == "invalid":
                return _error(401, "Bad credentials")
            return await handler(request)

        return guarded

    @web.middleware
    async def _middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        identity = self._identity(request)
        request[IDENTITY] = identity
        request[STARTED] = time.monotonic()
        raw = await request.read()
        body: Any = None
        is_web = "/settings/apps/new" in request.path or request.path.startswith("/login/oauth/")
        if raw and not is_web:
            try:
                body = json.loads(raw)
            except ValueError:
                return self._record(request, identity, None, _error(400, "Problems parsing JSON"))
        version = request.headers.get("X-GitHub-Api-Version")
        if version is not None and version not in SUPPORTED_API_VERSIONS and not is_web:
            return self._record(request, identity, body, _error(410, "API version not supported"))
        if self.latency:
            await asyncio.sleep(self.latency)
        drop_after = False
        for fault in list(self.faults):
            if fault.times > 0 and fault.matches(request.method, request.path):
                fault.times -= 1
                drop_after = drop_after or fault.drop_after
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.drop:
                    self._record(request, identity, body, web.Response(status=599))
                    assert request.transport is not None
                    request.transport.close()
                    raise asyncio.CancelledError
                if fault.status is not None:
                    response = web.json_response(
                        fault.body or {"message": f"fault {fault.status}"},
                        status=fault.status,
                        headers=fault.headers,
                    )
                    return self._record(request, identity, body, response)
        operation = self.spec.find(request.method, request.path) if self.spec else None
        if operation is not None and self.spec is not None:
            problems = self.spec.check_query(operation, request.query)
            if problems:
                self.violations.append(f"query {request.method} {request.path}: {problems}")
                return self._record(request, identity, body, _error(422, "Invalid request"))
        if operation is not None and body is not None:
            problems = self.spec.check_request(operation, body) if self.spec else []
            if problems:
                self.violations.append(f"request {request.method} {request.path}: {problems}")
                return self._record(request, identity, body, _error(422, "Invalid request"))
        request[JSON_BODY] = body
        response = await handler(request)
        if not is_web:
            self._rate_limit_headers(identity, response)
            response = self._conditional(request, response)
        if operation is not None and isinstance(response, web.Response) and response.status != 304:
            data = json.loads(response.body) if response.body else None  # type: ignore[arg-type]
            assert self.spec is not None
            problems = self.spec.check_response(operation, response.status, data)
            if problems:
                self.violations.append(
                    f"response {response.status} {request.method} {request.path}: {problems}"
                )
        elif operation is None and not is_web:
            self.violations.append(f"no operation for {request.method} {request.path}")
        recorded = self._record(request, identity, body, response)
        if drop_after:
            assert request.transport is not None
            request.transport.close()
            raise asyncio.CancelledError
        return recorded

    def _record(
        self, request: web.Request, identity: str, body: Any, response: web.StreamResponse
    ) -> web.StreamResponse:
        self.requests.append(
            RecordedRequest(
                request.method,
                request.path,
                request.query_string,
                response.status,
                identity,
                request.headers.get("X-GitHub-Api-Version"),
                body,
                request.get(STARTED, 0.0),
                time.monotonic(),
                self.clock(),
            )
        )
        return response

    def _rate_limit_headers(self, identity: str, response: web.StreamResponse) -> None:
        limit = self.rate_limits.setdefault(identity, [5000, 5000, int(self.clock()) + 3600])
        if response.status != 304:
            limit[1] = max(0, limit[1] - 1)
        response.headers.update(
            {
                "x-ratelimit-limit": str(limit[0]),
                "x-ratelimit-remaining": str(limit[1]),
                "x-ratelimit-used": str(limit[0] - limit[1]),
                "x-ratelimit-reset": str(limit[2]),
                "x-ratelimit-resource": "core",
            }
        )

    def _conditional(
        self, request: web.Request, response: web.StreamResponse
    ) -> web.StreamResponse:
        if (
            request.method != "GET"
            or response.status != 200
            or not isinstance(response, web.Response)
        ):
            return response
        etag = '"' + hashlib.sha256(response.body or b"").hexdigest()[:32] + '"'  # type: ignore[arg-type]
        if request.headers.get("If-None-Match") == etag:
            limit = self.rate_limits[request[IDENTITY]]
            limit[1] += 1  # a 304 does not count against the primary limit
            not_modified = web.Response(status=304, headers={"ETag": etag})
            not_modified.headers.update(
                {k: v for k, v in response.headers.items() if k.startswith("x-ratelimit")}
            )
            not_modified.headers["x-ratelimit-remaining"] = str(limit[1])
            return not_modified
        response.headers["ETag"] = etag
        return response

    # -- apps and installations ----------------------------------------------------

    def _installation_of(self, request: web.Request) -> int:
        return int(request[IDENTITY].split(":", 1)[1])

    async def create_token(self, request: web.Request) -> web.Response:
        installation_id = int(request.match_info["installation_id"])
        if installation_id not in self.installations:
            return _error(404, "Not Found")
        self.token_requests[installation_id] += 1
        # Stateless tokens are not 40 characters: the bot must not assume a format.
        token = f"ghs_{self.app.id}_{secrets.token_urlsafe(48)}"
        expires = self.clock() + self.token_lifetime
        self.tokens[token] = (installation_id, expires)
        return web.json_response(
            {
                "token": token,
                "expires_at": iso(expires),
                "permissions": self.app.permissions,
                "repository_selection": "selected",
            },
            status=201,
        )

    async def get_app(self, request: web.Request) -> web.Response:
        return web.json_response(self._integration(self.app))

    async def list_installations(self, request: web.Request) -> web.Response:
        items = list(self.installations.values())
        return self._paged(request, items)

    async def get_installation(self, request: web.Request) -> web.Response:
        installation = self.installations.get(int(request.match_info["installation_id"]))
        if installation is None:
            return _error(404, "Not Found")
        return web.json_response(installation)

    async def repo_installation(self, request: web.Request) -> web.Response:
        full_name = f"{request.match_info['owner']}/{request.match_info['repo']}"
        for installation_id, repos in self.installation_repos.items():
            if full_name in repos:
                return web.json_response(self.installations[installation_id])
        return _error(404, "Not Found")

    async def installation_repositories(self, request: web.Request) -> web.Response:
        installation_id = self._installation_of(request)
        names = self.installation_repos.get(installation_id, [])
        repos = [self.repos[name] for name in names]
        page, per_page = _page_args(request)
        chunk = repos[(page - 1) * per_page : page * per_page]
        response = web.json_response({"total_count": len(repos), "repositories": chunk})
        _link_pages(request, response, page, per_page, len(repos))
        return response

    def _paged(self, request: web.Request, items: list[Any]) -> web.Response:
        page, per_page = _page_args(request)
        response = web.json_response(items[(page - 1) * per_page : page * per_page])
        _link_pages(request, response, page, per_page, len(items))
        return response

    def _integration(self, app: App) -> dict[str, Any]:
        owner = dict(self._repository_template()["owner"], login=app.owner["login"])
        return {
            "id": app.id,
            "slug": app.slug,
            "node_id": f"A_{app.id}",
            "client_id": app.client_id,
            "owner": owner,
            "name": app.name,
            "description": "",
            "external_url": "https://example.test",
            "html_url": f"https://github.com/apps/{app.slug}",
            "created_at": iso(self.clock()),
            "updated_at": iso(self.clock()),
            "permissions": app.permissions,
            "events": app.events,
            "installations_count": len(self.installations),
        }

    async def deliver_webhook(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        guid: str | None = None,
        redelivery: bool = False,
    ) -> dict[str, Any]:
        """Send a signed webhook to `webhook_url` and log the attempt, as GitHub does.

        A refused connection is logged as GitHub shows it: status "failed to
        connect", status code 0. GitHub never retries on its own.
        """
        assert self.webhook_url is not None, "set fake.webhook_url first"
        body = json.dumps(payload).encode()
        guid = guid or str(uuid.uuid4())
        digest = hmac.new(self.webhook_secret, body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/fake",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": guid,
            "X-GitHub-Hook-ID": "1",
            "X-Hub-Signature-256": f"sha256={digest}",
        }
        started = time.monotonic()
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    f"{self.webhook_url}/webhook",
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as response,
            ):
                status, status_code = response.reason or "OK", response.status
        except (aiohttp.ClientError, TimeoutError):
            status, status_code = "failed to connect", 0
        item = {
            "id": next(self._ids),
            "guid": guid,
            "delivered_at": iso(self.clock()),
            "redelivery": redelivery,
            "duration": round(time.monotonic() - started, 3),
            "status": status,
            "status_code": status_code,
            "event": event,
            "action": payload.get("action"),
            "installation_id": (payload.get("installation") or {}).get("id"),
            "repository_id": (payload.get("repository") or {}).get("id"),
            "throttled_at": None,
        }
        self.hook_deliveries.append(item)
        self.hook_requests[item["id"]] = (event, body)
        return item

    async def list_hook_deliveries(self, request: web.Request) -> web.Response:
        """Newest first; `cursor` is opaque to clients (here: the last id seen)."""
        per_page = max(1, min(100, int(request.query.get("per_page", "30"))))
        items = sorted(self.hook_deliveries, key=lambda item: item["id"], reverse=True)
        wanted = request.query.get("status")
        if wanted is not None:
            success = wanted == "success"
            items = [i for i in items if (200 <= i["status_code"] < 400) == success]
        if "cursor" in request.query:
            before = int(request.query["cursor"])
            items = [i for i in items if i["id"] < before]
        page = items[:per_page]
        response = web.json_response(page)
        if len(items) > per_page:
            query = dict(request.query, cursor=str(page[-1]["id"]))
            response.headers["Link"] = f'<{request.url.with_query(query)}>; rel="next"'
        return response

    async def redeliver(self, request: web.Request) -> web.Response:
        delivery_id = int(request.match_info["delivery_id"])
        original = next((i for i in self.hook_deliveries if i["id"] == delivery_id), None)
        if original is None:
            return _error(404, "Not Found")
        self.redeliveries.append(delivery_id)
        event, body = self.hook_requests[delivery_id]
        task = asyncio.get_running_loop().create_task(
            self.deliver_webhook(event, json.loads(body), guid=original["guid"], redelivery=True)
        )
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return web.json_response({}, status=202)

    # -- the manifest flow ---------------------------------------------------------

    async def web_new_app(self, request: web.Request) -> web.Response:
        form = await request.post()
        state = request.query.get("state", "")
        try:
            manifest = json.loads(str(form["manifest"]))
            redirect = manifest["redirect_url"]
            assert manifest["url"] and manifest["hook_attributes"]["url"]
        except (KeyError, ValueError, AssertionError, TypeError):
            self.violations.append("manifest form: missing or invalid manifest")
            return web.Response(status=422, text="Invalid manifest")
        org = request.match_info.get("org")
        owner = {"login": org or "octocat", "id": 7, "type": "Organization" if org else "User"}
        app = self._new_app(manifest["name"], owner)
        app.permissions = dict(manifest.get("default_permissions", {}))
        app.events = list(manifest.get("default_events", []))
        code = secrets.token_hex(10)
        self.manifest_codes[code] = {"app": app.id, "manifest": manifest, "created": self.clock()}
        raise web.HTTPFound(f"{redirect}?{urlencode({'code': code, 'state': state})}")

    async def convert_manifest(self, request: web.Request) -> web.Response:
        entry = self.manifest_codes.pop(request.match_info["code"], None)
        if entry is None or self.clock() - entry["created"] > 3600:
            return _error(404, "Not Found")
        app = self.apps[entry["app"]]
        body = self._integration(app)
        body.update(
            client_secret=app.client_secret,
            webhook_secret=app.webhook_secret,
            pem=app.private_key,
        )
        return web.json_response(body, status=201)

    # -- repository advisories -----------------------------------------------------

    def _repo_or_404(self, request: web.Request) -> str | None:
        full_name = f"{request.match_info['owner']}/{request.match_info['repo']}"
        installation_id = self._installation_of(request)
        if full_name not in self.installation_repos.get(installation_id, []):
            return None
        return full_name

    def new_advisory(
        self,
        full_name: str,
        *,
        summary: str,
        description: str,
        reporter: str | None = None,
        state: str = "triage",
    ) -> dict[str, Any]:
        """Create an advisory as a private report (state `triage`) or a draft."""
        ghsa = "GHSA-" + "-".join(
            "".join(secrets.choice(GHSA_ALPHABET) for _ in range(4)) for _ in range(3)
        )
        now = iso(self.clock())
        author = self._user(reporter or "octocat")
        advisory: dict[str, Any] = {
            "ghsa_id": ghsa,
            "cve_id": None,
            "url": f"https://api.github.com/repos/{full_name}/security-advisories/{ghsa}",
            "html_url": f"https://github.com/{full_name}/security/advisories/{ghsa}",
            "summary": summary,
            "description": description,
            "severity": None,
            "author": author,
            "publisher": None,
            "identifiers": [{"type": "GHSA", "value": ghsa}],
            "state": state,
            "created_at": now,
            "updated_at": now,
            "published_at": None,
            "closed_at": None,
            "withdrawn_at": None,
            "submission": {"accepted": False} if state == "triage" else None,
            "vulnerabilities": [],
            "cvss": None,
            "cwes": [],
            "cwe_ids": [],
            "credits": [],
            "credits_detailed": [],
            "collaborating_users": [],
            "collaborating_teams": [],
            "private_fork": None,
            # Non-confidential comments (changelog 2026-10-02); edits leave it unchanged.
            "comments": 0,
        }
        self.advisories.setdefault(full_name, {})[ghsa] = advisory
        self.comments[(full_name, ghsa)] = []
        return advisory

    def _user(self, login: str) -> dict[str, Any]:
        user = dict(self._repository_template()["owner"])
        user.update(login=login, id=abs(hash(login)) % 10_000_000, type="User")
        return user

    async def list_advisories(self, request: web.Request) -> web.Response:
        self._materialize_forks()
        full_name = self._repo_or_404(request)
        if full_name is None:
            return _error(404, "Not Found")
        items = list(self.advisories.get(full_name, {}).values())
        state = request.query.get("state")
        if state:
            items = [a for a in items if a["state"] == state]
        sort = request.query.get("sort", "created")
        key = {"created": "created_at", "updated": "updated_at", "published": "published_at"}[sort]
        reverse = request.query.get("direction", "desc") == "desc"
        items.sort(key=lambda a: (a[key] or "", a["ghsa_id"]), reverse=reverse)
        per_page = min(100, int(request.query.get("per_page", "30")))
        start = 0
        if "after" in request.query:
            start = int(base64.b64decode(request.query["after"]).decode())
        chunk = items[start : start + per_page]
        response = web.json_response(chunk)
        if start + per_page < len(items):
            cursor = base64.b64encode(str(start + per_page).encode()).decode()
            query = dict(request.query, after=cursor)
            response.headers["Link"] = f'<{request.url.with_query(query)}>; rel="next"'
        return response

    async def list_org_advisories(self, request: web.Request) -> web.Response:
        """`GET /orgs/{org}/security-advisories`: every repository of the organization,
        sorted, with cursor pagination (`after`/`before` in `Link`, never `page`).

        GitHub asks for an owner or security manager: the App installed on the
        organization passes; any other caller, a personal account or an
        organization in `org_list_refused` gets 404.
        """
        self._materialize_forks()
        self._assign_cves()
        org = request.match_info["org"]
        installation = self.installations.get(self._installation_of(request), {})
        account = installation.get("account") or {}
        if (
            str(account.get("login", "")).lower() != org.lower()
            or account.get("type") != "Organization"
            or org in self.org_list_refused
        ):
            return _error(404, "Not Found")
        items = [
            advisory
            for full_name, advisories in self.advisories.items()
            if full_name.split("/")[0].lower() == org.lower()
            for advisory in advisories.values()
        ]
        state = request.query.get("state")
        if state:
            items = [a for a in items if a["state"] == state]
        sort = request.query.get("sort", "created")
        field = {"created": "created_at", "updated": "updated_at", "published": "published_at"}
        key = field.get(sort, "created_at")
        reverse = request.query.get("direction", "desc") == "desc"
        items.sort(key=lambda a: (a[key] or "", a["ghsa_id"]), reverse=reverse)
        ordered = [(a[key] or "", a["ghsa_id"]) for a in items]
        per_page = max(1, min(100, int(request.query.get("per_page", "30"))))
        start, end = 0, len(items)
        cursor = request.query.get("after", request.query.get("before"))
        boundary = ("", "")
        if cursor is not None:
            try:
                boundary = _decode_cursor(cursor)
            except (ValueError, TypeError):  # not a cursor this list gave
                return _error(400, "Bad Request")
        if "after" in request.query:
            start = next(
                (i for i, k in enumerate(ordered) if (k < boundary if reverse else k > boundary)),
                len(items),
            )
            end = min(len(items), start + per_page)
        elif "before" in request.query:
            end = next(
                (i for i, k in enumerate(ordered) if (k <= boundary if reverse else k >= boundary)),
                len(items),
            )
            start = max(0, end - per_page)
        else:
            end = min(len(items), per_page)
        chunk = items[start:end]
        response = web.json_response(chunk)
        links = []
        base = {k: v for k, v in request.query.items() if k not in ("after", "before")}
        if end < len(items) and chunk:
            query = dict(base, after=_encode_cursor(ordered[end - 1]))
            links.append(f'<{request.url.with_query(query)}>; rel="next"')
        if start > 0 and chunk:
            query = dict(base, before=_encode_cursor(ordered[start]))
            links.append(f'<{request.url.with_query(query)}>; rel="prev"')
        if links:
            response.headers["Link"] = ", ".join(links)
        return response

    def _materialize_forks(self) -> None:
        for ready_at, advisory, fork in list(self.pending_forks):
            if self.clock() >= ready_at:
                self.pending_forks.remove((ready_at, advisory, fork))
                advisory["private_fork"] = fork
                advisory["updated_at"] = iso(self.clock())

    async def create_fork(self, request: web.Request) -> web.Response:
        found = self._advisory(request)
        if found is None:
            return _error(404, "Not Found")
        full_name, advisory = found
        owner, name = full_name.split("/")
        fork_name = f"{name[:80]}-{advisory['ghsa_id'].lower()}"
        fork = self.add_repository(f"{owner}/{fork_name}", private=True)
        fork.update(has_discussions=False, network_count=0, subscribers_count=0)
        self.pending_forks.append((self.clock() + self.fork_delay, advisory, fork))
        self._materialize_forks()
        return web.json_response(fork, status=202)

    def _assign_cves(self) -> None:
        for ready_at, advisory in list(self.pending_cves):
            if self.clock() >= ready_at:
                self.pending_cves.remove((ready_at, advisory))
                year = time.gmtime(self.clock()).tm_year
                cve_id = f"CVE-{year}-{next(self._cve_numbers)}"
                advisory["cve_id"] = cve_id
                advisory["identifiers"] = [
                    i for i in advisory["identifiers"] if i["type"] != "CVE"
                ] + [{"type": "CVE", "value": cve_id}]
                advisory["updated_at"] = iso(self.clock())

    async def request_cve(self, request: web.Request) -> web.Response:
        found = self._advisory(request)
        if found is None:
            return _error(404, "Not Found")
        full_name, advisory = found
        if self.cve_forbidden:
            return _error(403, "Resource not accessible by integration")
        if self.repos[full_name]["private"]:
            return _validation(
                "You may request a CVE for public repositories, but cannot do so for "
                "private repositories."
            )
        if advisory["cve_id"] or any(a is advisory for _, a in self.pending_cves):
            return _validation("A CVE has already been requested or assigned for this advisory.")
        self.pending_cves.append((self.clock() + self.cve_delay, advisory))
        self._assign_cves()
        return web.json_response({}, status=202)

    def _advisory(self, request: web.Request) -> tuple[str, dict[str, Any]] | None:
        self._materialize_forks()
        self._assign_cves()
        full_name = self._repo_or_404(request)
        if full_name is None:
            return None
        advisory = self.advisories.get(full_name, {}).get(request.match_info["ghsa_id"])
        return None if advisory is None else (full_name, advisory)

    async def report(self, request: web.Request) -> web.Response:
        full_name = self._repo_or_404(request)
        if full_name is None:
            return _error(404, "Not Found")
        body = request[JSON_BODY]
        advisory = self.new_advisory(
            full_name, summary=body["summary"], description=body["description"]
        )
        return web.json_response(advisory, status=201)

    async def create_advisory(self, request: web.Request) -> web.Response:
        """`POST /repos/{o}/{r}/security-advisories`: a draft, authored by the App's bot.

        The request was checked against `repository-advisory-create` (summary,
        description and vulnerabilities required; severity or a CVSS vector). A
        team from another organization is refused as a PATCH refuses it.
        """
        full_name = self._repo_or_404(request)
        if full_name is None:
            return _error(404, "Not Found")
        body: dict[str, Any] = request[JSON_BODY] or {}
        if body.get("severity") and body.get("cvss_vector_string"):
            return _validation("Cannot set both severity and cvss_vector_string.")
        advisory = self.new_advisory(
            full_name,
            summary=body["summary"],
            description=body["description"],
            reporter=f"{self.app.slug}[bot]",
            state="draft",
        )
        advisory["vulnerabilities"] = [
            {
                "package": dict(v["package"], name=v["package"].get("name")),
                "vulnerable_version_range": v.get("vulnerable_version_range"),
                "patched_versions": v.get("patched_versions"),
                "vulnerable_functions": list(v.get("vulnerable_functions") or []),
            }
            for v in body["vulnerabilities"]
        ]
        advisory["cwe_ids"] = list(body.get("cwe_ids") or [])
        advisory["severity"] = body.get("severity")
        advisory["cve_id"] = body.get("cve_id")
        if body.get("cvss_vector_string"):
            self._set_vector(advisory, body["cvss_vector_string"])
        for credit in body.get("credits") or []:
            advisory["credits"].append(dict(credit))
            advisory["credits_detailed"].append(
                {"user": self._user(credit["login"]), "type": credit["type"], "state": "pending"}
            )
        return web.json_response(advisory, status=201)

    def _foreign_teams(self, full_name: str, slugs: list[str]) -> list[str]:
        """The slugs that are not teams of the repository's organization.

        GitHub resolves `collaborating_teams` in the advisory's own organization:
        a team of another organization cannot collaborate. Checked only for the
        organizations a test lists in `org_teams`.
        """
        owner = full_name.split("/")[0]
        if owner not in self.org_teams:
            return []
        return [slug for slug in slugs if slug not in self.org_teams[owner]]

    async def get_advisory(self, request: web.Request) -> web.Response:
        found = self._advisory(request)
        if found is None:
            return _error(404, "Not Found")
        return web.json_response(found[1])

    async def patch_advisory(self, request: web.Request) -> web.Response:
        found = self._advisory(request)
        if found is None:
            return _error(404, "Not Found")
        full_name, advisory = found
        body: dict[str, Any] = request[JSON_BODY] or {}
        new_state = body.get("state")
        if new_state is not None and new_state != advisory["state"]:
            allowed = {
                "triage": {"draft", "closed"},
                "draft": {"published", "closed"},
                "closed": {"draft"},
                "published": set(),
                "withdrawn": set(),
            }[advisory["state"]]
            if new_state not in allowed:
                return _validation(
                    f"Invalid state transition from `{advisory['state']}` to `{new_state}`."
                )
        if "severity" in body and (advisory["cvss"] or body.get("cvss_vector_string")):
            return _validation("Cannot update severity value when CVSS is set.")
        for key in ("summary", "description", "cve_id", "severity", "cwe_ids", "vulnerabilities"):
            if key in body:
                advisory[key] = body[key]
        foreign = self._foreign_teams(full_name, list(body.get("collaborating_teams") or []))
        if foreign:
            return _validation(f"Team not found in this organization: {foreign[0]}")
        if "cvss_vector_string" in body:
            self._set_vector(advisory, body["cvss_vector_string"])
        if "credits" in body:
            before = {
                (c["user"]["login"], c["type"]): c["state"] for c in advisory["credits_detailed"]
            }
            advisory["credits"] = [dict(c) for c in body["credits"]]
            advisory["credits_detailed"] = [
                {
                    "user": self._user(c["login"]),
                    "type": c["type"],
                    "state": before.get((c["login"], c["type"]), "pending"),
                }
                for c in body["credits"]
            ]
        if "collaborating_users" in body:
            advisory["collaborating_users"] = [self._user(u) for u in body["collaborating_users"]]
        if "collaborating_teams" in body:
            advisory["collaborating_teams"] = [self._team(t) for t in body["collaborating_teams"]]
        if new_state is not None and new_state != advisory["state"]:
            advisory["state"] = new_state
            stamp = iso(self.clock())
            if new_state == "published":
                advisory["published_at"] = stamp
            if new_state == "closed":
                advisory["closed_at"] = stamp
        advisory["updated_at"] = iso(self.clock())
        return web.json_response(advisory)

    def _set_vector(self, advisory: dict[str, Any], vector: str) -> None:
        score = cvss_score(vector)
        advisory["cvss"] = {"vector_string": vector, "score": score}
        version = "cvss_v4" if str(vector).startswith("CVSS:4") else "cvss_v3"
        advisory.setdefault("cvss_severities", {})[version] = {
            "vector_string": vector,
            "score": score,
        }

    def _team(self, slug: str) -> dict[str, Any]:
        team_id = abs(hash(slug)) % 1_000_000
        return {
            "id": team_id,
            "node_id": f"T_{team_id}",
            "url": f"https://api.github.com/teams/{team_id}",
            "html_url": f"https://github.com/orgs/octo-org/teams/{slug}",
            "name": slug,
            "slug": slug,
            "description": None,
            "privacy": "closed",
            "permission": "pull",
            "members_url": f"https://api.github.com/teams/{team_id}/members{{/member}}",
            "repositories_url": f"https://api.github.com/teams/{team_id}/repos",
            "parent": None,
            "type": "organization",
        }

    # -- advisory comments (public preview; no webhook) ----------------------------

    def add_advisory_comment(
        self, full_name: str, ghsa: str, login: str, body: str
    ) -> dict[str, Any]:
        comment_id = next(self._ids)
        now = iso(self.clock())
        comment = {
            "id": comment_id,
            "node_id": f"RAC_{comment_id}",
            "url": f"https://api.github.com/repos/{full_name}/security-advisories/{ghsa}/comments/{comment_id}",
            "html_url": f"https://github.com/{full_name}/security/advisories/{ghsa}#advisory-comment-{comment_id}",
            "body": body,
            "user": dict(self._user(login), type="Bot" if login.endswith("[bot]") else "User"),
            "created_at": now,
            "updated_at": now,
            "author_association": "NONE",
        }
        self.comments.setdefault((full_name, ghsa), []).append(comment)
        advisory = self.advisories.get(full_name, {}).get(ghsa)
        if advisory is not None:
            advisory["comments"] = advisory.get("comments", 0) + 1
            if self.comment_bumps_updated_at:
                advisory["updated_at"] = now
        return comment

    async def list_comments(self, request: web.Request) -> web.Response:
        found = self._advisory(request)
        if found is None:
            return _error(404, "Not Found")
        full_name, advisory = found
        items = self.comments.get((full_name, advisory["ghsa_id"]), [])
        since = request.query.get("since")
        if since:
            items = [c for c in items if c["updated_at"] >= since]
        return self._paged(request, items)

    async def add_comment(self, request: web.Request) -> web.Response:
        found = self._advisory(request)
        if found is None:
            return _error(404, "Not Found")
        full_name, advisory = found
        if len(request[JSON_BODY]["body"]) > COMMENT_BODY_LIMIT:
            return _body_too_long()
        login = f"{self.app.slug}[bot]"
        comment = self.add_advisory_comment(
            full_name, advisory["ghsa_id"], login, request[JSON_BODY]["body"]
        )
        return web.json_response(comment, status=201)

    def _comment(self, request: web.Request) -> dict[str, Any] | None:
        found = self._advisory(request)
        if found is None:
            return None
        full_name, advisory = found
        wanted = int(request.match_info["comment_id"])
        return next(
            (
                c
                for c in self.comments.get((full_name, advisory["ghsa_id"]), [])
                if c["id"] == wanted
            ),
            None,
        )

    async def get_comment(self, request: web.Request) -> web.Response:
        comment = self._comment(request)
        return web.json_response(comment) if comment else _error(404, "Not Found")

    async def edit_comment(self, request: web.Request) -> web.Response:
        comment = self._comment(request)
        if comment is None:
            return _error(404, "Not Found")
        if len(request[JSON_BODY]["body"]) > COMMENT_BODY_LIMIT:
            return _body_too_long()
        comment["body"] = request[JSON_BODY]["body"]
        comment["updated_at"] = iso(self.clock())
        return web.json_response(comment)

    # -- permissions and contents --------------------------------------------------

    async def team_membership(self, request: web.Request) -> web.Response:
        members = self.team_members.get(
            (request.match_info["org"], request.match_info["team_slug"]), {}
        )
        user = request.match_info["username"]
        if user not in members:
            return _error(404, "Not Found")
        org, slug = request.match_info["org"], request.match_info["team_slug"]
        return web.json_response(
            {
                "url": f"https://api.github.com/orgs/{org}/teams/{slug}/memberships/{user}",
                "role": "member",
                "state": members[user],
            }
        )

    def add_review(self, full_name: str, number: int, login: str, state: str) -> None:
        self.reviews.setdefault((full_name, number), []).append(
            {"id": next(self._ids), "user": self._user(login), "state": state, "body": ""}
        )

    async def list_reviews(self, request: web.Request) -> web.Response:
        key = (
            f"{request.match_info['owner']}/{request.match_info['repo']}",
            int(request.match_info["pull_number"]),
        )
        return self._paged(request, self.reviews.get(key, []))

    async def list_team_members(self, request: web.Request) -> web.Response:
        key = (request.match_info["org"], request.match_info["team_slug"])
        members = [
            login for login, state in self.team_members.get(key, {}).items() if state == "active"
        ]
        return self._paged(request, [self._user(login) for login in members])

    async def collaborator_permission(self, request: web.Request) -> web.Response:
        full_name = f"{request.match_info['owner']}/{request.match_info['repo']}"
        user = request.match_info["username"]
        permission = self.collaborators.get((full_name, user), "none")
        return web.json_response(
            {"permission": permission, "role_name": permission, "user": self._collaborator(user)}
        )

    def _collaborator(self, login: str) -> dict[str, Any]:
        user = self._user(login)
        user["permissions"] = {"pull": True, "push": False, "admin": False}
        user["role_name"] = "read"
        return user

    async def get_user(self, request: web.Request) -> web.Response:
        """A public profile, shaped as the description's own example (public-user)."""
        login = request.match_info["username"]
        if login in self.no_profile:
            return _error(404, "Not Found")
        spec = json.loads((self.fixtures / USERS_SPEC).read_text())
        example = spec["components"]["examples"]["public-user-default-response"]["value"]
        user = {**example, **self._user(login)}
        for key in ("company", "blog", "location", "email", "bio", "twitter_username"):
            user[key] = None
        api = f"https://api.github.com/users/{login}"
        user.update(
            name=self.profile_names.get(login),
            url=api,
            html_url=f"https://github.com/{login}",
            followers_url=f"{api}/followers",
            repos_url=f"{api}/repos",
            organizations_url=f"{api}/orgs",
            subscriptions_url=f"{api}/subscriptions",
            received_events_url=f"{api}/received_events",
            user_view_type="public",
        )
        return web.json_response(user)

    async def get_content(self, request: web.Request) -> web.Response:
        full_name = f"{request.match_info['owner']}/{request.match_info['repo']}"
        path = request.match_info["path"]
        data = self.contents.get((full_name, path))
        if data is None:
            return _error(404, "Not Found")
        return web.json_response(
            {
                "type": "file",
                "encoding": "base64",
                "content": base64.encodebytes(data).decode(),
                "name": path.rsplit("/", 1)[-1],
                "path": path,
                "sha": hashlib.sha1(data).hexdigest(),
                "size": len(data),
            }
        )


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": str(status),
        },
        status=status,
    )


# GitHub refuses a comment body longer than this (422, "body is too long").
COMMENT_BODY_LIMIT = 65_536


def _body_too_long() -> web.Response:
    return web.json_response(
        {
            "message": "Validation Failed",
            "errors": [
                {
                    "resource": "RepositoryAdvisoryComment",
                    "code": "custom",
                    "field": "body",
                    "message": f"body is too long (maximum is {COMMENT_BODY_LIMIT} characters)",
                }
            ],
            "documentation_url": "https://docs.github.com/rest",
        },
        status=422,
    )


def _validation(message: str) -> web.Response:
    return web.json_response(
        {"message": message, "documentation_url": "https://docs.github.com/rest"}, status=422
    )


def _encode_cursor(position: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, str]:
    value, ghsa_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    return str(value), str(ghsa_id)


def _page_args(request: web.Request) -> tuple[int, int]:
    page = max(1, int(request.query.get("page", "1")))
    per_page = max(1, min(100, int(request.query.get("per_page", "30"))))
    return page, per_page


def _link_pages(
    request: web.Request, response: web.Response, page: int, per_page: int, total: int
) -> None:
    if page * per_page < total:
        query = dict(request.query, page=str(page + 1))
        response.headers["Link"] = f'<{request.url.with_query(query)}>; rel="next"'


def cvss_score(vector: str | None) -> float | None:
    """The base score GitHub shows for a vector (computed with RedHat's `cvss`)."""
    if not vector:
        return None
    try:
        if vector.startswith("CVSS:4"):
            return float(CVSS4(vector).base_score)
        return float(CVSS3(vector).scores()[0])
    except Exception:  # an invalid vector: GitHub would have refused it
        return None
