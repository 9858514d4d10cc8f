"""What every response of the bot's web apps carries, and what every request must not be.

:func:`harden` is called on both apps (the service app in
`bot.web.add_service_routes`, the setup app in `bot.setup_flow`):

- Every response gets a Content-Security-Policy that allows no script, no
  frame, no plugin and no base URL (pages use inline `<style>` only and post
  forms to themselves; the setup page sets its own policy, which also lets its
  form post the manifest to GitHub), `X-Content-Type-Options: nosniff`,
  `Referrer-Policy: no-referrer` and, unless the route chose otherwise (the
  public credits page is cacheable), `Cache-Control: no-store`.
- A request body with a `Content-Encoding` other than identity is refused
  with 415 before it is read (GitHub and browsers never compress what they
  send; decoding it would only let a small body become a large one). Routes
  that answer this themselves (the webhook, in JSON) are exempt.
- A body that cannot be read as what it claims to be (a broken chunked or
  compressed stream, a malformed form) is a 400, never a 500.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler, Middleware

NO_SCRIPT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
IDENTITY_ENCODINGS = frozenset({"", "identity"})


def content_security_policy(*form_targets: str) -> str:
    """The pages' policy; forms may post to the bot itself and to `form_targets`."""
    targets = " ".join(("'self'", *form_targets))
    return f"{NO_SCRIPT_POLICY}; form-action {targets}"


def html_page(title: str, body: str, status: int) -> web.Response:
    """A small page for refusals made before any route runs."""
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;"
        "padding:0 1rem}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=document, content_type="text/html", status=status)


def content_encoding_refused(value: str) -> bool:
    """True for a `Content-Encoding` the bot does not accept (anything but identity)."""
    return value.strip().lower() not in IDENTITY_ENCODINGS


# Every response's policy unless its route set one (built once, not per response).
_DEFAULT_POLICY = content_security_policy()


async def _secure_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", _DEFAULT_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cache-Control", "no-store")


def _guard(exempt: frozenset[str]) -> Middleware:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        encoding = request.headers.get("Content-Encoding", "")
        if (
            request.body_exists
            and request.path not in exempt
            and content_encoding_refused(encoding)
        ):
            response = html_page(
                "Compressed request bodies are not accepted",
                "<p>Send the request without a <code>Content-Encoding</code>.</p>",
                415,
            )
            response.force_close()  # the body is not read
            return response
        try:
            return await handler(request)
        except HttpProcessingError as error:  # reading the body failed: the sender's fault
            return html_page(
                "Bad request",
                f"<p>The request body could not be read ({html.escape(type(error).__name__)}).</p>",
                400,
            )

    return guard


def harden(app: web.Application, *, exempt_paths: Iterable[str] = ()) -> None:
    """Add the headers and the request guard to `app` (before it starts).

    `exempt_paths` answer a compressed body themselves.
    """
    app.on_response_prepare.append(_secure_headers)
    app.middlewares.append(_guard(frozenset(exempt_paths)))
