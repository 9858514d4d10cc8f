"""Setup mode: register the GitHub App from a manifest, as Probot does.

With no App credentials, `serve` starts this app instead. `GET /setup` shows
a "Register GitHub App" button that posts the manifest to GitHub (a personal
account or an organization); GitHub redirects to `/setup/callback` with a
code, which is exchanged for the App's credentials; they are written to `.env`
(mode 0600) and the user is told to restart.
"""

from __future__ import annotations

import html
import json
import logging
import secrets
import time
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from bot.settings import Settings, write_env_file

log = logging.getLogger("ghsa_bot.setup")

SETUP: web.AppKey[SetupState] = web.AppKey("setup")

# What the bot needs, and why (README, "GitHub App permissions").
PERMISSIONS = {
    "repository_advisories": "write",  # read reports, add collaborators and credits, comment
    "members": "read",  # check team membership for commands
    "issues": "write",  # governance and reminder issues
    "pull_requests": "read",  # credit the authors of merged fixes
    "contents": "read",  # read CODEOWNERS and the team's files
    "metadata": "read",  # required by GitHub for every App
}
EVENTS = ["repository_advisory", "issue_comment", "issues", "pull_request"]
STATE_LIFETIME = 3600.0


class SetupState:
    def __init__(self, settings: Settings, session: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.session = session
        self.states: dict[str, float] = {}
        self.registered: str | None = None

    def new_state(self) -> str:
        now = time.monotonic()
        self.states = {s: t for s, t in self.states.items() if now - t < STATE_LIFETIME}
        state = secrets.token_urlsafe(24)
        self.states[state] = now
        return state

    def take_state(self, state: str) -> bool:
        created = self.states.pop(state, None)
        return created is not None and time.monotonic() - created < STATE_LIFETIME


def manifest(public_url: str, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "url": public_url,
        "description": "Runs the security-advisory workflow of a security response team.",
        "hook_attributes": {"url": f"{public_url}/webhook", "active": True},
        "redirect_url": f"{public_url}/setup/callback",
        "callback_urls": [f"{public_url}/auth/callback"],
        "public": False,
        "request_oauth_on_install": False,
        "default_permissions": PERMISSIONS,
        "default_events": EVENTS,
    }


def _page(title: str, body: str, status: int = 200) -> web.Response:
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;"
        "padding:0 1rem}button{font-size:1rem;padding:.5rem 1rem}code{background:#eee;"
        "padding:0 .2rem}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=document, content_type="text/html", status=status)


def _public_url(request: web.Request, settings: Settings) -> str:
    return settings.public_url or f"{request.scheme}://{request.host}"


async def setup_page(request: web.Request) -> web.Response:
    setup = request.app[SETUP]
    if setup.registered:
        return _registered_page(setup.registered)
    org = request.query.get("org", "").strip()
    if org and not all(ch.isalnum() or ch == "-" for ch in org):
        return _page("Register ghsa-bot", "<p>That is not an organization name.</p>", 400)
    public_url = _public_url(request, setup.settings)
    state = setup.new_state()
    web_url = setup.settings.web_url
    target = (
        f"{web_url}/organizations/{quote(org)}/settings/apps/new"
        if org
        else (f"{web_url}/settings/apps/new")
    )
    owner = f"the organization <b>{html.escape(org)}</b>" if org else "your personal account"
    name = f"ghsa-bot {org or 'personal'} {secrets.token_hex(2)}"
    document = json.dumps(manifest(public_url, name))
    body = (
        "<p>No GitHub App credentials are configured, so ghsa-bot is in setup mode.</p>"
        f"<p>Register a new GitHub App for {owner}. GitHub will show you the permissions "
        "and come back here; webhooks will go to "
        f"<code>{html.escape(public_url)}/webhook</code>.</p>"
        f'<form method="post" action="{html.escape(target)}?state={quote(state)}">'
        f'<input type="hidden" name="manifest" value="{html.escape(document)}">'
        '<button type="submit" id="register">Register GitHub App</button></form>'
        '<h2>For an organization</h2><form method="get" action="/setup">'
        '<label>Organization <input name="org" id="org"></label> '
        '<button type="submit" id="use-org">Use this organization</button></form>'
    )
    return _page("Register ghsa-bot", body)


def _registered_page(name: str) -> web.Response:
    body = (
        f"<p id=done>The GitHub App <b>{html.escape(name)}</b> is registered and its "
        "credentials are saved in <code>.env</code> (readable only by you).</p>"
        "<p>Restart the bot (<code>ghsa-bot serve</code>) to start serving webhooks, "
        "then install the App on the repositories that take private vulnerability reports.</p>"
    )
    return _page("ghsa-bot is registered", body)


async def setup_callback(request: web.Request) -> web.Response:
    setup = request.app[SETUP]
    code = request.query.get("code", "")
    state = request.query.get("state", "")
    if not code or not setup.take_state(state):
        return _page(
            "Registration not finished",
            "<p>This link is missing its code or has expired. "
            '<a href="/setup">Start again</a>.</p>',
            400,
        )
    url = f"{setup.settings.api_url}/app-manifests/{quote(code)}/conversions"
    headers = {"accept": "application/vnd.github+json", "x-github-api-version": "2022-11-28"}
    try:
        async with setup.session.post(url, headers=headers) as response:
            status = response.status
            data = await response.json(content_type=None) if status == 201 else None
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        log.warning("manifest conversion failed", extra={"fields": {"error": type(error).__name__}})
        return _page("GitHub did not answer", "<p>Try again in a minute.</p>", 502)
    if status != 201 or not isinstance(data, dict):
        return _page(
            "GitHub refused the registration",
            f"<p>GitHub answered {status}. The code is valid for one hour; "
            '<a href="/setup">start again</a>.</p>',
            502,
        )
    values = {
        "GITHUB_APP_ID": str(data["id"]),
        "GITHUB_CLIENT_ID": str(data["client_id"]),
        "GITHUB_CLIENT_SECRET": str(data["client_secret"]),
        "GITHUB_PRIVATE_KEY": str(data["pem"]),
        "GITHUB_WEBHOOK_SECRET": str(data["webhook_secret"]),
    }
    write_env_file(setup.settings.env_file, values)
    setup.registered = str(data.get("name") or data.get("slug") or data["id"])
    log.info("GitHub App registered", extra={"fields": {"app_id": data["id"]}})
    return _registered_page(setup.registered)


async def not_configured(request: web.Request) -> web.Response:
    return web.json_response(
        {"error": "ghsa-bot is in setup mode; open /setup to register the GitHub App"}, status=503
    )


async def to_setup(request: web.Request) -> web.Response:
    raise web.HTTPFound("/setup")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "mode": "setup"})


def create_setup_app(settings: Settings) -> web.Application:
    app = web.Application()

    async def session_context(app: web.Application) -> Any:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            app[SETUP] = SetupState(settings, session)
            yield

    app.cleanup_ctx.append(session_context)
    app.router.add_get("/", to_setup)
    app.router.add_get("/setup", setup_page)
    app.router.add_get("/setup/callback", setup_callback)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/webhook", not_configured)
    return app
