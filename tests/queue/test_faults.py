"""GitHub misbehaving while a report comes in: acks stay fast, the work is done once.

Each scenario injects a fault on the advisory endpoints the triage flow uses
(read, PATCH, comments), files a report, and checks: the webhook was acked at
once; the delivery is handled in the end; the acknowledgement comment, the
reporter's credit and the team's access each happen exactly once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from handlers.triage import ACK_MARKER
from tests.fakegithub import FakeGitHub
from tests.harness import REPORT, SteppedClock, reported_payload, start_with_team

ADVISORIES = "^/repos/python/cpython/security-advisories"
COMMENTS = ADVISORIES + "/GHSA-[^/]+/comments$"
SECONDARY = {"message": "You have exceeded a secondary rate limit."}


def scenarios(now: float) -> dict[str, list[dict[str, Any]]]:
    """Faults by name: each a list of `FakeGitHub.inject` arguments."""
    burst = {"path": ADVISORIES, "times": 3}
    return {
        "500 burst": [{**burst, "status": 500}],
        "502 burst": [{**burst, "status": 502}],
        "503 burst": [{**burst, "status": 503}],
        "403 secondary limit with retry-after": [
            {**burst, "status": 403, "headers": {"retry-after": "1"}, "body": SECONDARY}
        ],
        "403 secondary limit without retry-after": [
            {**burst, "times": 1, "status": 403, "body": SECONDARY}
        ],
        "429 with retry-after": [{**burst, "status": 429, "headers": {"retry-after": "1"}}],
        "429 without retry-after": [{**burst, "times": 1, "status": 429}],
        "primary limit exhausted": [
            {
                **burst,
                "times": 1,
                "status": 403,
                "headers": {
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": str(int(now) + 1),
                },
                "body": {"message": "API rate limit exceeded"},
            }
        ],
        "timeouts": [{**burst, "times": 2, "delay": 2.5}],
        "dropped connections": [{**burst, "drop": True}],
        "comment made, answer lost": [
            {"path": COMMENTS, "method": "POST", "times": 1, "drop_after": True}
        ],
        "PATCH made, answer lost": [
            {"path": ADVISORIES + "/GHSA-[^/]+$", "method": "PATCH", "drop_after": True}
        ],
        "5 s per request": [{**burst, "times": 3, "delay": 5.0}],
    }


SCENARIO_NAMES = list(scenarios(0.0))


async def handled(bot: Any, clock: SteppedClock, guid: str, limit_seconds: float) -> Any:
    """Wait for the delivery to finish; a retry deferred by a long rate-limit wait
    is brought forward by moving the bot's clock past it, as time would."""
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        stored = await bot.services.store.get_delivery(guid)
        if stored is not None and stored.state in ("done", "failed"):
            return stored
        if stored is not None and stored.state == "queued" and stored.next_attempt_at > clock.now():
            clock.advance(stored.next_attempt_at - clock.now() + 0.01)
            bot.services.worker.notify()
        await asyncio.sleep(0.05)
    summary = stored and (stored.state, stored.attempts, stored.last_error)
    raise AssertionError(f"delivery not handled in {limit_seconds} s: {summary}")


@pytest.mark.parametrize("name", SCENARIO_NAMES)
async def test_a_report_under_github_faults_is_handled_once(
    name: str, start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    clock = SteppedClock()
    # Requests time out after 1 s; a rate-limit wait over 5 s is handed back to the
    # worker as a scheduled retry (the clock is moved past it, see `handled`).
    # ("5 s per request" keeps the default 30 s timeout: slow, not timed out.)
    timeout = "30" if name == "5 s per request" else "1"
    bot = await start_with_team(
        start_bot, fake, clock, BOT_GITHUB_TIMEOUT_SECONDS=timeout, BOT_MAX_INLINE_WAIT_SECONDS="5"
    )
    advisory = fake.new_advisory("python/cpython", summary="s", description=REPORT, reporter="r")
    for fault in scenarios(time.time())[name]:
        fake.inject(**fault)

    started = time.monotonic()
    sent = await bot.send("repository_advisory", reported_payload(bot, advisory, "r"))
    acked_in = time.monotonic() - started
    assert sent.status == 202
    # The ack never waits for GitHub: it is back long before one slow request is.
    assert acked_in < 1.0, f"ack took {acked_in:.2f} s"

    stored = await handled(bot, clock, sent.guid, limit_seconds=60)
    assert stored.state == "done", stored.last_error
    assert all(fault.times == 0 for fault in fake.faults), "the fault was not exercised"

    comments = fake.comments[("python/cpython", advisory["ghsa_id"])]
    acknowledgements = [c for c in comments if c["body"].startswith(ACK_MARKER)]
    assert len(acknowledgements) == 1
    credits = [c for c in advisory["credits_detailed"] if c["user"]["login"] == "r"]
    assert [c["type"] for c in credits] == ["reporter"]
    assert [team["slug"] for team in advisory["collaborating_teams"]] == ["psrt"]
    log = await bot.services.advisories.audit_log("python/cpython", advisory["ghsa_id"])
    actions = [entry.action for entry in log]
    assert actions.count("acknowledged") == 1 and actions.count("access-and-credit") == 1
