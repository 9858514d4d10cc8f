"""`ghsa-bot advisories [show]` and `export`: what the bot knows of advisories, their records."""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from bot.advisories.groups import published_members
from bot.advisories.public import public_view
from bot.advisories.store import AdvisoryRecord, AdvisoryStore
from bot.app import close_services, open_services
from bot.cli.checks import check_database, require_app_credentials
from bot.cli.errors import CliError
from bot.core.config import BotConfig, load_config
from bot.core.settings import Settings, load_settings
from bot.db.connection import Database
from bot.records.cve_ids import Binding, binding_of, related_entries
from bot.records.documents import RecordError, write_record
from bot.records.exports import build_exports


def cmd_advisories(args: argparse.Namespace) -> int:
    settings = load_settings()
    config = load_config(settings.config_dir)
    check_database(settings, create=False)
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


def cmd_export(args: argparse.Namespace) -> int:
    settings = load_settings()
    config = load_config(settings.config_dir)
    check_database(settings, create=False)
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
            require_app_credentials(settings, f"export of {args.ghsa_id}, not yet published,")
            client = services.github.installation(record.installation_id)
            advisory = await client.getitem(
                f"/repos/{record.repository}/security-advisories/{record.ghsa_id}"
            )
            public = public_view(advisory)
            if not public.get("published_at"):
                public["published_at"] = advisory.get("updated_at")
        # With App credentials, credits carry the names on the people's GitHub profiles.
        github = None
        if services.github is not None and settings.app_id:
            github = services.github.installation(record.installation_id)
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
                github=github,
                # as the published handler writes them: naming the linked public ones
                related=await related_entries(
                    services.cve_bindings,
                    await published_members(services.advisories, record.repository, record.ghsa_id),
                    trust_the_field=config.unsafe.collaborators_choose_the_cve_id,
                ),
            )
        except RecordError as error:
            raise CliError(f"{args.ghsa_id}: {error}; nothing was written") from None
        document = exports.osv if args.kind == "osv" else exports.cve
        if document is None:
            raise CliError(f"{args.ghsa_id}: no CVE record: {exports.cve_missing}")
        name = exports.osv_id if args.kind == "osv" else document["cveMetadata"]["cveId"]
        if args.output is not None:
            try:
                folder = exports.osv_folder if args.kind == "osv" else "cve"
                print(write_record(args.output, folder, name, document))
            except RecordError as error:
                raise CliError(f"{args.ghsa_id}: {error}; nothing was written") from None
        else:
            print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    finally:
        await close_services(services)
