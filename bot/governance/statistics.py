"""Yearly team statistics (PEP 811 reporting), as pure functions over the store's records.

`year_statistics(..., published_only=False)` is the team's own report
(`ghsa-bot report year`): every advisory received in the year. With
`published_only=True` it is the public page's: only advisories whose
publication made them public, so nothing of an unpublished advisory (not even
that it exists) reaches `GET /team`.

Days are measured from `received_at` (the report's arrival): acknowledgement
is a team member's first comment (the bot's own automatic reply does not
count), coordinator is when the first coordinator was credited, publication
is GitHub's `published_at`.
"""

from __future__ import annotations

import datetime
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.advisories.public import PublishedAdvisory
from bot.advisories.store import AdvisoryRecord
from bot.records.documents import accepted_credits

DAY = 86400.0


@dataclass(frozen=True)
class YearStatistics:
    year: int
    received: int
    accepted: int
    rejected: int
    published: int
    median_days_to_acknowledgement: float | None
    median_days_to_coordinator: float | None
    median_days_to_publication: float | None
    past_deadline: int
    credits_by_type: dict[str, int]
    published_only: bool

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs, for Markdown, the CLI and the page alike."""

        def days(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.1f}"

        counted = [("Published", str(self.published))]
        if not self.published_only:
            counted = [
                ("Received", str(self.received)),
                ("Accepted", str(self.accepted)),
                ("Rejected", str(self.rejected)),
                *counted,
            ]
        credits = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in self.credits_by_type.items())
        return [
            *counted,
            ("Median days to acknowledgement", days(self.median_days_to_acknowledgement)),
            ("Median days to a coordinator", days(self.median_days_to_coordinator)),
            ("Median days to publication", days(self.median_days_to_publication)),
            ("Past the deadline", str(self.past_deadline)),
            ("Credits by type", credits or "none"),
        ]

    def markdown(self, team_name: str) -> str:
        scope = "published advisories" if self.published_only else "advisories received"
        lines = [f"# {team_name}: {self.year} ({scope})", "", "| | |", "|---|---|"]
        lines += [f"| {label} | {value} |" for label, value in self.rows()]
        return "\n".join(lines) + "\n"


def _year_of(timestamp: float) -> int:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).year


def _timestamp(iso: object) -> float | None:
    if not isinstance(iso, str) or not iso:
        return None
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _median_days(spans: Sequence[float]) -> float | None:
    return round(statistics.median(spans) / DAY, 1) if spans else None


def year_statistics(
    year: int,
    records: Sequence[AdvisoryRecord],
    published: Sequence[PublishedAdvisory],
    *,
    response_days: int,
    now: float,
    published_only: bool = False,
) -> YearStatistics:
    public = {(p.repository, p.ghsa_id): p for p in published}
    published_at = {
        key: stamp
        for key, p in public.items()
        if (stamp := _timestamp(p.record.get("published_at"))) is not None
    }
    by_key = {(r.repository, r.ghsa_id): r for r in records}
    if published_only:
        chosen = [
            by_key[key]
            for key, stamp in published_at.items()
            if key in by_key and _year_of(stamp) == year
        ]
    else:
        chosen = [r for r in records if _year_of(r.received_at) == year]
    published_in_year = [key for key, stamp in published_at.items() if _year_of(stamp) == year]
    acknowledged = [
        r.human_acknowledged_at - r.received_at
        for r in chosen
        if r.human_acknowledged_at is not None
    ]
    coordinated = [
        r.coordinator_since - r.received_at for r in chosen if r.coordinator_since is not None
    ]
    to_publication = [
        published_at[key] - by_key[key].received_at for key in published_in_year if key in by_key
    ]
    late = 0
    for record in chosen:
        finished = record.completed_at
        if finished is None and record.state in ("closed", "withdrawn"):
            finished = record.last_activity_at
        if (finished if finished is not None else now) - record.received_at > response_days * DAY:
            late += 1
    credits: Counter[str] = Counter()
    for key in published_in_year:
        for _, kind in accepted_credits(public[key].record):
            credits[kind] += 1
    return YearStatistics(
        year=year,
        received=len(chosen),
        accepted=sum(1 for r in chosen if r.state in ("draft", "published")),
        rejected=sum(1 for r in chosen if r.state in ("closed", "withdrawn")),
        published=len(published_in_year),
        median_days_to_acknowledgement=_median_days(acknowledged),
        median_days_to_coordinator=_median_days(coordinated),
        median_days_to_publication=_median_days(to_publication),
        past_deadline=late,
        credits_by_type=dict(sorted(credits.items())),
        published_only=published_only,
    )
