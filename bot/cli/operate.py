"""`ghsa-bot check-config`, `migrate`, `deliveries [retry]`: looking after the running bot."""

from __future__ import annotations

import argparse
import asyncio
import time

from bot.cli.checks import check_database
from bot.cli.errors import CliError
from bot.core.config import load_config
from bot.core.settings import Settings, load_settings
from bot.db.backends import backend_for
from bot.db.connection import Database, StoreUnavailable
from bot.db.migrations import MIGRATIONS
from bot.queue.store import Store
from bot.team.data import read_local


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
    check_database(settings, create=True)
    print(f"database: {backend_for(settings.database_url).describe()}")
    problem = settings.serve_problem()
    if problem and settings.has_app_credentials:
        raise CliError(problem)
    print("settings: " + ("ok" if not problem else "no App credentials yet (setup mode)"))
    for warning in settings.warnings:
        print(f"warning: {warning}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply pending migrations (serve does too, on start); replicas may run it at once."""
    settings = load_settings()
    check_database(settings, create=True)
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




def cmd_deliveries(args: argparse.Namespace) -> int:
    settings = load_settings()
    check_database(settings, create=False)
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
