"""Prometheus text-format metrics, kept in memory.

Labels carry only event names, outcomes, handler names and HTTP statuses:
never repository names, advisory ids or text, so nothing embargoed leaks.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable

LabelKey = tuple[tuple[str, str], ...]

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
ACK_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.5, 1)


def _number(value: float) -> str:
    """A sample's value, exact for timestamps and large counts (`:g` keeps six digits)."""
    return f"{value:.15g}"


def _key(labels: dict[str, str]) -> LabelKey:
    return tuple(sorted(labels.items()))


def _render_labels(key: LabelKey, extra: Iterable[tuple[str, str]] = ()) -> str:
    pairs = [*key, *extra]
    if not pairs:
        return ""
    escaped = (
        f'{name}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for name, value in pairs
    )
    return "{" + ",".join(escaped) + "}"


class Counter:
    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self.values: dict[LabelKey, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = _key(labels)
        self.values[key] = self.values.get(key, 0.0) + amount

    def get(self, **labels: str) -> float:
        return self.values.get(_key(labels), 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        lines += [
            f"{self.name}{_render_labels(k)} {_number(v)}" for k, v in sorted(self.values.items())
        ]
        return lines


class Gauge(Counter):
    """A value that goes up and down, or is read by a callback at render time."""

    def __init__(
        self, name: str, help_text: str, reader: Callable[[], float] | None = None
    ) -> None:
        super().__init__(name, help_text)
        self.reader = reader

    def set(self, value: float, **labels: str) -> None:
        self.values[_key(labels)] = value

    def render(self) -> list[str]:
        if self.reader is not None:
            self.values[()] = self.reader()
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge"]
        lines += [
            f"{self.name}{_render_labels(k)} {_number(v)}" for k, v in sorted(self.values.items())
        ]
        return lines


class Histogram:
    def __init__(
        self, name: str, help_text: str, buckets: tuple[float, ...] = DURATION_BUCKETS
    ) -> None:
        self.name, self.help, self.buckets = name, help_text, buckets
        self.series: dict[LabelKey, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: str) -> None:
        counts, totals = self.series.setdefault(_key(labels), ([0] * len(self.buckets), [0.0, 0]))
        index = bisect.bisect_left(self.buckets, value)
        if index < len(counts):
            counts[index] += 1
        totals[0] += value
        totals[1] += 1

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, (counts, (total, count)) in sorted(self.series.items()):
            cumulative = 0
            for bound, bucket_count in zip(self.buckets, counts, strict=True):
                cumulative += bucket_count
                labels = _render_labels(key, [("le", f"{bound:g}")])
                lines.append(f"{self.name}_bucket{labels} {cumulative}")
            infinity = _render_labels(key, [("le", "+Inf")])
            lines.append(f"{self.name}_bucket{infinity} {_number(count)}")
            lines.append(f"{self.name}_sum{_render_labels(key)} {_number(total)}")
            lines.append(f"{self.name}_count{_render_labels(key)} {_number(count)}")
        return lines


class Metrics:
    """Every metric the bot exports, in one place."""

    def __init__(self) -> None:
        self.deliveries = Counter(
            "ghsa_bot_deliveries_total", "Webhook deliveries by event and outcome."
        )
        self.handled = Counter(
            "ghsa_bot_deliveries_handled_total", "Deliveries the worker finished, by outcome."
        )
        self.ack_duration = Histogram(
            "ghsa_bot_webhook_ack_seconds",
            "From the request's arrival to the answer being ready, for stored deliveries.",
            ACK_BUCKETS,
        )
        self.queue_depth = Gauge("ghsa_bot_queue_depth", "Deliveries waiting or running.")
        self.handler_duration = Histogram(
            "ghsa_bot_handler_duration_seconds", "Time spent in each handler."
        )
        self.github_requests = Counter(
            "ghsa_bot_github_requests_total", "Requests to GitHub by method and status."
        )
        self.rate_limit_remaining = Gauge(
            "ghsa_bot_github_rate_limit_remaining",
            "The lowest x-ratelimit-remaining GitHub reported recently.",
        )
        self.rate_limit_waits = Counter(
            "ghsa_bot_github_rate_limit_waits_total", "Times the bot waited for a rate limit."
        )
        self.github_points = Counter(
            "ghsa_bot_github_points_total",
            "GitHub secondary-limit points spent (GET 1, mutation 5), by source "
            "(poller or other).",
        )
        self.github_points_used = Gauge(
            "ghsa_bot_github_points_used",
            "Points spent in the last minute (the budget's window).",
        )
        self.github_points_limit = Gauge(
            "ghsa_bot_github_points_limit", "The budget: github.points_per_minute."
        )
        self.github_budget_waits = Counter(
            "ghsa_bot_github_budget_waits_total",
            "Requests that waited for the points budget, by source (poller or other).",
        )
        self.poll_cycle_duration = Histogram(
            "ghsa_bot_poll_cycle_seconds", "How long one advisory poll cycle took."
        )
        self.poll_last_success = Gauge(
            "ghsa_bot_poll_last_success_timestamp_seconds",
            "When the last poll cycle that listed every installation finished (Unix time).",
        )
        self.poll_requests = Counter(
            "ghsa_bot_poll_requests_total",
            "The poller's GitHub requests, by kind (list, comments, sweep).",
        )
        self.poll_deferred = Counter(
            "ghsa_bot_poll_deferred_total",
            "Comment reads the poller left for a later cycle because the budget was short.",
        )
        self.deliveries_recovered = Counter(
            "ghsa_bot_deliveries_recovered_total",
            "Failed deliveries missing from the store: redeliveries requested, or given up.",
        )

    def render(self) -> str:
        lines: list[str] = []
        for metric in (
            self.deliveries,
            self.handled,
            self.ack_duration,
            self.queue_depth,
            self.handler_duration,
            self.github_requests,
            self.rate_limit_remaining,
            self.rate_limit_waits,
            self.github_points,
            self.github_points_used,
            self.github_points_limit,
            self.github_budget_waits,
            self.poll_cycle_duration,
            self.poll_last_success,
            self.poll_requests,
            self.poll_deferred,
            self.deliveries_recovered,
        ):
            lines += metric.render()
        return "\n".join(lines) + "\n"
