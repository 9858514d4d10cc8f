"""Sign in with GitHub (the App's OAuth web flow), for the ballot page.

`GET /auth/login?next=PATH` sends the browser to GitHub's authorize page with a
random `state`, kept in a signed, short-lived cookie; `GET /auth/callback`
checks the state (constant time), exchanges the code for a user access token
(`POST {web}/login/oauth/access_token` with the App's client id and secret),
asks `GET /user` who it is, forgets the token and starts a session on the
server (bot/web/sessions.py). The session cookie is signed, HttpOnly,
SameSite=Lax, `Secure` when `BOT_PUBLIC_URL` is https, and holds only the
random session id; `GET /auth/logout` deletes the session on the server, so a
copied cookie stops working. No token is stored anywhere.

What the routes answer:

- Without `GITHUB_CLIENT_ID`, `GITHUB_CLIENT_SECRET` and `BOT_PUBLIC_URL`:
  503, a page naming what to set (fail closed). The OAuth redirect URI is
  built from `BOT_PUBLIC_URL` only, never from the request's `Host`.
- `/auth/login`: 302 to GitHub.
- `/auth/callback`: 302 to the page the sign-in started from; 400 for a
  malformed cookie, state or code, a state this browser was not given, or a
  code GitHub refuses; 502 when GitHub cannot be asked; 503 when the store is
  unavailable.
- `/auth/logout`: 302 to `/`, the session revoked and its cookie deleted.

Every answer is `Cache-Control: no-store` (bot/web/hardening.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from html import escape
from typing import Protocol
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from bot.app import SERVICES
from bot.core.logs import fields
from bot.core.settings import Settings
from bot.queue.store import Store, StoreUnavailable
from bot.web.sessions import WebSessions

log = logging.getLogger("ghsa_bot.signin")


class SignInDoors(Protocol):
    """What sign-in uses of the running bot: its settings, the store (sessions), HTTP."""

    settings: Settings
    store: Store
    session: aiohttp.ClientSession


SESSION_COOKIE = "ghsa_bot_session"
STATE_COOKIE = "ghsa_bot_oauth"
SESSION_SECONDS = 8 * 3600  # GitHub's user access tokens last 8 hours too
STATE_SECONDS = 600
LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
# What the bot's signed cookies look like: base64url JSON, a dot, an HMAC-SHA256 in hex.
SEALED = re.compile(r"[A-Za-z0-9_=-]{1,2048}\.[0-9a-f]{64}")
# What GitHub's OAuth codes and the bot's states look like.
OAUTH_VALUE = re.compile(r"[A-Za-z0-9_.-]{1,256}")
SAFE_NEXT = re.compile(r"/(?![/\\])[A-Za-z0-9/_.~%?=&+-]{0,500}")
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#1f2328}table{border-collapse:collapse}th,td{text-align:left;"
    "padding:.3rem .6rem;border-bottom:1px solid #d0d7de}button{font-size:1rem;padding:.4rem 1rem}"
)


def _document(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(text=_document(title, body), content_type="text/html", status=status)


def bad_request(body: str, *, clear: str | None = None) -> web.HTTPBadRequest:
    """A 400 page to raise; `clear` names a cookie to delete with it."""
    error = web.HTTPBadRequest(text=_document("Bad request", body), content_type="text/html")
    if clear is not None:
        error.del_cookie(clear, path="/")
    return error


def session_key(services: SignInDoors) -> bytes | None:
    secret = services.settings.client_secret
    if not secret or not services.settings.client_id:
        return None
    return hmac.new(secret.encode(), b"ghsa-bot session v1", hashlib.sha256).digest()


def missing_settings(services: SignInDoors) -> list[str]:
    """What sign-in needs and is not set (empty when sign-in works)."""
    settings = services.settings
    names = [("GITHUB_CLIENT_ID", settings.client_id)]
    names += [("GITHUB_CLIENT_SECRET", settings.client_secret)]
    names += [("BOT_PUBLIC_URL", settings.public_url)]
    return [name for name, value in names if not value]


def _bytes(value: str) -> bytes:
    """Any str as bytes, for `hmac.compare_digest` (which refuses non-ASCII str)."""
    return value.encode("utf-8", "surrogatepass")


def _sign(key: bytes, value: str) -> str:
    return hmac.new(key, _bytes(value), hashlib.sha256).hexdigest()


def _sealed(key: bytes, data: dict[str, object]) -> str:
    encoded = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
    return f"{encoded}.{_sign(key, encoded)}"


def _opened(key: bytes, name: str, cookie: str | None, now: float) -> dict[str, object] | None:
    """The data of a valid, unexpired cookie; None when absent, forged or expired.

    A cookie that cannot be one of ours (non-ASCII, wrong shape) is a 400 that
    also deletes it, so the browser recovers by signing in again.
    """
    if not cookie:
        return None
    if not cookie.isascii() or not SEALED.fullmatch(cookie):
        raise bad_request(
            "<p>Your browser sent a malformed cookie; it has been removed. "
            '<a href="/auth/login">Sign in again</a>.</p>',
            clear=name,
        )
    encoded, signature = cookie.rsplit(".", 1)
    if not hmac.compare_digest(_bytes(signature), _bytes(_sign(key, encoded))):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(encoded.encode()))
        expires = float(data.get("exp", 0)) if isinstance(data, dict) else 0.0
    except (ValueError, TypeError, binascii.Error):
        return None
    if not isinstance(data, dict) or expires < now:
        return None
    return data


def _session_id(request: web.Request, key: bytes) -> str | None:
    data = _opened(key, SESSION_COOKIE, request.cookies.get(SESSION_COOKIE), time.time())
    session_id = data.get("sid") if data else None
    return session_id if isinstance(session_id, str) else None


async def signed_in_as(request: web.Request) -> str | None:
    """The login of a live session (checked in the store on every request), or None.

    Raises a 400 page for a malformed cookie, StoreUnavailable when the store fails.
    """
    services: SignInDoors = request.app[SERVICES]
    key = session_key(services)
    if key is None or missing_settings(services):
        return None
    session_id = _session_id(request, key)
    if session_id is None:
        return None
    sessions = WebSessions(services.store.database)
    login = await sessions.login_of(session_id, now=time.time())
    return login if login is not None and LOGIN.fullmatch(login) else None


def form_token(request: web.Request, purpose: str) -> str:
    """A token tying a form to this session (checked on POST, beside SameSite cookies)."""
    services: SignInDoors = request.app[SERVICES]
    key = session_key(services) or b""
    return _sign(key, f"{request.cookies.get(SESSION_COOKIE, '')}|{purpose}")


def form_token_ok(request: web.Request, purpose: str, token: str) -> bool:
    return hmac.compare_digest(_bytes(token), _bytes(form_token(request, purpose)))


def _base_url(services: SignInDoors) -> str:
    """Where the bot is reached: `BOT_PUBLIC_URL` only (sign-in refuses without it)."""
    assert services.settings.public_url is not None
    return services.settings.public_url


def _safe_next(value: str | None) -> str:
    """A path on this site to return to; anything else (another site, `//x`, `/\\x`) is `/`."""
    return value if value and SAFE_NEXT.fullmatch(value) else "/"


def not_configured(services: SignInDoors) -> web.Response:
    missing = missing_settings(services)
    names = " and ".join(f"<code>{escape(name)}</code>" for name in missing)
    return page(
        "Sign-in is not configured",
        f"<p>Signing in with GitHub needs {names}: the App's <code>GITHUB_CLIENT_ID</code> "
        "and <code>GITHUB_CLIENT_SECRET</code> (the setup flow writes both) and "
        "<code>BOT_PUBLIC_URL</code>, the address people reach the bot at (GitHub sends "
        "them back to <code>BOT_PUBLIC_URL/auth/callback</code>). Ask an admin.</p>",
        503,
    )


async def login(request: web.Request) -> web.Response:
    """302 to GitHub's authorize page; 503 when sign-in is not configured."""
    services: SignInDoors = request.app[SERVICES]
    key = session_key(services)
    if key is None or missing_settings(services):
        return not_configured(services)
    state = secrets.token_urlsafe(24)
    target = _safe_next(request.query.get("next"))
    query = urlencode(
        {
            "client_id": services.settings.client_id,
            "redirect_uri": f"{_base_url(services)}/auth/callback",
            "state": state,
        }
    )
    response = web.HTTPFound(f"{services.settings.web_url}/login/oauth/authorize?{query}")
    sealed = _sealed(key, {"state": state, "next": target, "exp": time.time() + STATE_SECONDS})
    _set_cookie(response, services, STATE_COOKIE, sealed, STATE_SECONDS)
    raise response


def _set_cookie(
    response: web.StreamResponse, services: SignInDoors, name: str, value: str, max_age: int
) -> None:
    secure = _base_url(services).startswith("https://")
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="Lax", secure=secure, path="/"
    )


class SignInRefused(Exception):
    """GitHub refused the code or the user: the sign-in fails with 400."""


async def callback(request: web.Request) -> web.Response:
    """GitHub's redirect back: check the state, learn the login, start a session."""
    services: SignInDoors = request.app[SERVICES]
    key = session_key(services)
    if key is None or missing_settings(services):
        return not_configured(services)
    pending = _opened(key, STATE_COOKIE, request.cookies.get(STATE_COOKIE), time.time())
    state = request.query.get("state", "")
    expected = str(pending.get("state", "")) if pending is not None else ""
    if not expected or not hmac.compare_digest(_bytes(state), _bytes(expected)):
        return page(
            "Sign-in failed",
            "<p>The sign-in expired or did not start here. "
            '<a href="/auth/login">Try again</a>.</p>',
            400,
        )
    code = request.query.get("code", "")
    if not OAUTH_VALUE.fullmatch(code):
        return page("Sign-in failed", "<p>GitHub did not say who you are.</p>", 400)
    try:
        login_name = await _who(services, code, f"{_base_url(services)}/auth/callback")
    except SignInRefused as error:
        return page("Sign-in failed", f"<p>{escape(str(error))}</p>", 400)
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        log.warning("sign-in failed", extra=fields(error=type(error).__name__))
        return page("Sign-in failed", "<p>GitHub could not be asked; try again shortly.</p>", 502)
    try:
        session_id = await WebSessions(services.store.database).create(
            login_name, now=time.time(), seconds=SESSION_SECONDS
        )
    except StoreUnavailable:
        return page("Try again shortly", "<p>The store is unavailable.</p>", 503)
    assert pending is not None
    response = web.HTTPFound(_safe_next(str(pending.get("next", "/"))))
    session = _sealed(key, {"sid": session_id, "exp": time.time() + SESSION_SECONDS})
    _set_cookie(response, services, SESSION_COOKIE, session, SESSION_SECONDS)
    response.del_cookie(STATE_COOKIE, path="/")
    raise response


class RedirectRefused(ValueError):
    """GitHub answered a sign-in request with a redirect, which is never followed:
    the client secret and the user's token go to GITHUB_WEB_URL and GITHUB_API_URL
    only (a 307 would send the secret again, to wherever it points). A 502."""


def _refuse_redirect(status: int, step: str) -> None:
    if 300 <= status < 400:
        log.warning("sign-in refused a redirect", extra=fields(status=status, step=step))
        raise RedirectRefused(f"GitHub answered {status} (a redirect) to {step}")


async def _who(services: SignInDoors, code: str, redirect_uri: str) -> str:
    """Exchange the code for a user token, ask GitHub whose it is, and drop the token.

    Redirects are not followed (RedirectRefused): the request carries the client
    secret, the next one the user's token.
    """
    settings = services.settings
    session = services.session
    async with session.post(
        f"{settings.web_url}/login/oauth/access_token",
        json={
            "client_id": settings.client_id,
            "client_secret": settings.client_secret,
            "code": code,
            "redirect_uri": redirect_uri,
        },
        headers={"Accept": "application/json"},
        allow_redirects=False,
    ) as response:
        _refuse_redirect(response.status, "the code exchange")
        if response.status >= 500:
            raise ValueError(f"GitHub answered {response.status}")
        answer = await response.json(content_type=None)
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        error = answer.get("error_description") if isinstance(answer, dict) else None
        raise SignInRefused(f"GitHub refused the sign-in: {error or 'no token'}")
    async with session.get(
        f"{settings.api_url}/user",
        headers={"Authorization": f"Bearer {token}", "X-GitHub-Api-Version": "2022-11-28"},
        allow_redirects=False,
    ) as response:
        _refuse_redirect(response.status, "GET /user")
        if response.status != 200:
            raise ValueError(f"GitHub answered {response.status} for the signed-in user")
        user = await response.json()
    login_name = user.get("login") if isinstance(user, dict) else None
    if not isinstance(login_name, str) or not LOGIN.fullmatch(login_name):
        raise ValueError("GitHub sent no login")
    return login_name


async def logout(request: web.Request) -> web.Response:
    """Revoke the session on the server and delete the cookie; 302 to `/`."""
    services: SignInDoors = request.app[SERVICES]
    key = session_key(services)
    response = web.HTTPFound("/")
    response.del_cookie(SESSION_COOKIE, path="/")
    if key is not None:
        try:
            session_id = _session_id(request, key)
        except web.HTTPBadRequest:
            session_id = None  # a malformed cookie: deleting it is all there is to do
        if session_id is not None:
            try:
                await WebSessions(services.store.database).revoke(session_id)
            except StoreUnavailable:
                return page(
                    "Try again shortly",
                    "<p>The store is unavailable; you are "
                    "still signed in on the server. Try again.</p>",
                    503,
                )
    raise response


def add_signin_routes(app: web.Application) -> None:
    app.router.add_get("/auth/login", login)
    app.router.add_get("/auth/callback", callback)
    app.router.add_get("/auth/logout", logout)
