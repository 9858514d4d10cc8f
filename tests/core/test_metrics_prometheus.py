"""`/metrics` as prometheus_client renders it, scraped over HTTP from the running bot.

- the whole scrape parses with prometheus_client's own parser;
- a counter past a million is exact (no six-digit rounding);
- histogram buckets are cumulative: `+Inf` is at least every other bucket and
  equals `_count`, with the buckets the bot always had;
- the standard process, platform and GC collectors are there, on a registry of
  each bot's own (two bots in one process do not clash);
- `ghsa_bot_build_info{version}` is 1; the leader gauge says whether it leads;
- the parked gauge counts a parked delivery; the queue gauges come from one
  indexed count per state, never a count of the whole table.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from importlib import metadata
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from bot.core.metrics import ACK_BUCKETS, DURATION_BUCKETS, Metrics, safe_label
from bot.queue.leadership import Leadership
from bot.queue.store import QUEUE_COUNT_SQL
from tests.databases import query
from tests.fakegithub import FakeGitHub
from tests.harness import BotUnderTest


async def scrape(bot: BotUnderTest, accept: str | None = None) -> tuple[str, str]:
    """The body and content type of GET /metrics, as a loopback scraper gets them."""
    headers = {"Accept": accept} if accept else {}
    async with bot.session.get(f"{bot.url}/metrics", headers=headers) as response:
        assert response.status == 200
        return await response.text(), response.headers["Content-Type"]


def samples(text: str) -> list[Sample]:
    """Every sample, through prometheus_client's own parser (it raises on bad text)."""
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value(text: str, name: str, **labels: str) -> float:
    found = [s.value for s in samples(text) if s.name == name and s.labels == labels]
    assert len(found) == 1, (name, labels, found)
    return float(found[0])


def raw_value(text: str, name: str) -> str:
    """A sample's value exactly as written in the text."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert match is not None, name
    return match.group(1)


async def test_the_scrape_parses_and_a_counter_past_a_million_is_exact(bot: BotUnderTest) -> None:
    metrics = bot.services.metrics
    metrics.deliveries.inc(1_234_567, event="ping", outcome="pong")
    metrics.poll_deferred.inc(123_456_789_012)
    metrics.poll_last_success.set(1_795_823_523.25)
    text, content_type = await scrape(bot)
    assert content_type.startswith("text/plain")
    assert value(text, "ghsa_bot_deliveries_total", event="ping", outcome="pong") == 1_234_567
    written = raw_value(text, "ghsa_bot_poll_deferred_total")
    assert float(written) == 123_456_789_012  # every digit kept
    assert "1.23457e+06" not in text and "1.23457e+11" not in text
    written = raw_value(text, 'ghsa_bot_deliveries_total{event="ping",outcome="pong"}')
    assert float(written) == 1_234_567 and "1234567" in written.replace(".", "")
    stamp = raw_value(text, "ghsa_bot_poll_last_success_timestamp_seconds")
    assert float(stamp) == 1_795_823_523.25  # a timestamp to the quarter second


async def test_openmetrics_is_served_to_a_scraper_that_asks_for_it(bot: BotUnderTest) -> None:
    accept = "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
    text, content_type = await scrape(bot, accept)
    assert content_type.startswith("application/openmetrics-text")
    assert text.endswith("# EOF\n")


async def test_histogram_buckets_are_cumulative_with_the_buckets_the_bot_had(
    bot: BotUnderTest,
) -> None:
    for _ in range(3):  # stored deliveries: the ack histogram, then the handlers'
        sent = await bot.send(
            "installation_repositories", bot.payload("installation_repositories/added.payload.json")
        )
        assert sent.status == 202
    await bot.settle()
    metrics = bot.services.metrics
    # Values on the bounds, between them and past the last one.
    for observed in (0.0005, 0.004, 1, 1.5, 60, 61, 10_000):
        metrics.ack_duration.observe(observed)
        metrics.poll_cycle_duration.observe(observed)
    text, _ = await scrape(bot)
    families = {family.name: family for family in text_string_to_metric_families(text)}
    expected = {
        "ghsa_bot_webhook_ack_seconds": ACK_BUCKETS,
        "ghsa_bot_poll_cycle_seconds": DURATION_BUCKETS,
        "ghsa_bot_handler_duration_seconds": DURATION_BUCKETS,
    }
    for name, bounds in expected.items():
        family = families[name]
        assert family.type == "histogram"
        series: dict[tuple[tuple[str, str], ...], dict[str, float]] = {}
        counts: dict[tuple[tuple[str, str], ...], float] = {}
        for sample in family.samples:
            key = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
            if sample.name.endswith("_bucket"):
                series.setdefault(key, {})[sample.labels["le"]] = sample.value
            elif sample.name.endswith("_count"):
                counts[key] = sample.value
        assert series, name
        for key, buckets in series.items():
            assert [float(le) for le in buckets if le != "+Inf"] == [float(b) for b in bounds]
            ordered = [buckets[le] for le in buckets]  # in the order written
            assert ordered == sorted(ordered), (name, key)  # cumulative
            assert buckets["+Inf"] >= max(ordered) and buckets["+Inf"] == counts[key]
    ack = {
        s.labels["le"]: s.value
        for s in families["ghsa_bot_webhook_ack_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert ack["+Inf"] == 3 + 7
    assert ack["1.0"] == 3 + 3  # 0.0005, 0.004 and 1 are within 1 s: a bound is inclusive


async def test_process_platform_and_build_metrics_are_there(bot: BotUnderTest) -> None:
    text, _ = await scrape(bot)
    names = {sample.name for sample in samples(text)}
    if sys.platform.startswith("linux"):
        assert {
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        } <= names
    assert "python_info" in names and "python_gc_collections_total" in names
    version = metadata.version("ghsa-bot")
    assert value(text, "ghsa_bot_build_info", version=version) == 1
    # Conventions: counters end in _total, durations are in seconds.
    for family in text_string_to_metric_families(text):
        if family.name.startswith("ghsa_bot_") and family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), family.name


async def test_each_bot_has_a_registry_of_its_own(start_bot: Any) -> None:
    first: BotUnderTest = await start_bot()
    second: BotUnderTest = await start_bot()
    first.services.metrics.rate_limit_waits.inc(5)
    one, _ = await scrape(first)
    two, _ = await scrape(second)
    assert value(one, "ghsa_bot_github_rate_limit_waits_total") == 5
    assert value(two, "ghsa_bot_github_rate_limit_waits_total") == 0
    assert "process_cpu_seconds_total" in one and "process_cpu_seconds_total" in two


async def test_the_leader_gauge_says_whether_this_replica_leads(bot: BotUnderTest) -> None:
    await bot.started()  # the first poll runs on the leader
    text, _ = await scrape(bot)
    assert value(text, "ghsa_bot_leader") == 1
    # Another replica on the same database takes the lease once this one lets it go.
    other = Leadership(bot.services.store.database, seconds=60)
    for _ in range(20):
        await bot.services.leadership.release()
        if await other.renew_once():
            break
    assert other.held
    await bot.services.leadership.renew_once()  # this replica's next renewal: refused
    text, _ = await scrape(bot)
    assert value(text, "ghsa_bot_leader") == 0


async def test_the_parked_gauge_counts_a_parked_delivery(
    start_bot: Any, fake_github: tuple[FakeGitHub, str], database_url: str
) -> None:
    fake, _ = fake_github
    bot: BotUnderTest = await start_bot(BOT_MAX_ATTEMPTS="1")
    await bot.started()
    await bot.settle()
    text, _ = await scrape(bot)
    assert value(text, "ghsa_bot_queue_deliveries", state="parked") == 0
    fake.inject(
        "^/installation/repositories$",
        status=403,
        body={"message": "Resource not accessible by integration"},
        times=10,
    )
    sent = await bot.send(
        "installation_repositories", bot.payload("installation_repositories/added.payload.json")
    )
    deadline = time.monotonic() + 10
    while (stored := await bot.services.store.get_delivery(sent.guid)) is None or (
        stored.state != "failed"
    ):
        assert time.monotonic() < deadline, stored
        await asyncio.sleep(0.02)
    await bot.settle()
    text, _ = await scrape(bot)
    parked = query(database_url, "SELECT COUNT(*) FROM deliveries WHERE state = 'failed'")
    assert parked[0][0] == 1
    assert value(text, "ghsa_bot_queue_deliveries", state="parked") == 1
    for state in ("queued", "waiting", "running"):
        assert value(text, "ghsa_bot_queue_deliveries", state=state) == 0
    assert value(text, "ghsa_bot_queue_depth") == 0
    assert (
        value(
            text,
            "ghsa_bot_deliveries_handled_total",
            event="installation_repositories",
            outcome="failed",
        )
        == 1
    )


@pytest.mark.database_leg("sqlite")
async def test_a_scrape_counts_by_state_on_the_index_never_the_whole_table(
    bot: BotUnderTest,
) -> None:
    """The statements a scrape runs, as SQLite traces them, and their plan."""
    await bot.settle()
    statements: list[str] = []
    database = bot.services.store.database
    await database.run(lambda c: c.set_trace_callback(statements.append))  # type: ignore[attr-defined]
    try:
        text, _ = await scrape(bot)
    finally:
        await database.run(lambda c: c.set_trace_callback(None))  # type: ignore[attr-defined]
    assert "ghsa_bot_queue_deliveries" in text
    counts = [s for s in statements if "count(" in s.lower()]
    assert len(counts) == 4, statements  # queued, waiting, running, failed
    for statement in counts:
        assert re.search(r"WHERE state = ('\w+'|\?)$", statement), statement
        assert "GROUP BY" not in statement.upper()
    plan = await database.run(
        lambda c: c.execute("EXPLAIN QUERY PLAN " + QUEUE_COUNT_SQL, ("failed",)).fetchall()
    )
    details = " ".join(str(row[-1]) for row in plan)
    assert "USING COVERING INDEX deliveries_by_state (state=?)" in details, details
    assert "SCAN" not in details, details


@pytest.mark.database_leg("postgresql")
async def test_the_per_state_count_uses_the_index_on_postgresql(
    bot: BotUnderTest, database_url: str
) -> None:
    """With many handled deliveries (the table's usual shape), PostgreSQL's plan for
    the scrape's count reads the state index, not the table."""
    import psycopg

    await bot.settle()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO deliveries (guid, event, installation_id, order_key, source, payload, "
            "received_at, next_attempt_at, state) SELECT 'done-' || n, 'push', 1, 'k' || n, "
            "'webhook', '', 0, 0, 'done' FROM generate_series(1, 20000) AS n"
        )
        connection.execute("ANALYZE deliveries")
    plan = query(database_url, "EXPLAIN " + QUEUE_COUNT_SQL.replace("?", "'failed'"))
    text = "\n".join(str(row[0]) for row in plan)
    assert "deliveries_by_state" in text, text
    assert "Seq Scan" not in text, text
    scraped, _ = await scrape(bot)
    assert value(scraped, "ghsa_bot_queue_deliveries", state="parked") == 0


def test_label_values_that_are_not_plain_tokens_become_other() -> None:
    metrics = Metrics(version="1.2.3")
    metrics.deliveries.inc(event="python/cpython GHSA-xxxx-yyyy-zzzz", outcome="stored")
    metrics.handled.inc(event="repository_advisory", outcome='x"} 1\nfake_metric 9')
    text = metrics.render()
    assert "cpython" not in text and "GHSA" not in text and "fake_metric" not in text
    assert value(text, "ghsa_bot_deliveries_total", event="other", outcome="stored") == 1
    assert safe_label("handlers.triage.reported") == "handlers.triage.reported"
    assert safe_label("") == "other" and safe_label("a" * 101) == "other"
    assert value(text, "ghsa_bot_build_info", version="1.2.3") == 1
