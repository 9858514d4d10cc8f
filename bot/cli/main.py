"""`ghsa-bot` (and `python -m bot`): serve, check-config, deliveries, advisories, export,
replay, and the governance commands (roster, report, nominations: bot/cli/governance.py)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.advisories.public import public_view
from bot.advisories.store import AdvisoryRecord, AdvisoryStore
from bot.app import INTERNAL_EVENTS, attach, close_services, open_services
from bot.cli import governance as cli_governance
from bot.core import logs
from bot.core.config import BotConfig, ConfigError, load_config
from bot.core.settings import MAX_GITHUB_PAYLOAD, Settings, SettingsError, load_settings
from bot.db.connection import Database, StoreUnavailable
from bot.db.migrations import MIGRATIONS
from bot.queue.intake import Delivery, IntakeError, parse_delivery
from bot.queue.store import Store
from bot.records.cve_ids import Binding, binding_of
from bot.records.documents import RecordError, write_record
from bot.records.exports import build_exports
from bot.team.data import SourceError, read_local
from bot.web.routes import add_service_routes
from bot.web.setup import create_setup_app, listen_host, setup_link


class CliError(Exception):
    """A message for the operator; the command exits 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logs.configure(getattr(args, "log_level", "INFO"))
    try:
        return int(args.func(args) or 0)
    except (
        CliError,
        SettingsError,
        ConfigError,
        SourceError,
        cli_governance.GovernanceCliError,
    ) as error:
        print(f"ghsa-bot: {error}", file=sys.stderr)
        return 2
    except StoreUnavailable as error:  # PostgreSQL down, not a database file, a folder
        detail = (str(error).strip().splitlines() or ["no answer"])[0]
        print(f"ghsa-bot: store unavailable: {detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ghsa-bot", description=__doc__)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve webhooks (or the setup page)")
    serve.add_argument("--dry-run", action="store_true", help="print mutating GitHub requests")
    serve.add_argument("--port", type=int, help="override PORT")
    serve.set_defaults(func=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply the store's schema migrations and exit")
    migrate.set_defaults(func=cmd_migrate)

    check = commands.add_parser("check-config", help="validate settings and configuration")
    check.set_defaults(func=cmd_check_config)

    deliveries = commands.add_parser("deliveries", help="recent deliveries and their outcome")
    deliveries.add_argument("action", nargs="?", choices=["list", "retry"], default="list")
    deliveries.add_argument("guid", nargs="?")
    deliveries.add_argument("--limit", type=int, default=30)
    deliveries.set_defaults(func=cmd_deliveries)

    advisories = commands.add_parser(
        "advisories", help="open advisories, or one with its audit log"
    )
    advisories.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    advisories.add_argument("ghsa_id", nargs="?")
    advisories.set_defaults(func=cmd_advisories)

    export = commands.add_parser(
        "export", help="an advisory's OSV or CVE JSON 5 record, validated against its schema"
    )
    export.add_argument("kind", choices=["osv", "cve"])
    export.add_argument("ghsa_id")
    export.add_argument("--output", type=Path, help="write FOLDER/KIND/ID.json, not stdout")
    export.set_defaults(func=cmd_export)

    replay = commands.add_parser("replay", help="feed a recorded delivery through the bot")
    replay.add_argument("file", type=Path)
    replay.add_argument("--dry-run", action="store_true", help="print mutating requests")
    replay.add_argument(
        "--no-signature-check",
        action="store_true",
        help="replay a file whose signature cannot be checked (GitHub's API form): its "
        "events act as whoever they name, so only for files you got from GitHub yourself",
    )
    replay.set_defaults(func=cmd_replay)
    cli_governance.add_commands(commands)
    return parser


# -- serve ---------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.dry_run:
        settings = dataclasses.replace(settings, dry_run=True)
    port = args.port if args.port is not None else settings.port
    for warning in settings.warnings:
        print(f"ghsa-bot: warning: {warning}", file=sys.stderr)
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
    # The event loop shares the GIL with the database thread; by default a
    # waiting thread may wait 5 ms for it, which would be the ack's p99.
    sys.setswitchinterval(0.0005)
    web.run_app(
        _serve_app(settings, config),
        host=settings.host,
        port=port,
        print=None,
        shutdown_timeout=25,
        loop=serving_loop(),
        auto_decompress=False,  # request bodies are never decoded (bot/web/hardening.py)
    )
    return 0


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
    print(f"ghsa-bot: serving webhooks on port {settings.port}", file=sys.stderr, flush=True)
    return app


# -- check-config --------------------------------------------------------------------


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = load_settings()
    config = load_config(settings.config_dir)
    print(f"{settings.config_dir}/bot.toml: ok (team: {config.team.name})")
    for name, source in config.sources.items():
        if source.file is not None:
            read_local(source)
            print(f"sources.{name}: {source.file} ({source.format}) ok")
        else:
            where = f"{source.repository}:{source.path}"
            print(f"sources.{name}: {where} ({source.format}), read from GitHub at start")
    problem = settings.serve_problem()
    if problem and settings.has_app_credentials:
        raise CliError(problem)
    print("settings: " + ("ok" if not problem else "no App credentials yet (setup mode)"))
    for warning in settings.warnings:
        print(f"warning: {warning}")
    return 0


# -- migrate -------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply pending migrations (serve does too, on start); replicas may run it at once."""
    settings = load_settings()
    return asyncio.run(_migrate(settings))


async def _migrate(settings: Settings) -> int:
    database = Database(settings.database_url, synchronous=settings.sqlite_synchronous)
    where = database.backend.describe()
    try:
        applied = await database.migrate()
    except StoreUnavailable as error:
        raise CliError(f"{where}: cannot migrate: {error}") from None
    finally:
        await database.close()
    if applied:
        print(f"{where}: applied migrations {', '.join(map(str, applied))}")
    else:
        print(f"{where}: up to date (version {MIGRATIONS[-1][0]})")
    return 0


# -- deliveries ----------------------------------------------------------------------


def cmd_deliveries(args: argparse.Namespace) -> int:
    settings = load_settings()
    return asyncio.run(_deliveries(settings, args))


async def _deliveries(settings: Settings, args: argparse.Namespace) -> int:
    store = Store(Database(settings.database_url, synchronous=settings.sqlite_synchronous))
    await store.open()
    try:
        if args.action == "retry":
            if not args.guid:
                raise CliError("usage: ghsa-bot deliveries retry GUID")
            if await store.retry_failed(args.guid, now=time.time()):
                print(f"{args.guid}: queued again; a running bot handles it within a second")
                return 0
            found = await store.get_delivery(args.guid)
            if found is None:
                raise CliError(f"{args.guid}: no such delivery")
            if found.state == "failed" and found.payload_removed:
                raise CliError(
                    f"{args.guid}: cannot be retried: its payload was removed after "
                    f"{settings.parked_retention_days:g} days parked (BOT_PARKED_RETENTION_DAYS)"
                )
            raise CliError(f"{args.guid}: is {found.state}, only failed deliveries can be retried")
        rows = await store.recent_deliveries(args.limit)
        print(f"{'received (UTC)':<20} {'guid':<38} {'event':<28} {'state':<8} tries  note")
        for row in rows:
            received = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row.received_at))
            event = f"{row.event}.{row.action}" if row.action else row.event
            note = (row.last_error or "")[:80]
            print(
                f"{received:<20} {row.guid:<38} {event:<28} {row.state:<8} {row.attempts:<6} {note}"
            )
        return 0
    finally:
        await store.close()


# -- advisories ----------------------------------------------------------------------


def cmd_advisories(args: argparse.Namespace) -> int:
    settings = load_settings()
    config = load_config(settings.config_dir)
    return asyncio.run(_advisories(settings, config, args))


async def _advisories(settings: Settings, config: BotConfig, args: argparse.Namespace) -> int:
    database = Database(settings.database_url, synchronous=settings.sqlite_synchronous)
    await database.migrate()
    store = AdvisoryStore(database)
    now = time.time()
    try:
        if args.action == "show":
            if not args.ghsa_id:
                raise CliError("usage: ghsa-bot advisories show GHSA-xxxx-xxxx-xxxx")
            records = [r for r in await store.all_advisories() if r.ghsa_id == args.ghsa_id]
            if not records:
                raise CliError(f"{args.ghsa_id}: not known to the bot")
            for record in records:
                print(f"{record.repository} {record.ghsa_id}")
                for name, value in describe(record, config, now).items():
                    print(f"  {name}: {value}")
                print("  audit log:")
                for entry in await store.audit_log(record.repository, record.ghsa_id):
                    stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime(entry.at))
                    print(f"    {stamp}  {entry.action}: {entry.reason} ({entry.delivery})")
            return 0
        print(f"{'advisory':<45} {'state':<7} {'coordinator':<16} {'age':>5}  deadline")
        for record in await store.open_advisories():
            facts = describe(record, config, now)
            name = f"{record.repository} {record.ghsa_id}"
            print(
                f"{name:<45} {record.state:<7} {facts['coordinator']:<16} "
                f"{facts['age']:>5}  {facts['deadline']}"
            )
        return 0
    finally:
        await database.close()


def describe(record: AdvisoryRecord, config: BotConfig, now: float) -> dict[str, str]:
    """What an operator wants to see of one advisory (no advisory text)."""
    deadline = record.received_at + config.policy.response_days * 86400
    days_left = int((deadline - now) // 86400)
    due = time.strftime("%Y-%m-%d", time.gmtime(deadline))
    acknowledged = "no"
    if record.acknowledged_at:
        acknowledged = time.strftime("%Y-%m-%d %H:%M", time.gmtime(record.acknowledged_at))
    return {
        "state": record.state,
        "reporter": record.reporter or "-",
        "coordinator": record.coordinator or "(none)",
        "received": time.strftime("%Y-%m-%d %H:%M", time.gmtime(record.received_at)),
        "acknowledged": acknowledged,
        "age": f"{int((now - record.received_at) // 86400)}d",
        "deadline": f"{due} ({days_left} days left)" if days_left >= 0 else f"{due} (PASSED)",
    }


# -- replay --------------------------------------------------------------------------


def read_recording(path: Path) -> tuple[dict[str, str], bytes]:
    """Headers and body of a recorded delivery.

    Accepts the JSON of `GET /app/hook/deliveries/{id}` (`request.headers`,
    `request.payload`) or the text GitHub's delivery log shows: header lines,
    then the JSON body. At most GitHub's own payload limit (25 MiB) is read.
    """
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_GITHUB_PAYLOAD + 1)
    except OSError as error:
        raise CliError(f"{path}: cannot read it ({error.strerror})") from None
    if len(raw) > MAX_GITHUB_PAYLOAD:
        raise CliError(
            f"{path}: over {MAX_GITHUB_PAYLOAD:,} bytes, more than GitHub ever delivers"
        )
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, dict) and isinstance(document.get("request"), dict):
        request = document["request"]
        headers = {str(k): str(v) for k, v in (request.get("headers") or {}).items()}
        try:
            return headers, json.dumps(request.get("payload")).encode()
        except (ValueError, RecursionError):
            raise CliError(f"{path}: the payload is nested too deeply") from None
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
    start = text.find("{")
    if start < 0:
        raise CliError(
            f"{path}: no JSON body found; give the JSON of GET /app/hook/deliveries/ID "
            "(request.headers and request.payload) or the delivery as GitHub's log shows it "
            "(header lines, then the JSON body)"
        )
    headers = {}
    for line in text[:start].splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() and " " not in name.strip():
            headers[name.strip()] = value.strip()
    return headers, text[start:].strip().encode()


class _Headers(dict[str, str]):
    """Case-insensitive lookups, as HTTP headers are."""

    def get(self, key: str, default: Any = None) -> Any:
        lowered = key.lower()
        for name, value in self.items():
            if name.lower() == lowered:
                return value
        return default


def cmd_export(args: argparse.Namespace) -> int:
    settings = load_settings()
    config = load_config(settings.config_dir)
    return asyncio.run(_export(settings, config, args))


async def _export(settings: Settings, config: BotConfig, args: argparse.Namespace) -> int:
    """The published advisory's stored public record; a draft is read live from GitHub."""
    services = await open_services(settings, config, start_worker=False, start_background=False)
    try:
        known = [r for r in await services.advisories.all_advisories() if r.ghsa_id == args.ghsa_id]
        if not known:
            raise CliError(f"{args.ghsa_id}: not known to the bot")
        record = known[0]
        stored = await services.advisories.published_one(record.repository, record.ghsa_id)
        if stored is not None:
            public = stored.record
        else:
            if services.github is None or not settings.app_id:
                raise CliError(f"{args.ghsa_id} is not published; reading it needs App credentials")
            client = services.github.installation(record.installation_id)
            advisory = await client.getitem(
                f"/repos/{record.repository}/security-advisories/{record.ghsa_id}"
            )
            public = public_view(advisory)
            if not public.get("published_at"):
                public["published_at"] = advisory.get("updated_at")
        org_id = ""
        if config.cve.provider == "cve-services" and services.cve_services is not None:
            org_id = await services.cve_services.org_id()
        binding = await binding_of(
            services.cve_bindings,
            record.repository,
            record.ghsa_id,
            public.get("cve_id"),
            trust_the_field=config.unsafe.collaborators_choose_the_cve_id,
        )
        try:
            exports = await build_exports(
                services.fix_links,
                services.record_ids,
                config.records,
                record.repository,
                public,
                org_id=org_id,
                published=stored is not None,
                cve_bound=binding in (Binding.OURS, Binding.NONE),
            )
        except RecordError as error:
            raise CliError(f"{args.ghsa_id}: {error}; nothing was written") from None
        document = exports.osv if args.kind == "osv" else exports.cve
        if document is None:
            raise CliError(f"{args.ghsa_id}: no CVE record: {exports.cve_missing}")
        name = exports.osv_id if args.kind == "osv" else document["cveMetadata"]["cveId"]
        if args.output is not None:
            try:
                print(write_record(args.output, args.kind, name, document))
            except RecordError as error:
                raise CliError(f"{args.ghsa_id}: {error}; nothing was written") from None
        else:
            print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    finally:
        await close_services(services)


def cmd_replay(args: argparse.Namespace) -> int:
    """Feed a recorded delivery through the bot, as intake would take it over HTTP.

    The signature is checked against GITHUB_WEBHOOK_SECRET like any delivery's (the
    log form keeps the raw body GitHub signed); a file whose signature cannot be
    checked is refused unless --no-signature-check says the operator vouches for it.
    """
    settings = load_settings()
    headers, body = read_recording(args.file)
    try:
        delivery = parse_delivery(
            _Headers(headers),
            body,
            settings.webhook_secrets,
            received_at=time.time(),
            verify=not args.no_signature_check,
        )
    except IntakeError as error:
        hint = ""
        if error.status == 401:
            hint = (
                " (a file in GitHub's API form cannot keep the signed body: check where it "
                "came from, then --no-signature-check)"
            )
        raise CliError(f"{args.file}: {error.reason}{hint}") from None
    if args.dry_run:
        with tempfile.TemporaryDirectory(prefix="ghsa-bot-replay-") as directory:
            scratch = dataclasses.replace(
                settings,
                dry_run=True,
                database_url=f"sqlite:///{directory}/replay.sqlite3",
                mutation_interval=0.0,
            )
            return asyncio.run(_replay(scratch, delivery))
    return asyncio.run(_replay(settings, delivery))


async def _replay(settings: Settings, delivery: Delivery) -> int:
    if not (settings.app_id and settings.private_key):
        raise CliError("replay needs GITHUB_APP_ID and a private key to reach GitHub")
    config = load_config(settings.config_dir)
    services = await open_services(settings, config, start_worker=False, start_background=False)
    try:
        if delivery.event in INTERNAL_EVENTS:
            raise CliError(
                f"{delivery.guid}: {delivery.event!r} is an event the bot raises itself (its "
                "poller and timers), never one GitHub sends; replay takes GitHub's deliveries only"
            )
        if delivery.event not in services.webhook_events or not services.wants(
            delivery.event, delivery.payload
        ):
            print(f"{delivery.guid}: intake would not store {delivery.event!r}; nothing to do")
            return 0
        try:
            is_new = await services.store.add_delivery(delivery, source="replay")
        except StoreUnavailable as error:
            raise CliError(f"store unavailable: {error}") from None
        if not is_new:
            raise CliError(
                f"{delivery.guid} is already stored; see `ghsa-bot deliveries` "
                "(`deliveries retry GUID` re-queues a failed one)"
            )
        print("signature not checked: replaying a local file", file=sys.stderr)
        await services.worker.run_until_idle()
        stored = await services.store.get_delivery(delivery.guid)
        assert stored is not None
        print(
            f"{delivery.guid}: {stored.state}"
            + (f" ({stored.last_error})" if stored.last_error else "")
        )
        return 0 if stored.state == "done" else 1
    finally:
        await close_services(services)
