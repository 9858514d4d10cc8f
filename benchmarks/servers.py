"""Comparison servers: the bare limit, and the inline baseline (bedevere's shape).

- `bare`: verify the signature, answer 200. Nothing stored, nothing handled.
- `inline`: verify and parse with the same intake code, then run a handler
  inside the request that makes 3 calls to the fake GitHub (50 ms each),
  then answer, as bedevere and miss-islington do.
- `upstream`: the fake GitHub the bot and the inline baseline call, with
  50 ms latency per request (no OpenAPI checking, to spare the CPU).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.queue.intake import IntakeError, parse_delivery, verify_signature

SECRET = (b"bench-secret",)


def bare_app() -> web.Application:
    async def webhook(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify_signature(request.headers, body, SECRET)
        except IntakeError as error:
            return web.json_response({"error": error.reason}, status=error.status)
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=25 * 1024 * 1024)
    app.router.add_post("/webhook", webhook)
    return app


def inline_app(upstream: str) -> web.Application:
    session_key: web.AppKey[aiohttp.ClientSession] = web.AppKey("session")

    async def webhook(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            delivery = parse_delivery(request.headers, body, SECRET, received_at=0.0)
        except IntakeError as error:
            return web.json_response({"error": error.reason}, status=error.status)
        session = request.app[session_key]
        for _ in range(3):  # the handler's GitHub calls, inside the request
            async with session.get(f"{upstream}/app") as response:
                await response.read()
        return web.json_response({"ok": True, "delivery": delivery.guid})

    async def session_context(app: web.Application):  # type: ignore[no-untyped-def]
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            app[session_key] = session
            yield

    app = web.Application(client_max_size=25 * 1024 * 1024)
    app.cleanup_ctx.append(session_context)
    app.router.add_post("/webhook", webhook)
    return app


def upstream_app(state_file: Path) -> web.Application:
    from benchmarks.world import FIXTURES, FakeGitHub  # only this server needs the fake

    fake = FakeGitHub(None, FIXTURES)
    fake.latency = 0.05
    installation = fake.add_installation("python", ["python/cpython"])
    state_file.write_text(
        json.dumps(
            {
                "installation": installation,
                "app_id": fake.app.id,
                "client_id": fake.app.client_id,
                "private_key": fake.app.private_key,
            }
        )
    )
    return fake.web_app()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["bare", "inline", "upstream"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", default="")
    parser.add_argument("--state", type=Path)
    args = parser.parse_args()
    if args.kind == "bare":
        app = bare_app()
    elif args.kind == "inline":
        app = inline_app(args.upstream)
    else:
        app = upstream_app(args.state)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
