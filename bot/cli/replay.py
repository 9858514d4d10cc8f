"""`ghsa-bot replay FILE`: a recorded delivery, taken as intake takes one."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.app import INTERNAL_EVENTS, close_services, open_services
from bot.cli.checks import check_database, require_app_credentials
from bot.cli.errors import CliError
from bot.core.config import load_config
from bot.core.settings import MAX_GITHUB_PAYLOAD, Settings, load_settings
from bot.db.connection import StoreUnavailable
from bot.queue.intake import Delivery, IntakeError, parse_delivery

FORMATS = (
    "the JSON of GET /app/hook/deliveries/ID (request.headers and request.payload), or "
    "the delivery as GitHub's delivery log shows it (header lines, then the JSON body)"
)


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
    if isinstance(document, dict):
        raise CliError(
            f"{path}: a bare JSON payload, without the delivery's headers (X-GitHub-Event, "
            f"X-GitHub-Delivery, X-Hub-Signature-256); replay takes {FORMATS}"
        )
    if document is not None:
        raise CliError(f"{path}: JSON, but not a recorded delivery; replay takes {FORMATS}")
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
    start = text.find("{")
    if start < 0:
        raise CliError(f"{path}: no JSON body found; replay takes {FORMATS}")
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
    require_app_credentials(settings, "replay")
    check_database(settings, create=True)
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
