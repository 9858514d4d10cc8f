"""`ghsa-bot serve`: the bot (or setup mode, without App credentials)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import secrets
import sys
from collections.abc import Iterator

from aiohttp import web

from bot.app import attach, open_services
from bot.cli.checks import check_database
from bot.cli.errors import CliError
from bot.core import error_reports
from bot.core.config import BotConfig, load_config
from bot.core.metrics import build_version
from bot.core.settings import Settings, load_settings, plaintext_url_warnings
from bot.web.routes import add_service_routes
from bot.web.setup import create_setup_app, listen_host, setup_link

# New objects (net of those freed) between two collections of the youngest
# generation; the older generations keep Python's defaults.
YOUNG_COLLECTION_THRESHOLD = 10_000


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.dry_run:
        settings = dataclasses.replace(settings, dry_run=True)
    if args.port is not None:
        settings = dataclasses.replace(settings, port=args.port)
    port = settings.port
    for warning in settings.warnings:
        print(f"ghsa-bot: warning: {warning}", file=sys.stderr)
    if settings.sentry_dsn:  # opt-in error reports (bot/core/error_reports.py)
        for warning in plaintext_url_warnings("SENTRY_DSN", settings.sentry_dsn):
            print(f"ghsa-bot: warning: {warning}", file=sys.stderr)
        try:
            error_reports.start(settings.sentry_dsn, release=f"ghsa-bot@{build_version()}")
        except error_reports.ErrorReportsUnavailable as error:
            raise CliError(str(error)) from None
    if not settings.has_app_credentials:
        # A broken configuration stops setup mode too (exit 2 with the ConfigError).
        load_config(settings.config_dir)
        host = listen_host(settings)  # loopback unless BOT_HOST is set
        token = secrets.token_urlsafe(32)
        link = setup_link(settings, host, port, token)
        print(
            f"ghsa-bot: no GitHub App credentials; setup mode: open {link} "
            "to register the App (the link works once; only this console shows it)",
            file=sys.stderr,
            flush=True,
        )
        with _listening(host, port):
            web.run_app(
                create_setup_app(settings, token),
                host=host,
                port=port,
                print=None,
                auto_decompress=False,
            )
        return 0
    problem = settings.serve_problem()
    if problem is not None:
        raise CliError(problem)
    config = load_config(settings.config_dir)
    check_database(settings, create=True)
    # The event loop shares the GIL with the database thread; by default a
    # waiting thread may wait 5 ms for it, which would be the ack's p99.
    sys.setswitchinterval(0.0005)
    with _listening(settings.host, port):
        web.run_app(
            _serve_app(settings, config),
            host=settings.host,
            port=port,
            # Called once the socket listens (a port in use fails before it).
            print=lambda _banner: print(
                f"ghsa-bot: serving webhooks on {settings.host}:{port}",
                file=sys.stderr,
                flush=True,
            ),
            shutdown_timeout=25,
            loop=serving_loop(),
            auto_decompress=False,  # request bodies are never decoded (bot/web/hardening.py)
        )
    return 0


@contextlib.contextmanager
def _listening(host: str, port: int) -> Iterator[None]:
    """An OSError without a file name while serving is the listening socket's:
    the port is taken, the host is not this machine's, a port below 1024."""
    try:
        yield
    except OSError as error:
        if error.filename:
            raise  # a file (the database's): main says which
        reason = error.strerror or type(error).__name__
        raise CliError(f"cannot listen on {host}:{port}: {reason} (PORT, BOT_HOST)") from None


def serving_loop() -> asyncio.AbstractEventLoop:
    """The server's event loop: uvloop where it is installed (Linux, macOS), else asyncio's.

    Same API; the loop and its sockets are in C, which leaves more of two cores
    for the requests themselves (measured in benchmarks/RESULTS.md).
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def _serve_app(settings: Settings, config: BotConfig) -> web.Application:
    services = await open_services(settings, config)
    app = web.Application()
    add_service_routes(app)
    attach(app, services)
    # What start-up built lives as long as the process: keep it out of the
    # collector's way, so collections during traffic stay short.
    gc.collect()
    gc.freeze()
    # Each young collection walks every object of the requests in flight (64 at
    # saturation); at the default (one every 700 new objects) that walk came
    # every few requests. Paired saturation runs: 12 % less CPU per delivery.
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD)
    return app
