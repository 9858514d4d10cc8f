"""Missed deliveries: GitHub does not retry, so the bot asks for what it never stored."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tests.conftest import free_port
from tests.fakegithub import FakeGitHub
from tests.harness import BotUnderTest, repositories_added


async def deliveries_settled(fake: FakeGitHub) -> None:
    while fake.background:
        await asyncio.gather(*list(fake.background))


def added_payload(bot: BotUnderTest, fake: FakeGitHub, repository: str) -> dict[str, Any]:
    return repositories_added(fake, bot.installation_id, repository)


async def test_failed_deliveries_missing_from_the_store_are_redelivered_once(
    bot: BotUnderTest, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    await bot.started()
    assert fake.requests_to("^/app/hook/deliveries$", "GET"), "no check on start"
    fake.webhook_secret = bot.secret
    fake.webhook_url = f"http://127.0.0.1:{free_port()}"  # the bot is unreachable
    fake.clock = lambda: time.time() - 4 * 24 * 3600  # older than GitHub's redelivery window
    too_old = await fake.deliver_webhook(
        "installation_repositories", added_payload(bot, fake, "python/old")
    )
    fake.clock = time.time
    missed = await fake.deliver_webhook(
        "installation_repositories", added_payload(bot, fake, "python/peps")
    )
    unhandled = await fake.deliver_webhook("star", {"action": "created"})
    later = await fake.deliver_webhook(
        "installation_repositories", added_payload(bot, fake, "python/devguide")
    )
    # The first one redelivered by hand, while still down: its latest attempt is the newest.
    event, body = fake.hook_requests[missed["id"]]
    retried = await fake.deliver_webhook(
        event, json.loads(body), guid=missed["guid"], redelivery=True
    )
    fake.webhook_url = bot.url  # back up
    stored = await fake.deliver_webhook(
        "installation_repositories", added_payload(bot, fake, "python/typeshed")
    )
    assert [missed["status_code"], stored["status_code"]] == [0, 202]

    report = await bot.services.recovery.recover_once()
    await deliveries_settled(fake)
    await bot.settle()

    # Asked for in the order they were first sent (each by its latest attempt).
    assert report.redelivered == [missed["guid"], later["guid"]]
    assert fake.redeliveries == [retried["id"], later["id"]]
    assert unhandled["guid"] not in report.redelivered and too_old["guid"] not in report.redelivered
    recovered = await bot.services.store.get_delivery(missed["guid"])
    assert recovered is not None and recovered.state == "done"
    names = {repo.full_name for repo in await bot.services.installations.repositories()}
    assert "python/peps" in names
    metric = bot.services.metrics.deliveries_recovered.get(outcome="redelivery_requested")
    assert metric == 2

    # The next check finds the GUID stored: nothing is asked for twice.
    again = await bot.services.recovery.recover_once()
    assert again.redelivered == [] and fake.redeliveries == [retried["id"], later["id"]]


async def test_a_delivery_the_bot_keeps_refusing_is_given_up_after_three_tries(
    bot: BotUnderTest, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    await bot.started()
    fake.webhook_url = bot.url
    fake.webhook_secret = b"a secret the bot no longer has"  # rotated on one side only
    refused = await fake.deliver_webhook(
        "installation_repositories", added_payload(bot, fake, "python/peps")
    )
    assert refused["status_code"] == 401
    recovery = bot.services.recovery
    assert recovery is not None
    for _ in range(3):
        report = await recovery.recover_once()
        assert report.redelivered == [refused["guid"]]
        await deliveries_settled(fake)
    final = await recovery.recover_once()
    assert final.redelivered == [] and final.given_up == [refused["guid"]]
    assert len(fake.redeliveries) == 3
    assert [item["status_code"] for item in fake.hook_deliveries] == [401] * 4
    assert bot.services.metrics.deliveries_recovered.get(outcome="given_up") == 1
