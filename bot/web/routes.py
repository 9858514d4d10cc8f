"""HTTP routes: `POST /webhook`, `/healthz`, `/readyz`, `/metrics`, and the pages
(`/credits`, `/team`, the ballot page `/vote/N` and the members' `/dashboard`, with
their sign-in under `/auth/`).

The webhook route reads the body (bounded), hands it to :mod:`bot.intake`,
stores the delivery and answers. It never calls a handler: the worker does.

What each route answers:

- `POST /webhook`: 202 stored, 200 a redelivered GUID or a ping, 204 an event
  the bot does not keep; 400 malformed (headers, JSON, a number past what the
  store holds), 401 signature, 413 too large, 415 content type or any
  `Content-Encoding` but identity (refused before the body is read); 503 when
  the store fails or does not answer within `STORE_SECONDS`, so GitHub records
  a failure and the delivery is redelivered later.
- `GET /healthz`: 200 while the process serves; it never touches the store.
- `GET /readyz`: 200 when the store answers within `STORE_SECONDS` and the
  worker runs, else 503 with the problems.
- `GET /metrics`: Prometheus text. With `BOT_METRICS_TOKEN` only for
  `Authorization: Bearer <token>` (401 otherwise); without it only for a
  loopback peer that sent no forwarding header (403 otherwise).
- The pages: see bot/web/credits_page.py, bot/web/team_page.py, bot/web/signin.py,
  bot/web/ballot.py and bot/web/dashboard.py. Every response carries the headers of
  bot/web/hardening.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import time
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol, TypeVar

import orjson
from aiohttp import web

from bot.advisories.store import AdvisoryStore
from bot.app import SERVICES
from bot.core.clock import Clock
from bot.core.config import BotConfig
from bot.core.logs import fields
from bot.core.metrics import Metrics
from bot.core.settings import Settings
from bot.queue.intake import Delivery, IntakeError, check_content_encoding, parse_delivery
from bot.queue.store import Store, StoreUnavailable
from bot.queue.worker import Worker
from bot.web.ballot import add_ballot_routes
from bot.web.credits_page import credits_response
from bot.web.dashboard import add_dashboard_routes
from bot.web.deadlines import bound_task
from bot.web.hardening import harden
from bot.web.signin import add_signin_routes
from bot.web.team_page import add_team_routes

log = logging.getLogger("ghsa_bot.web")

_CHUNK = 64 * 1024
# How long a request waits for the store before answering 503 (webhook, readiness).
STORE_SECONDS = 2.0
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")

T = TypeVar("T")


class ReadinessDoors(Protocol):
    """What /readyz asks: the store and the worker."""

    store: Store
    worker: Worker


class MetricsDoors(Protocol):
    """What /metrics uses: the token setting, the queue's counts, the metrics."""

    settings: Settings
    store: Store
    metrics: Metrics


class IntakeDoors(ReadinessDoors, MetricsDoors, Protocol):
    """What POST /webhook uses: the secrets, a clock, the events the bot keeps, the store."""

    clock: Clock

    @property
    def known_events(self) -> frozenset[str]: ...

    @property
    def webhook_events(self) -> frozenset[str]: ...

    def wants(self, event: str, payload: Mapping[str, Any]) -> bool: ...


class CreditsDoors(Protocol):
    """What the public credits page reads: the team's name and the published records."""

    config: BotConfig
    advisories: AdvisoryStore


async def bounded(call: Awaitable[T], seconds: float = STORE_SECONDS) -> T:
    """Await a store call for at most `seconds`; StoreUnavailable when it takes longer.

    What `asyncio.timeout` does (cancel this task when the time is up, told apart
    from any other cancellation), without its context manager's bookkeeping (8 µs
    on every acknowledgement) or a timer per call: the loop's one timer for every
    bounded call cancels it (bot/web/deadlines.py).
    """
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("bounded() must run in a task")
    cancelling = task.cancelling()  # cancellations already under way are not ours
    bound = bound_task(task, seconds)
    try:
        answer = await call
    except BaseException as error:
        # Our cancellation is taken back whatever the call ended with; it is the
        # bound's answer only if no one else asked to cancel the task meanwhile.
        # A timeout of the call's own is the store not answering too.
        ours = bound.expired and task.uncancel() <= cancelling
        if isinstance(error, TimeoutError) or (ours and isinstance(error, asyncio.CancelledError)):
            raise StoreUnavailable(f"no answer within {seconds:g} s") from None
        raise
    finally:
        bound.end()
    if bound.expired:
        task.uncancel()  # the call absorbed our cancellation and answered all the same
    return answer


async def read_body(request: web.Request, limit: int) -> bytes:
    """Read at most `limit` bytes; 413 as soon as the body is known to be larger."""
    if request.content_length is not None and request.content_length > limit:
        raise IntakeError(413, f"body of {request.content_length} bytes is over {limit} bytes")
    chunks = []
    size = 0
    while True:
        chunk = await request.content.read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise IntakeError(413, f"body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse(services: MetricsDoors, error: IntakeError, event: str) -> web.Response:
    services.metrics.deliveries.inc(event=event, outcome=f"refused_{error.status}")
    log.info("delivery refused", extra=fields(status=error.status, reason=error.reason))
    response = web.json_response({"error": error.reason}, status=error.status)
    if error.status in (413, 415):
        response.force_close()  # the rest of the body may be unread
    return response


def accepted(guid: str) -> web.Response:
    """202 with `{"ok": true, "delivery": guid}`, encoded without a JSON encoder's setup.

    Every stored delivery gets this answer; json_response's encoder was a
    measurable share of an acknowledgement's CPU. The GUID is a checked header
    (printable, at most 200 characters) and is still escaped as a JSON string.
    """
    body = b'{"ok": true, "delivery": ' + orjson.dumps(guid) + b"}"
    return web.Response(body=body, status=202, content_type="application/json")


def _about(delivery: Delivery, **more: Any) -> dict[str, Any]:
    """The log fields that name `delivery` (built only for a line that is logged)."""
    return fields(
        delivery=delivery.guid,
        event=delivery.event,
        action=delivery.action,
        installation=delivery.installation_id,
        **more,
    )


async def webhook(request: web.Request) -> web.Response:
    services: IntakeDoors = request.app[SERVICES]
    arrived = time.perf_counter()
    settings = services.settings
    header_event = request.headers.get("X-GitHub-Event", "")
    event_label = header_event if header_event in services.known_events else "other"
    try:
        check_content_encoding(request.headers)  # before the body is read
        body = await read_body(request, settings.max_body_bytes)
        delivery = parse_delivery(
            request.headers, body, settings.webhook_secrets, received_at=services.clock.now()
        )
    except IntakeError as error:
        return _refuse(services, error, event_label)

    if delivery.event == "ping":
        services.metrics.deliveries.inc(event="ping", outcome="pong")
        return web.json_response({"ok": True, "zen": delivery.payload.get("zen")})
    if delivery.event not in services.webhook_events:
        services.metrics.deliveries.inc(event="other", outcome="ignored")
        return web.Response(status=204, headers={"X-Bot-Outcome": "no handler for this event"})
    if not services.wants(delivery.event, delivery.payload):
        services.metrics.deliveries.inc(event=event_label, outcome="ignored")
        return web.Response(status=204, headers={"X-Bot-Outcome": "not the governance repository"})
    if delivery.installation_id is None:
        services.metrics.deliveries.inc(event=event_label, outcome="ignored")
        log.info("delivery ignored: no installation", extra=_about(delivery))
        return web.Response(status=204, headers={"X-Bot-Outcome": "no installation in payload"})
    try:
        is_new = await bounded(services.store.add_delivery(delivery))
    except StoreUnavailable as error:
        services.metrics.deliveries.inc(event=event_label, outcome="store_unavailable")
        log.error("store unavailable", extra=_about(delivery, error=str(error)))
        return web.json_response({"error": "store unavailable; redeliver later"}, status=503)
    if not is_new:
        services.metrics.deliveries.inc(event=event_label, outcome="duplicate")
        log.info("delivery already stored", extra=_about(delivery, outcome="duplicate"))
        return web.json_response({"ok": True, "duplicate": True}, status=200)
    services.metrics.deliveries.inc(event=event_label, outcome="stored")
    services.metrics.ack_duration.observe(time.perf_counter() - arrived)
    if services.worker is not None and not services.store.wakes_worker:
        services.worker.notify()
    if log.isEnabledFor(logging.DEBUG):
        store_ms = round((time.perf_counter() - arrived) * 1000, 2)
        log.debug("delivery stored", extra=_about(delivery, store_ms=store_ms))
    return accepted(delivery.guid)


async def healthz(request: web.Request) -> web.Response:
    """200 while the process serves requests; the store is not asked."""
    return web.json_response({"ok": True})


async def readyz(request: web.Request) -> web.Response:
    """200 when the store answers (within STORE_SECONDS) and the worker runs; else 503."""
    services: ReadinessDoors = request.app[SERVICES]
    problems = []
    try:
        await bounded(services.store.ping())
    except StoreUnavailable as error:
        # Anyone may ask: the driver's message (host, port, file) goes to the log only,
        # already without DATABASE_URL's credentials (bot/db/connection.py).
        detail = str(error).strip().splitlines()
        log.warning("readiness: store unavailable", extra=fields(error=detail[0] if detail else ""))
        problems.append("store: unavailable")
    if services.worker is None or not services.worker.running:
        problems.append("worker: not running")
    if problems:
        return web.json_response({"ok": False, "problems": problems}, status=503)
    return web.json_response({"ok": True})


def _loopback_peer(request: web.Request) -> bool:
    """True when the TCP peer is this host (the socket's address, never a header)."""
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if not peer:
        return False
    host = peer[0] if isinstance(peer, (tuple, list)) else peer
    if not isinstance(host, str):
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False  # a Unix socket or something else: not known to be local
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def metrics_refusal(request: web.Request, token: str | None) -> web.Response | None:
    """Why `/metrics` is not answered for this request, or None when it may be.

    With a token: `Authorization: Bearer <token>` from everyone (compared in
    constant time), else 401. Without one: a loopback peer that sent no
    forwarding header (a reverse proxy on the host would make every visitor
    look local), else 403.
    """
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        supplied = given.strip().encode("utf-8", "surrogatepass")
        if scheme.lower() == "bearer" and hmac.compare_digest(supplied, token.encode()):
            return None
        return web.json_response(
            {"error": "metrics need Authorization: Bearer <BOT_METRICS_TOKEN>"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    forwarded = any(name in request.headers for name in FORWARDING_HEADERS)
    if forwarded or not _loopback_peer(request):
        return web.json_response(
            {"error": "metrics are served to loopback clients only; set BOT_METRICS_TOKEN"},
            status=403,
        )
    return None


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text, for the clients :func:`metrics_refusal` lets through."""
    services: MetricsDoors = request.app[SERVICES]
    refusal = metrics_refusal(request, services.settings.metrics_token)
    if refusal is not None:
        return refusal
    # One indexed count per state, never the whole table (Store.queue_counts). When the
    # store does not answer, the gauges keep their last values (/readyz says why).
    with contextlib.suppress(StoreUnavailable):
        services.metrics.set_queue_counts(await bounded(services.store.queue_counts()))
    body, content_type = services.metrics.exposition(request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type})


async def credits(request: web.Request) -> web.Response:
    """The public credits page: published advisories only."""
    services: CreditsDoors = request.app[SERVICES]
    try:
        return await credits_response(services.config.team.name, services.advisories)
    except StoreUnavailable:
        return web.Response(status=503, text="the store is unavailable; try again shortly")


def add_service_routes(app: web.Application) -> None:
    """The service's routes, with the headers and request guard of bot/web/hardening.py."""
    harden(app, exempt_paths=["/webhook"])
    app.router.add_post("/webhook", webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/credits", credits)
    add_team_routes(app)
    add_signin_routes(app)
    add_ballot_routes(app)
    add_dashboard_routes(app)
