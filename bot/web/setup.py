"""Setup mode: register the GitHub App from a manifest, as Probot does.

With no App credentials, `serve` starts this app instead, on loopback unless
`BOT_HOST` is set, and prints a one-time link with a secret token on the
console. `GET /setup?token=T` (the printed link, usable once) sets an
HttpOnly, SameSite=Lax cookie naming this browser (a random id signed with a
key made at start) and redirects to `/setup`, which shows a "Register GitHub
App" button that posts the manifest to GitHub (a personal account or an
organization). GitHub redirects to `/setup/callback` with a code and the
manifest's `state`, which must have been given to the same browser; the code
is exchanged for the App's credentials, they are written to `.env` (mode
0600) and the user is told to restart.

What the routes answer:

- `/setup`, `/setup/callback` without the browser's cookie, or with a wrong or
  spent token: 403, a page saying to use the link printed on the console. A
  malformed cookie: 400.
- `/setup/callback`: 400 for a missing or malformed code or a state not given
  to this browser; 409 once an App is registered, or when `.env` already holds
  a GitHub App credential (the web never rewrites them, and writes `.env` at
  most once per process); 400 when GitHub refuses the code; 502 when GitHub
  cannot be asked.
- `POST /webhook`: 503, nothing is accepted before the App exists.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import re
import secrets
import time
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import web

from bot.core.env_file import SettingsError, env_credentials, write_env_file
from bot.core.settings import Settings
from bot.web.hardening import content_security_policy, harden

log = logging.getLogger("ghsa_bot.setup")

SETUP: web.AppKey[SetupState] = web.AppKey("setup")

# What the bot needs, and why (docs/operating.md, "What the App needs").
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
SETUP_COOKIE = "ghsa_bot_setup"
BROWSER_COOKIE = re.compile(r"[A-Za-z0-9_-]{24}\.[0-9a-f]{64}")
MANIFEST_CODE = re.compile(r"[A-Za-z0-9_-]{1,100}")
HOST = re.compile(r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")
ORGANIZATION = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
class SetupState:
    """Setup mode's secrets and progress, for one process.

    `token` is printed on the console and spent when a browser uses it; that
    browser gets a random id in a cookie signed with `key` (made at start, never
    stored), and the manifest states it is given are good for it only.
    """

    def __init__(
        self, settings: Settings, session: aiohttp.ClientSession, token: str, key: bytes
    ) -> None:
        self.settings = settings
        self.session = session
        self.token: str | None = token
        self.key = key
        self.states: dict[str, tuple[str, float]] = {}
        self.registered: str | None = None
        self.busy = False  # a callback is talking to GitHub
        self.env_written = False

    def use_token(self, given: str) -> bool:
        """True (once) for the printed token, compared in constant time."""
        token = self.token
        expected = token.encode() if token is not None else secrets.token_bytes(32)
        matched = hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected)
        if matched and token is not None:
            self.token = None
            return True
        return False

    def browser_cookie(self, browser: str) -> str:
        return f"{browser}.{self._sign(browser)}"

    def browser_of(self, cookie: str | None) -> str | None:
        """The browser id in a valid setup cookie; None when absent or forged.

        A cookie that cannot be one of ours is a 400 that deletes it.
        """
        if not cookie:
            return None
        if not cookie.isascii() or not BROWSER_COOKIE.fullmatch(cookie):
            error = web.HTTPBadRequest(
                text=_document(
                    "Bad request",
                    "<p>Your browser sent a malformed setup cookie; it has been removed. "
                    "Open the setup link printed on the console again.</p>",
                ),
                content_type="text/html",
            )
            error.del_cookie(SETUP_COOKIE, path="/setup")
            raise error
        browser, signature = cookie.split(".", 1)
        if not hmac.compare_digest(signature.encode(), self._sign(browser).encode()):
            return None
        return browser

    def _sign(self, browser: str) -> str:
        return hmac.new(self.key, browser.encode(), hashlib.sha256).hexdigest()

    def new_state(self, browser: str) -> str:
        now = time.monotonic()
        self.states = {s: v for s, v in self.states.items() if now - v[1] < STATE_LIFETIME}
        state = secrets.token_urlsafe(24)
        self.states[state] = (browser, now)
        return state

    def take_state(self, state: str, browser: str) -> bool:
        """True when `state` was given to `browser` within the hour (each state once)."""
        issued = self.states.get(state)
        if issued is None or not hmac.compare_digest(issued[0].encode(), browser.encode()):
            return False
        del self.states[state]
        return time.monotonic() - issued[1] < STATE_LIFETIME


def listen_host(settings: Settings) -> str:
    """Setup mode listens on loopback unless `BOT_HOST` says otherwise."""
    return settings.host if settings.host_configured else "127.0.0.1"


def setup_link(settings: Settings, host: str, port: int, token: str) -> str:
    """The link printed on the console: `BOT_PUBLIC_URL` (or the listening address) + token."""
    if settings.public_url:
        base = settings.public_url
    else:
        shown = "127.0.0.1" if host in {"", "0.0.0.0", "::"} else host  # noqa: S104
        base = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    return f"{base}/setup?{urlencode({'token': token})}"


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


def _document(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;"
        "padding:0 1rem}button{font-size:1rem;padding:.5rem 1rem}code{background:#eee;"
        "padding:0 .2rem}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(text=_document(title, body), content_type="text/html", status=status)


def _forbidden() -> web.Response:
    return _page(
        "Use the setup link",
        "<p>Only the person who started ghsa-bot may register its GitHub App. Open the setup "
        "link printed on the console where <code>ghsa-bot serve</code> runs (it carries a "
        "secret token, good once); restart it for a new link.</p>",
        403,
    )


def _public_url(request: web.Request, settings: Settings) -> str:
    """`BOT_PUBLIC_URL`, else the address the browser used (a host name or IP, and a port)."""
    if settings.public_url:
        return settings.public_url
    host = request.host
    if not (host.isascii() and HOST.fullmatch(host)):
        raise web.HTTPBadRequest(
            text=_document(
                "Bad request",
                "<p>The request's <code>Host</code> is not a host name; set "
                "<code>BOT_PUBLIC_URL</code> to the address GitHub reaches the bot at.</p>",
            ),
            content_type="text/html",
        )
    return f"{request.scheme}://{host}"


def _browser(request: web.Request) -> str | None:
    """The browser that used the setup link, from its cookie (400 when malformed)."""
    return request.app[SETUP].browser_of(request.cookies.get(SETUP_COOKIE))


async def setup_page(request: web.Request) -> web.Response:
    """The token link sets the browser cookie (303 to `/setup`); then the manifest form."""
    setup = request.app[SETUP]
    org = request.query.get("org", "").strip()
    if org and not (org.isascii() and ORGANIZATION.fullmatch(org)):
        return _page("Register ghsa-bot", "<p>That is not an organization name.</p>", 400)
    token = request.query.get("token")
    if token is not None:
        secure = _public_url(request, setup.settings).startswith("https://")  # may be a 400
        if not setup.use_token(token):
            return _forbidden()
        redirect = web.HTTPSeeOther("/setup" + (f"?{urlencode({'org': org})}" if org else ""))
        redirect.set_cookie(
            SETUP_COOKIE,
            setup.browser_cookie(secrets.token_urlsafe(18)),
            httponly=True,
            samesite="Lax",
            secure=secure,
            path="/setup",
        )
        raise redirect
    browser = _browser(request)
    if browser is None:
        return _forbidden()
    if setup.registered:
        return _registered_page(setup.registered)
    public_url = _public_url(request, setup.settings)
    state = setup.new_state(browser)
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
    response = _page("Register ghsa-bot", body)
    # The one page whose form leaves the bot: the manifest goes to GitHub.
    response.headers["Content-Security-Policy"] = content_security_policy(web_url)
    return response


def _registered_page(name: str) -> web.Response:
    body = (
        f"<p id=done>The GitHub App <b>{html.escape(name)}</b> is registered and its "
        "credentials are saved in <code>.env</code> (readable only by you).</p>"
        "<p>Restart the bot (<code>ghsa-bot serve</code>) to start serving webhooks, "
        "then install the App on the repositories that take private vulnerability reports.</p>"
    )
    return _page("ghsa-bot is registered", body)


def _refused_write(reason: str) -> web.Response:
    return _page(
        "Nothing was changed",
        f"<p id=refused>{reason} The web never rewrites the App's credentials; edit "
        "<code>.env</code> by hand, or remove its GitHub App lines and restart setup mode.</p>",
        409,
    )


async def setup_callback(request: web.Request) -> web.Response:
    """GitHub's redirect after the manifest form: exchange the code, write `.env` once."""
    setup = request.app[SETUP]
    browser = _browser(request)
    if browser is None:
        return _forbidden()
    if setup.registered or setup.env_written or setup.busy:
        return _refused_write("A GitHub App is already registered by this process.")
    code = request.query.get("code", "")
    state = request.query.get("state", "")
    if not (code.isascii() and MANIFEST_CODE.fullmatch(code)) or not setup.take_state(
        state, browser
    ):
        return _page(
            "Registration not finished",
            "<p>This link is missing its code, has expired or was not started in this browser. "
            '<a href="/setup">Start again</a>.</p>',
            400,
        )
    env_file = setup.settings.env_file
    try:
        held = env_credentials(env_file)
    except SettingsError as error:
        return _refused_write(f"{html.escape(str(error))}.")
    if held:
        return _refused_write(
            f"<code>{html.escape(str(env_file))}</code> already holds "
            f"{html.escape(', '.join(held))}."
        )
    setup.busy = True
    try:
        return await _convert_and_write(setup, code)
    finally:
        setup.busy = False


async def _convert_and_write(setup: SetupState, code: str) -> web.Response:
    url = f"{setup.settings.api_url}/app-manifests/{quote(code)}/conversions"
    headers = {"accept": "application/vnd.github+json", "x-github-api-version": "2022-11-28"}
    try:
        # No redirect is followed: the answer is written to `.env` as the App's
        # credentials, so it must come from GITHUB_API_URL itself.
        async with setup.session.post(url, headers=headers, allow_redirects=False) as response:
            status = response.status
            data = await response.json(content_type=None) if status == 201 else None
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        log.warning("manifest conversion failed", extra={"fields": {"error": type(error).__name__}})
        return _page("GitHub did not answer", "<p>Try again in a minute.</p>", 502)
    if 300 <= status < 400:
        log.warning("manifest conversion redirected", extra={"fields": {"status": status}})
        return _page(
            "GitHub did not register the App",
            f"<p>GitHub answered {status}, a redirect, which setup never follows: the "
            "App's credentials are taken from <code>GITHUB_API_URL</code> only. Check that "
            "setting; nothing was written.</p>",
            502,
        )
    if 400 <= status < 500:
        return _page(
            "GitHub refused the registration",
            f"<p>GitHub answered {status}: the code is wrong, used or over an hour old. "
            '<a href="/setup">Start again</a>.</p>',
            400,
        )
    keys = {
        "GITHUB_APP_ID": "id",
        "GITHUB_CLIENT_ID": "client_id",
        "GITHUB_CLIENT_SECRET": "client_secret",
        "GITHUB_PRIVATE_KEY": "pem",
        "GITHUB_WEBHOOK_SECRET": "webhook_secret",
    }
    if status != 201 or not isinstance(data, dict) or not all(data.get(k) for k in keys.values()):
        return _page(
            "GitHub did not register the App",
            f"<p>GitHub answered {status}. The code is valid for one hour; "
            '<a href="/setup">start again</a>.</p>',
            502,
        )
    values = {name: str(data[key]) for name, key in keys.items()}
    # Checked again just before writing (no await in between): the web writes `.env`
    # once per process, and never over credentials someone put there.
    if setup.env_written:
        return _refused_write("This process has already written <code>.env</code>.")
    try:
        held = env_credentials(setup.settings.env_file)
        if not held:
            write_env_file(setup.settings.env_file, values)
    except SettingsError as error:
        return _refused_write(f"{html.escape(str(error))}.")
    except OSError as error:
        log.warning("could not write .env", extra={"fields": {"error": type(error).__name__}})
        return _page(
            "The credentials could not be saved",
            f"<p>Writing <code>{html.escape(str(setup.settings.env_file))}</code> failed "
            f"({html.escape(error.strerror or type(error).__name__)}). GitHub has registered "
            "the App: open its settings on GitHub, generate a new private key and webhook "
            "secret, and put them in <code>.env</code> by hand.</p>",
            500,
        )
    if held:
        return _refused_write(f"<code>.env</code> already holds {html.escape(', '.join(held))}.")
    setup.env_written = True
    setup.registered = str(data.get("name") or data.get("slug") or data["id"])
    log.info("GitHub App registered", extra={"fields": {"app_id": data["id"]}})
    return _registered_page(setup.registered)


async def not_configured(request: web.Request) -> web.Response:
    """503: no delivery is accepted before the App exists."""
    return web.json_response(
        {"error": "ghsa-bot is in setup mode; open the setup link printed on the console"},
        status=503,
    )


async def to_setup(request: web.Request) -> web.Response:
    raise web.HTTPFound("/setup")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "mode": "setup"})


def create_setup_app(settings: Settings, token: str) -> web.Application:
    """The setup app; `token` is the secret of the link printed on the console."""
    app = web.Application()
    key = secrets.token_bytes(32)  # signs browser cookies; dies with the process

    async def session_context(app: web.Application) -> Any:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            app[SETUP] = SetupState(settings, session, token, key)
            yield

    harden(app)
    app.cleanup_ctx.append(session_context)
    app.router.add_get("/", to_setup)
    app.router.add_get("/setup", setup_page)
    app.router.add_get("/setup/callback", setup_callback)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/webhook", not_configured)
    return app
