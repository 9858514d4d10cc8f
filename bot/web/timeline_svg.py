"""The dashboard's timeline: one bar per advisory from received to deadline, today marked.

Server-rendered inline SVG (no script, nothing fetched). Each bar is labelled
with the repository and GHSA id only (never the reporter-controlled title),
every text is HTML-escaped, and a late advisory is told apart three ways, so
colour is never the only sign: a diagonal hatch, a thick dark outline and the
word "LATE" written after its bar. A vertical dashed line marks today, and a
diamond on a bar the group's planned disclosure date.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 960
LABEL_WIDTH = 260  # the repository and GHSA id, left of the bars
RIGHT_MARGIN = 70  # room for "LATE"
ROW_HEIGHT = 24
TOP = 34  # the date axis and the "today" label
BAR_HEIGHT = 14
MAX_BARS = 500  # a page is not a database export


@dataclass(frozen=True)
class Bar:
    """One advisory on the timeline: a label (identifiers only) and its times (POSIX)."""

    label: str
    received_at: float
    deadline: float
    late: bool
    planned: float | None = None  # the planned disclosure date (`/embargo`), if any


def _day(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d")


def timeline_svg(bars: Sequence[Bar], now: float) -> str:
    """The SVG element (to be inlined in the page), or a short paragraph with no bars."""
    shown = list(bars)[:MAX_BARS]
    if not shown:
        return "<p id=timeline-empty>No open advisory to draw.</p>"
    start = min(min(bar.received_at for bar in shown), now)
    end = max(max(max(bar.deadline, bar.planned or 0.0) for bar in shown), now)
    span = max(end - start, 86400.0)
    plot = WIDTH - LABEL_WIDTH - RIGHT_MARGIN

    def x(at: float) -> float:
        return round(LABEL_WIDTH + (at - start) / span * plot, 1)

    height = TOP + ROW_HEIGHT * len(shown) + 10
    parts = [
        f'<svg id=timeline xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'aria-labelledby="timeline-title timeline-desc">'
        "<title id=timeline-title>Open advisories from received to deadline</title>"
        "<desc id=timeline-desc>Each bar runs from the day a report was received to its "
        "deadline; the dashed line is today; late advisories are hatched, outlined and "
        "labelled LATE; a diamond is the planned disclosure date.</desc>"
        "<defs><pattern id=late-hatch width=6 height=6 patternUnits=userSpaceOnUse "
        'patternTransform="rotate(45)"><rect width=6 height=6 fill="#ffebe9"/>'
        '<line x1=0 y1=0 x2=0 y2=6 stroke="#82071e" stroke-width=3 /></pattern></defs>',
        f'<text x="{LABEL_WIDTH}" y="14" class=axis>{_day(start)}</text>',
        f'<text x="{WIDTH - RIGHT_MARGIN}" y="14" class=axis text-anchor="end">{_day(end)}</text>',
    ]
    for index, bar in enumerate(shown):
        top = TOP + index * ROW_HEIGHT
        left, right = x(bar.received_at), x(bar.deadline)
        width = max(right - left, 2.0)
        label = escape(bar.label)
        state = "late" if bar.late else "on-time"
        fill = "url(#late-hatch)" if bar.late else "#ddf4ff"
        stroke = '#82071e" stroke-width="2.5' if bar.late else '#0969da" stroke-width="1'
        parts.append(
            f'<g class="bar {state}" data-state="{state}">'
            f"<title>{label}: received {_day(bar.received_at)}, deadline {_day(bar.deadline)}"
            f"{', late' if bar.late else ''}</title>"
            f'<text x="{LABEL_WIDTH - 6}" y="{top + BAR_HEIGHT - 2}" text-anchor="end" '
            f"class=label>{label}</text>"
            f'<rect x="{left}" y="{top}" width="{round(width, 1)}" height="{BAR_HEIGHT}" '
            f'fill="{fill}" stroke="{stroke}"/>'
        )
        if bar.planned is not None:
            at, middle = x(bar.planned), top + BAR_HEIGHT / 2
            parts.append(
                f'<path class=planned d="M {at} {middle - 7} L {at + 5} {middle} '
                f'L {at} {middle + 7} L {at - 5} {middle} Z" fill="#1f2328">'
                f"<title>planned disclosure {_day(bar.planned)}</title></path>"
            )
        if bar.late:
            parts.append(
                f'<text x="{round(left + width + 4, 1)}" y="{top + BAR_HEIGHT - 2}" '
                'class=late-label font-weight="bold" fill="#82071e">LATE</text>'
            )
        parts.append("</g>")
    today = x(now)
    parts.append(
        f'<g id=today><line x1="{today}" y1="18" x2="{today}" y2="{height - 4}" '
        'stroke="#1f2328" stroke-width="2" stroke-dasharray="5 3"/>'
        f'<text x="{today}" y="28" text-anchor="middle" font-weight="bold">today '
        f"{_day(now)}</text></g></svg>"
    )
    return "".join(parts)
