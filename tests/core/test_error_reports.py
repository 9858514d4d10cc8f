"""Error reports to Sentry (opt-in): the error goes, the embargoed report's text never does.

Reports are captured by a fake transport (a `sentry_sdk.transport.Transport`
that keeps each envelope's bytes) or, for `ghsa-bot serve` in its own process,
by a local server standing in for Sentry behind a real DSN.

- a handler failing on an embargoed report (GitHub's 422 quoting the title)
  sends one error event: the exception's type and stack, the event and handler
  as tags; none of the title, description, reporter, advisory id or repository;
- log lines (errors included) and messages are never sent, and make no
  breadcrumbs;
- the allow-list keeps only what it names, whatever the SDK put in the event;
- `serve` with `SENTRY_DSN` and no sentry-sdk, or a DSN that is not one,
  refuses in one line (exit 2) without repeating the DSN.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sentry_sdk
from aiohttp import web
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport
from sentry_sdk.utils import event_from_exception

from bot.core import error_reports
from bot.core.error_reports import scrub_event
from tests.conftest import free_port
from tests.fakegithub import FakeGitHub
from tests.harness import (
    BotProcess,
    BotUnderTest,
    catch_all_server,
    load_payload,
    reported_payload,
    run_cli,
    send_webhook,
)

TITLE = f"EMBARGOED-TITLE-{uuid.uuid4().hex}"
DESCRIPTION = f"EMBARGOED-DESCRIPTION-{uuid.uuid4().hex}"
REPORTER = f"embargoed-reporter-{uuid.uuid4().hex[:8]}"
DSN = "https://publickey@sentry.invalid/42"


class CapturingTransport(Transport):
    """Keeps every envelope the SDK would send, serialized as it goes on the wire."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[bytes] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope.serialize())

    def events(self) -> list[dict[str, Any]]:
        found = []
        for raw in self.envelopes:
            for item in Envelope.deserialize(raw).items:
                if item.type == "event" and item.payload.json is not None:
                    found.append(item.payload.json)
        return found


@pytest.fixture
def reports() -> Iterator[CapturingTransport]:
    transport = CapturingTransport()
    error_reports.start(DSN, release="ghsa-bot@test", transport=transport)
    try:
        yield transport
    finally:
        error_reports.stop()
    assert not sentry_sdk.get_client().is_active()


def embargoed_fragments(*extra: str) -> list[str]:
    return [TITLE, DESCRIPTION, REPORTER, *extra]


def assert_nothing_embargoed(transport: CapturingTransport, *extra: str) -> None:
    everything = b"".join(transport.envelopes)
    for fragment in embargoed_fragments(*extra):
        assert fragment.encode() not in everything, fragment
        assert fragment.lower().encode() not in everything.lower(), fragment


async def test_a_handler_failing_on_an_embargoed_report_sends_the_error_and_none_of_its_text(
    reports: CapturingTransport, start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    bot: BotUnderTest = await start_bot(BOT_MAX_ATTEMPTS="1")
    await bot.started()
    await bot.settle()
    roster = bot.services.team_data.roster()
    fake.team_members[("python", "psrt")] = {entry.login: "active" for entry in roster}
    advisory = fake.new_advisory(
        "python/cpython", summary=TITLE, description=DESCRIPTION, reporter=REPORTER
    )
    ghsa_id = advisory["ghsa_id"]
    # GitHub refuses the triage's PATCH, and its message quotes the report (as a 422 does).
    fault = fake.inject(
        f"^/repos/python/cpython/security-advisories/{ghsa_id}$",
        method="PATCH",
        status=422,
        body={
            "message": f"Validation Failed: {TITLE}",
            "errors": [
                {
                    "resource": "RepositoryAdvisory",
                    "field": "summary",
                    "code": "custom",
                    "message": f"summary {TITLE} {DESCRIPTION} is not allowed",
                }
            ],
        },
        times=5,
    )
    # What the SDK built before the bot's before_send cut it (the SDK's own hook, watched).
    options = sentry_sdk.get_client().options
    scrub = options["before_send"]
    unscrubbed: list[str] = []

    def watched(event: Any, hint: Any) -> Any:
        unscrubbed.append(json.dumps(event, default=str))
        return scrub(event, hint)

    options["before_send"] = watched
    payload = reported_payload(bot, advisory, REPORTER)
    payload["repository_advisory"]["summary"] = TITLE
    payload["repository_advisory"]["description"] = DESCRIPTION
    sent = await bot.send("repository_advisory", payload)
    assert sent.status == 202
    await bot.settle()
    stored = await bot.services.store.get_delivery(sent.guid)
    assert stored is not None and stored.state == "failed" and fault.times < 5
    error_reports.flush()

    assert any(TITLE in raw for raw in unscrubbed)  # the exception did quote the report
    events = reports.events()
    assert len(events) >= 1
    event = events[0]
    exception = event["exception"]["values"][-1]
    assert exception["type"] == "ValidationError"  # gidgethub's, for GitHub's 422
    assert exception["value"] == "ValidationError"  # the type again, never the message
    frames = exception["stacktrace"]["frames"]
    assert any(frame["module"] == "handlers.triage" for frame in frames)
    assert all(
        set(frame) <= {"module", "function", "filename", "lineno", "in_app"} for frame in frames
    )
    assert event["tags"]["event"] == "repository_advisory"
    assert event["tags"]["handler"].startswith("handlers.triage.")
    assert set(event) <= {
        "event_id",
        "timestamp",
        "level",
        "platform",
        "release",
        "environment",
        "exception",
        "tags",
        "sdk",
    }
    assert_nothing_embargoed(reports, ghsa_id, "python/cpython", "Validation Failed")


async def test_logs_and_messages_are_never_sent_nor_made_breadcrumbs(
    reports: CapturingTransport,
) -> None:
    log = logging.getLogger("ghsa_bot.worker")
    log.error("handler failed on %s", TITLE)
    log.warning("handler failed", extra={"title": TITLE})
    try:
        raise ValueError(f"bad {TITLE}")
    except ValueError:
        log.exception("handler failed while reading %s", DESCRIPTION)
    sentry_sdk.capture_message(f"about {TITLE}")
    sentry_sdk.add_breadcrumb(message=DESCRIPTION, category="log")
    error_reports.report_exception(KeyError(REPORTER), handler="handlers.triage.reported")
    error_reports.flush()
    assert len(reports.events()) == 1  # only the reported exception
    event = reports.events()[0]
    assert "breadcrumbs" not in event or not event["breadcrumbs"].get("values")
    assert event["exception"]["values"][-1]["value"] == "KeyError"
    assert_nothing_embargoed(reports)


async def test_tags_outside_the_allow_list_or_not_plain_are_dropped(
    reports: CapturingTransport,
) -> None:
    sentry_sdk.set_tag("repository", "python/cpython")
    sentry_sdk.set_user({"username": REPORTER})
    sentry_sdk.set_extra("title", TITLE)
    sentry_sdk.set_context("advisory", {"summary": TITLE})
    try:
        error_reports.report_exception(
            RuntimeError(TITLE), event="repository_advisory", handler=f"x {TITLE} y", ghsa=TITLE
        )
        error_reports.flush()
    finally:
        sentry_sdk.get_isolation_scope().clear()
    event = reports.events()[0]
    assert event["tags"] == {"event": "repository_advisory"}
    assert_nothing_embargoed(reports, "python/cpython")


def test_the_allow_list_keeps_only_what_it_names() -> None:
    """An event as the SDK builds it, with everything a default setup would add."""

    def fail(report: dict[str, str]) -> None:
        secret_local = report["description"]  # noqa: F841 - a local the SDK could collect
        raise ValueError(f"cannot parse {report['title']}") from KeyError(report["title"])

    try:
        fail({"title": TITLE, "description": DESCRIPTION})
    except ValueError:
        raw, _ = event_from_exception(sys.exc_info())  # locals and source included
    raw.update(
        {
            "message": TITLE,
            "logentry": {"message": TITLE},
            "request": {"data": DESCRIPTION, "headers": {"Cookie": "x"}},
            "user": {"username": REPORTER},
            "extra": {"title": TITLE},
            "contexts": {"advisory": {"summary": TITLE}},
            "breadcrumbs": {"values": [{"message": DESCRIPTION}]},
            "tags": {"event": "repository_advisory", "title": TITLE},
            "server_name": "host",
            "modules": {"x": "1"},
            "level": "error",
        }
    )
    assert TITLE in json.dumps(raw, default=str) and DESCRIPTION in json.dumps(raw, default=str)
    scrubbed = scrub_event(raw, {})  # type: ignore[arg-type]
    assert scrubbed is not None
    text = json.dumps(scrubbed)
    for fragment in embargoed_fragments():
        assert fragment not in text, fragment
    types = [value["type"] for value in scrubbed["exception"]["values"]]
    assert types == ["KeyError", "ValueError"]  # the cause and the error, by type
    assert [value["value"] for value in scrubbed["exception"]["values"]] == types
    assert scrubbed["tags"] == {"event": "repository_advisory"}
    assert "fail" in {
        f["function"] for f in scrubbed["exception"]["values"][-1]["stacktrace"]["frames"]
    }
    # An event that is not an exception (a message, a log record) is dropped whole.
    assert scrub_event({"message": TITLE, "level": "error"}, {}) is None  # type: ignore[arg-type]
    assert scrub_event({"exception": {"values": []}}, {}) is None  # type: ignore[typeddict-item]


def test_nothing_is_reported_before_start() -> None:
    assert not error_reports.enabled()
    error_reports.report_exception(ValueError(TITLE), handler="h")  # a no-op, no error


# -- ghsa-bot serve ------------------------------------------------------------------------


async def test_serve_without_sentry_sdk_refuses_in_one_line(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    shadow = tmp_path / "no-sentry" / "sentry_sdk"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('sentry-sdk is not installed')\n")
    env = {**bot_env, "SENTRY_DSN": DSN, "PYTHONPATH": str(shadow.parent), "PORT": str(free_port())}
    code, _, err = await run_cli(env, "serve")
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "SENTRY_DSN" in lines[0] and "ghsa-bot[sentry]" in lines[0]
    assert "publickey" not in err


@pytest.mark.parametrize(
    "dsn", ["ftp://secretkey@sentry.example/1", "not a dsn secretkey", "https://sentry.example/1"]
)
async def test_serve_with_a_dsn_that_is_not_one_refuses_without_repeating_it(
    bot_env: dict[str, str], dsn: str
) -> None:
    env = {**bot_env, "SENTRY_DSN": dsn, "PORT": str(free_port())}
    code, _, err = await run_cli(env, "serve")
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "SENTRY_DSN" in lines[0], err
    assert "secretkey" not in err and "sentry.example" not in err


async def test_serve_reports_to_the_dsn_without_the_reports_text(
    bot_env: dict[str, str], fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    """The whole path in its own process: serve starts the SDK from SENTRY_DSN, a handler
    fails, and what reaches "Sentry" (a local server) over HTTP has the error, no text."""
    fake, _ = fake_github
    received: list[bytes] = []

    async def sentry(request: web.Request) -> web.Response:
        received.append(await request.read())  # aiohttp undoes Content-Encoding
        return web.json_response({"id": uuid.uuid4().hex})

    async with catch_all_server(sentry) as sentry_url:
        dsn = sentry_url.replace("http://", "http://publickey@") + "/7"
        env = {**bot_env, "SENTRY_DSN": dsn, "BOT_MAX_ATTEMPTS": "1", "LOG_LEVEL": "INFO"}
        process = BotProcess(env, free_port(), tmp_path / "serve.log")
        async with aiohttp.ClientSession() as session:
            await process.start(session)
            advisory = fake.new_advisory(
                "python/cpython", summary=TITLE, description=DESCRIPTION, reporter=REPORTER
            )
            fake.inject(
                f"^/repos/python/cpython/security-advisories/{advisory['ghsa_id']}$",
                method="PATCH",
                status=422,
                body={"message": f"Validation Failed: {TITLE} {DESCRIPTION}"},
                times=5,
            )
            payload = load_payload("repository_advisory/reported.payload.json")
            payload["installation"] = {"id": fake.primary_installation, "node_id": "x"}  # type: ignore[attr-defined]
            payload["repository"]["full_name"] = "python/cpython"
            payload["repository_advisory"].update(
                ghsa_id=advisory["ghsa_id"], summary=TITLE, description=DESCRIPTION
            )
            payload["sender"]["login"] = REPORTER
            sent = await send_webhook(
                session,
                process.url,
                "repository_advisory",
                payload,
                bot_env["GITHUB_WEBHOOK_SECRET"].encode(),
            )
            assert sent.status == 202
            deadline = time.monotonic() + 20
            while not any(b'"exception"' in body for body in received):
                assert time.monotonic() < deadline, process.log.read_text()[-2000:]
                await asyncio.sleep(0.1)
            assert await process.stop() in (0, -15)
    everything = b"".join(received)
    assert b'"handler":"handlers.triage.' in everything  # the error, tagged with its handler
    assert b'"event":"repository_advisory"' in everything
    for fragment in embargoed_fragments(advisory["ghsa_id"], "python/cpython"):
        assert fragment.encode() not in everything, fragment


async def test_a_plain_http_dsn_to_another_host_is_warned_about(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    shadow = tmp_path / "no-sentry" / "sentry_sdk"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('sentry-sdk is not installed')\n")
    env = {
        **bot_env,
        "SENTRY_DSN": "http://publickey@sentry.example/1",
        "PYTHONPATH": str(shadow.parent),
        "PORT": str(free_port()),
    }
    code, _, err = await run_cli(env, "serve")
    assert code == 2
    assert "SENTRY_DSN is plain http to sentry.example" in err and "publickey" not in err
