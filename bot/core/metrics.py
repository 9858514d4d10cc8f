"""The bot's Prometheus metrics, kept and rendered by `prometheus_client`.

Each :class:`Metrics` has a registry of its own (never the library's global
one), so several bots in one process (the tests) do not clash, with the
standard collectors on it: `process_*` (CPU, memory, file descriptors, start
time; on Linux), `python_info` and `python_gc_*`. Rendering is the library's:
values are exact (Go's shortest form, `1.234567e+06` is 1234567), histogram
buckets are cumulative by construction, and the format follows the scraper's
`Accept` header (Prometheus text, or OpenMetrics).

Names follow Prometheus' conventions: the unit in the name (`_seconds`,
`_timestamp_seconds`), `_total` on counters, `_info` for the build.

Labels carry only event names, outcomes, handler and job names, HTTP methods
and statuses, and delivery states: never repository names, advisory ids or
text, so nothing embargoed leaks. A label value that is not a short plain
token (letters, digits, `_ . : -`) is replaced by `other` (:func:`safe_label`),
which also bounds the number of series a caller's mistake could create.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client import Counter as _Counter
from prometheus_client import Gauge as _Gauge
from prometheus_client import Histogram as _Histogram
from prometheus_client.exposition import choose_encoder

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
ACK_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.5, 1)

# The store's delivery states the queue gauges report, and the label each gets:
# a parked delivery is stored as `failed`.
QUEUE_STATES = {"queued": "queued", "waiting": "waiting", "running": "running", "failed": "parked"}
PENDING_STATES = ("queued", "waiting", "running")

_SAFE_LABEL = re.compile(r"[A-Za-z0-9_.:\-]{1,100}")


def safe_label(value: str) -> str:
    """`value` when it is a short plain token (an event, handler or status), else `other`."""
    return value if _SAFE_LABEL.fullmatch(value) else "other"


def build_version() -> str:
    """The installed ghsa-bot's version, or `unknown` when run from an uninstalled tree."""
    try:
        return metadata.version("ghsa-bot")
    except metadata.PackageNotFoundError:
        return "unknown"


# The most label combinations a metric remembers its series for (see _Metric._series).
_SERIES_CACHE_LIMIT = 1024


class _Metric:
    """What the bot's wrappers share: the library's metric and its label names."""

    def __init__(self, name: str, labelnames: Iterable[str]) -> None:
        self.name = name
        self.labelnames = tuple(labelnames)
        self._series_cache: dict[tuple[tuple[str, str], ...], Any] = {}

    def _labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {tuple(labels)}")
        return {name: safe_label(str(value)) for name, value in labels.items()}

    def _series(self, metric: Any, labels: Mapping[str, str]) -> Any:
        """The library's series for `labels` (checked): the metric itself when unlabelled.

        Each combination is checked and looked up once, then remembered: intake
        counts every delivery, and the check and the library's lookup were a few
        per cent of an acknowledgement's CPU. At most _SERIES_CACHE_LIMIT are
        remembered, so a caller passing unbounded values costs lookups, not memory.
        """
        key = tuple(labels.items())
        series = self._series_cache.get(key)
        if series is None:
            checked = self._labels(labels)
            series = metric.labels(**checked) if self.labelnames else metric
            if len(self._series_cache) < _SERIES_CACHE_LIMIT:
                self._series_cache[key] = series
        return series


class Counter(_Metric):
    """A count that only goes up; `get` reads one series back (tests, the CLI)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        name: str,
        help_text: str,
        labelnames: Iterable[str] = (),
    ) -> None:
        super().__init__(name, labelnames)
        self._counter = _Counter(name, help_text, self.labelnames, registry=registry)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self._series(self._counter, labels).inc(amount)

    def get(self, **labels: str) -> float:
        wanted = self._labels(labels)
        for family in self._counter.collect():
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels == wanted:
                    return float(sample.value)
        return 0.0


class Gauge(_Metric):
    """A value that goes up and down, or one read by `reader` when scraped."""

    def __init__(
        self,
        registry: CollectorRegistry,
        name: str,
        help_text: str,
        labelnames: Iterable[str] = (),
    ) -> None:
        super().__init__(name, labelnames)
        self._gauge = _Gauge(name, help_text, self.labelnames, registry=registry)
        self._reader: Callable[[], float] | None = None

    @property
    def reader(self) -> Callable[[], float] | None:
        return self._reader

    @reader.setter
    def reader(self, reader: Callable[[], float]) -> None:
        """Read the value at scrape time (a cheap, in-memory callable only)."""
        if self.labelnames:
            raise ValueError(f"{self.name} has labels; a reader serves unlabelled gauges")
        self._reader = reader
        self._gauge.set_function(reader)

    def set(self, value: float, **labels: str) -> None:
        self._series(self._gauge, labels).set(value)

    def get(self, **labels: str) -> float:
        wanted = self._labels(labels)
        for family in self._gauge.collect():
            for sample in family.samples:
                if sample.labels == wanted:
                    return float(sample.value)
        return 0.0


class Histogram(_Metric):
    """Observations counted into fixed buckets (cumulative, `+Inf` included)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        name: str,
        help_text: str,
        buckets: tuple[float, ...] = DURATION_BUCKETS,
        labelnames: Iterable[str] = (),
    ) -> None:
        super().__init__(name, labelnames)
        self.buckets = buckets
        self._histogram = _Histogram(
            name, help_text, self.labelnames, registry=registry, buckets=buckets
        )

    def observe(self, value: float, **labels: str) -> None:
        self._series(self._histogram, labels).observe(value)


class Metrics:
    """Every metric the bot exports, on one registry of its own."""

    def __init__(self, *, version: str | None = None) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.build_info = Info(
            "ghsa_bot_build",
            "The running ghsa-bot's version (the value is always 1).",
            registry=registry,
        )
        self.build_info.info({"version": safe_label(version or build_version())})

        self.deliveries = Counter(
            registry,
            "ghsa_bot_deliveries_total",
            "Webhook deliveries by event and outcome.",
            ("event", "outcome"),
        )
        self.handled = Counter(
            registry,
            "ghsa_bot_deliveries_handled_total",
            "Deliveries the worker finished, by event and outcome.",
            ("event", "outcome"),
        )
        self.ack_duration = Histogram(
            registry,
            "ghsa_bot_webhook_ack_seconds",
            "From the request's arrival to the answer being ready, for stored deliveries.",
            ACK_BUCKETS,
        )
        self.queue_depth = Gauge(
            registry,
            "ghsa_bot_queue_depth",
            "Deliveries waiting or running (queued, waiting and running), at the last scrape.",
        )
        self.queue_deliveries = Gauge(
            registry,
            "ghsa_bot_queue_deliveries",
            "Stored deliveries by state (queued, waiting behind another of their "
            "advisory, running, parked after their last attempt), at the last scrape.",
            ("state",),
        )
        self.handler_duration = Histogram(
            registry,
            "ghsa_bot_handler_duration_seconds",
            "Time spent in each handler.",
            labelnames=("handler",),
        )
        self.github_requests = Counter(
            registry,
            "ghsa_bot_github_requests_total",
            "Requests to GitHub by method and status.",
            ("method", "status"),
        )
        self.rate_limit_remaining = Gauge(
            registry,
            "ghsa_bot_github_rate_limit_remaining",
            "The lowest x-ratelimit-remaining GitHub reported recently.",
        )
        self.rate_limit_waits = Counter(
            registry,
            "ghsa_bot_github_rate_limit_waits_total",
            "Times the bot waited for a rate limit.",
        )
        self.github_points = Counter(
            registry,
            "ghsa_bot_github_points_total",
            "GitHub secondary-limit points spent (GET 1, mutation 5), by source (poller or other).",
            ("source",),
        )
        self.github_points_used = Gauge(
            registry,
            "ghsa_bot_github_points_used",
            "Points spent in the last minute (the budget's window).",
        )
        self.github_points_limit = Gauge(
            registry,
            "ghsa_bot_github_points_limit",
            "The budget: github.points_per_minute.",
        )
        self.github_budget_waits = Counter(
            registry,
            "ghsa_bot_github_budget_waits_total",
            "Requests that waited for the points budget, by source (poller or other).",
            ("source",),
        )
        self.poll_cycle_duration = Histogram(
            registry, "ghsa_bot_poll_cycle_seconds", "How long one advisory poll cycle took."
        )
        self.poll_last_success = Gauge(
            registry,
            "ghsa_bot_poll_last_success_timestamp_seconds",
            "When the last poll cycle that listed every installation finished (Unix time).",
        )
        self.poll_requests = Counter(
            registry,
            "ghsa_bot_poll_requests_total",
            "The poller's GitHub requests, by kind (list, comments, sweep).",
            ("kind",),
        )
        self.poll_deferred = Counter(
            registry,
            "ghsa_bot_poll_deferred_total",
            "Comment reads the poller left for a later cycle because the budget was short.",
        )
        self.deliveries_recovered = Counter(
            registry,
            "ghsa_bot_deliveries_recovered_total",
            "Failed deliveries missing from the store: redeliveries requested, or given up.",
            ("outcome",),
        )
        self.leader = Gauge(
            registry,
            "ghsa_bot_leader",
            "1 while this replica holds the leader lease (it runs the poller, the deadline "
            "scan and the missed-delivery check), else 0.",
        )
        self.leader.reader = lambda: 0.0  # until the running bot says where to look
        self.journal_backlog = Gauge(
            registry,
            "ghsa_bot_intake_journal_backlog",
            "Deliveries on their way into the database through the intake journal's line: "
            "journaled webhooks, and events whose commit a caller awaits (SQLite; 0 without "
            "a journal).",
        )
        self.journal_backlog.reader = lambda: 0.0
        self.journal_segments = Gauge(
            registry,
            "ghsa_bot_intake_journal_segments",
            "Intake journal files on disk: open, or waiting for the database to hold their "
            "deliveries durably (SQLite; 0 without a journal).",
        )
        self.journal_segments.reader = lambda: 0.0

    def set_queue_counts(self, counts: Mapping[str, int]) -> None:
        """The queue gauges from the store's per-state counts (`Store.queue_counts`)."""
        for state, label in QUEUE_STATES.items():
            self.queue_deliveries.set(float(counts.get(state, 0)), state=label)
        self.queue_depth.set(float(sum(counts.get(state, 0) for state in PENDING_STATES)))

    def render(self) -> str:
        """Prometheus text (version 0.0.4), every metric of this registry."""
        return self.exposition("")[0].decode()

    def exposition(self, accept: str) -> tuple[bytes, str]:
        """The body and its content type for a scraper's `Accept` header."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
