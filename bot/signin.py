"""Sign in with GitHub (the App's OAuth web flow), for the ballot page.

`GET /auth/login?next=PATH` sends the browser to GitHub's authorize page with a
random `state`, kept in a signed, short-lived cookie; `GET /auth/callback`
checks the state (constant time), exchanges the code for a user access token
(`POST {web}/login/oauth/access_token` with the App's client id and secret),
asks `GET /user` who it is, forgets the token and sets a signed session cookie
holding only the login and an expiry. No token is stored anywhere.

Without `GITHUB_CLIENT_ID` and `GITHUB_CLIENT_SECRET` sign-in is refused with
a page that says what is missing (fail closed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from html import escape
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from bot.logs import fields
from bot.service import SERVICES, Services

log = logging.getLogger("ghsa_bot.signin")

SESSION_COOKIE = "ghsa_bot_session"
STATE_COOKIE = "ghsa_bot_oauth"
SESSION_SECONDS = 8 * 3600  # GitHub's user access tokens last 8 hours too
STATE_SECONDS = 600
LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#1f2328}table{border-collapse:collapse}th,td{text-align:left;"
    "padding:.3rem .6rem;border-bottom:1px solid #d0d7de}button{font-size:1rem;padding:.4rem 1rem}"
)


def page(title: str, body: str, status: int = 200) -> web.Response:
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=document, content_type="text/html", status=status)


def session_key(services: Services) -> bytes | None:
    secret = services.settings.client_secret
    if not secret or not services.settings.client_id:
        return None
    return hmac.new(secret.encode(), b"ghsa-bot session v1", hashlib.sha256).digest()


def _sign(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def _sealed(key: bytes, data: dict[str, object]) -> str:
    encoded = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
    return f"{encoded}.{_sign(key, encoded)}"


def _opened(key: bytes, cookie: str | None, now: float) -> dict[str, object] | None:
    if not cookie or "." not in cookie:
        return None
    encoded, signature = cookie.rsplit(".", 1)
    if not hmac.compare_digest(signature, _sign(key, encoded)):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(encoded.encode()))
    except ValueError:
        return None
    if not isinstance(data, dict) or float(data.get("exp", 0)) < now:
        return None
    return data


def signed_in_as(request: web.Request) -> str | None:
    """The login of a valid session, or None."""
    services: Services = request.app[SERVICES]
    key = session_key(services)
    if key is None:
        return None
    data = _opened(key, request.cookies.get(SESSION_COOKIE), time.time())
    login = data.get("login") if data else None
    return login if isinstance(login, str) and LOGIN.fullmatch(login) else None


def form_token(request: web.Request, purpose: str) -> str:
    """A token tying a form to this session (checked on POST, beside SameSite cookies)."""
    services: Services = request.app[SERVICES]
    key = session_key(services) or b""
    return _sign(key, f"{request.cookies.get(SESSION_COOKIE, '')}|{purpose}")


def form_token_ok(request: web.Request, purpose: str, token: str) -> bool:
    return hmac.compare_digest(token, form_token(request, purpose))


def _base_url(request: web.Request, services: Services) -> str:
    return services.settings.public_url or f"{request.scheme}://{request.host}"


def _safe_next(value: str | None) -> str:
    return value if value and value.startswith("/") and not value.startswith("//") else "/"


def not_configured() -> web.Response:
    return page(
        "Sign-in is not configured",
        "<p>Signing in with GitHub needs the App's <code>GITHUB_CLIENT_ID</code> and "
        "<code>GITHUB_CLIENT_SECRET</code> (the setup flow writes both). Ask an admin.</p>",
        503,
    )


async def login(request: web.Request) -> web.Response:
    services: Services = request.app[SERVICES]
    key = session_key(services)
    if key is None:
        return not_configured()
    state = secrets.token_urlsafe(24)
    target = _safe_next(request.query.get("next"))
    query = urlencode(
        {
            "client_id": services.settings.client_id,
            "redirect_uri": f"{_base_url(request, services)}/auth/callback",
            "state": state,
        }
    )
    response = web.HTTPFound(f"{services.settings.web_url}/login/oauth/authorize?{query}")
    sealed = _sealed(key, {"state": state, "next": target, "exp": time.time() + STATE_SECONDS})
    _set_cookie(response, request, services, STATE_COOKIE, sealed, STATE_SECONDS)
    raise response


def _set_cookie(
    response: web.StreamResponse,
    request: web.Request,
    services: Services,
    name: str,
    value: str,
    max_age: int,
) -> None:
    secure = _base_url(request, services).startswith("https://")
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="Lax", secure=secure, path="/"
    )


async def callback(request: web.Request) -> web.Response:
    services: Services = request.app[SERVICES]
    key = session_key(services)
    if key is None:
        return not_configured()
    pending = _opened(key, request.cookies.get(STATE_COOKIE), time.time())
    state = request.query.get("state", "")
    if pending is None or not hmac.compare_digest(str(pending.get("state", "")), state):
        return page(
            "Sign-in failed",
            "<p>The sign-in expired or did not start here. "
            '<a href="/auth/login">Try again</a>.</p>',
            400,
        )
    code = request.query.get("code")
    if not code:
        return page("Sign-in failed", "<p>GitHub did not say who you are.</p>", 400)
    try:
        login_name = await _who(services, code, f"{_base_url(request, services)}/auth/callback")
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        log.warning("sign-in failed", extra=fields(error=type(error).__name__))
        return page("Sign-in failed", f"<p>{escape(str(error))}</p>", 502)
    response = web.HTTPFound(_safe_next(str(pending.get("next", "/"))))
    session = _sealed(key, {"login": login_name, "exp": time.time() + SESSION_SECONDS})
    _set_cookie(response, request, services, SESSION_COOKIE, session, SESSION_SECONDS)
    response.del_cookie(STATE_COOKIE, path="/")
    raise response


async def _who(services: Services, code: str, redirect_uri: str) -> str:
    """Exchange the code for a user token, ask GitHub whose it is, and drop the token."""
    settings = services.settings
    session = services.session
    assert session is not None
    async with session.post(
        f"{settings.web_url}/login/oauth/access_token",
        json={
            "client_id": settings.client_id,
            "client_secret": settings.client_secret,
            "code": code,
            "redirect_uri": redirect_uri,
        },
        headers={"Accept": "application/json"},
    ) as response:
        answer = await response.json(content_type=None)
    if not isinstance(answer, dict) or "access_token" not in answer:
        error = answer.get("error_description") if isinstance(answer, dict) else None
        raise ValueError(f"GitHub refused the sign-in: {error or 'no token'}")
    async with session.get(
        f"{settings.api_url}/user",
        headers={
            "Authorization": f"Bearer {answer['access_token']}",
            "X-GitHub-Api-Version": "2022-11-28",
        },
    ) as response:
        if response.status != 200:
            raise ValueError(f"GitHub answered {response.status} for the signed-in user")
        user = await response.json()
    login_name = str(user.get("login", ""))
    if not LOGIN.fullmatch(login_name):
        raise ValueError("GitHub sent no login")
    return login_name


async def logout(request: web.Request) -> web.Response:
    response = web.HTTPFound("/")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def add_signin_routes(app: web.Application) -> None:
    app.router.add_get("/auth/login", login)
    app.router.add_get("/auth/callback", callback)
    app.router.add_get("/auth/logout", logout)
