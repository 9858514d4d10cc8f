"""The dashboard's HTML (bot/web/dashboard.py gathers the rows): a table and the timeline.

Every value is escaped with `html.escape`. Text a reporter controls (the
title, a CVE field or credit quoted by the checklist) is also made inert for
layout: control characters and bidirectional overrides or isolates become
U+FFFD, it is cut to `TITLE_CHARACTERS`, and it sits in `<bdi>`, so it can
neither reorder nor spill into the cells around it. The timeline is labelled
with identifiers only.
"""

from __future__ import annotations

import datetime
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import urlencode

from aiohttp import web

from bot.advisories.deadlines import DAY
from bot.advisories.store import AdvisoryRecord
from bot.records.checklist import Check
from bot.web.timeline_svg import Bar, timeline_svg

TITLE_CHARACTERS = 160
DETAIL_CHARACTERS = 300
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
COLUMNS = (
    ("repository", "Repository"),
    ("advisory", "Advisory"),
    ("state", "State"),
    ("coordinator", "Coordinator"),
    ("opened", "Days open"),
    ("deadline", "Deadline"),
    ("planned", "Planned disclosure"),
    (None, "Linked group"),
    (None, "Missing before publication"),
)
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5rem;line-height:1.45;color:#1f2328}"
    "table{border-collapse:collapse;width:100%}th{white-space:nowrap}"
    "th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;"
    "border-bottom:1px solid #d0d7de;overflow-wrap:break-word}"
    "th a{color:inherit}th[aria-sort] a{font-weight:800}"
    "td.title,td.missing{overflow-wrap:anywhere}td.title{max-width:24rem}"
    "td ul{margin:0;padding-left:1.1rem}tr.late td:first-child{border-left:5px solid #82071e}"
    "td.late{color:#82071e;font-weight:700}.ok{color:#1a7f37}.unknown{color:#6e7781}"
    "nav{margin:.5rem 0 1rem}nav a{margin-right:1rem}"
    "svg text{font:12px system-ui,sans-serif;fill:#1f2328}svg .axis{fill:#57606a}"
    "svg .late-label{fill:#82071e}figure{margin:1rem 0}"
)


@dataclass(frozen=True)
class Row:
    """One open advisory as the dashboard shows it."""

    record: AdvisoryRecord
    title: str | None  # None: GitHub did not answer
    deadline: float  # the earliest in the linked group
    group: tuple[tuple[str, str], ...]  # the group's other advisories
    planned: datetime.date | None
    missing: tuple[Check, ...]  # failing checklist items
    complete: bool  # the checklist ran on GitHub's copy
    days_open: int

    def late(self, now: float) -> bool:
        return now > self.deadline


def inert(text: str, limit: int) -> str:
    """`text` escaped, one line, without controls or bidi overrides, at most `limit` chars."""
    cleaned = "".join(
        "\ufffd" if ch in BIDI_CONTROLS or unicodedata.category(ch) == "Cc" else ch for ch in text
    )
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "\u2026"
    return escape(cleaned)


def document(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def members_only(login: str, team: str) -> web.Response:
    """The 403: who is signed in and that the page is the team's; nothing of an advisory."""
    body = (
        f"<p id=refused>You are signed in as @{escape(login)}, who is not a member of the "
        f"{escape(team)}. Only members may see the dashboard.</p>"
        '<p><a href="/auth/logout">Sign out</a></p>'
    )
    return web.Response(text=document("Members only", body), content_type="text/html", status=403)


def _day(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d")


def _link(sort: str, descending: bool, mine: bool) -> str:
    query = {"sort": sort}
    if descending:
        query["dir"] = "desc"
    if mine:
        query["mine"] = "1"
    return "/dashboard?" + urlencode(query)


def _header(sort: str, descending: bool, mine: bool) -> str:
    cells = []
    for key, label in COLUMNS:
        if key is None:
            cells.append(f"<th scope=col>{label}</th>")
            continue
        current = key == sort
        reverse = current and not descending
        aria = f' aria-sort="{"descending" if descending else "ascending"}"' if current else ""
        arrow = (" \u25bc" if descending else " \u25b2") if current else ""
        cells.append(
            f'<th scope=col{aria}><a href="{escape(_link(key, reverse, mine))}" '
            f'id="sort-{key}">{label}{arrow}</a></th>'
        )
    return "<thead><tr>" + "".join(cells) + "</tr></thead>"


def _deadline_cell(row: Row, now: float) -> str:
    remaining = row.deadline - now
    group = " (group)" if row.group else ""
    if remaining < 0:
        late_by = math.ceil(-remaining / DAY)
        return (
            f"<td class=late data-days-left={-late_by}><strong>LATE</strong> by {late_by} "
            f"day{'s' if late_by != 1 else ''}<br>{_day(row.deadline)}{group}</td>"
        )
    left = math.floor(remaining / DAY)
    return (
        f"<td data-days-left={left}>{left} day{'s' if left != 1 else ''} left"
        f"<br>{_day(row.deadline)}{group}</td>"
    )


def _missing_cell(row: Row) -> str:
    items = "".join(
        f"<li><bdi>{inert(check.detail, DETAIL_CHARACTERS)}</bdi></li>" for check in row.missing
    )
    unknown = (
        ""
        if row.complete
        else "<p class=unknown>GitHub did not answer: only the store's facts are judged "
        "(CVSS, CWE, description and CVE unknown).</p>"
    )
    if not items:
        done = "nothing" if row.complete else ""
        return f"<td class=missing>{unknown}<span class=ok>{done}</span></td>"
    return f"<td class=missing>{unknown}<ul>{items}</ul></td>"


def _row(row: Row, now: float, web_url: str) -> str:
    record = row.record
    repository, ghsa = escape(record.repository), escape(record.ghsa_id)
    href = escape(f"{web_url}/{record.repository}/security/advisories/{record.ghsa_id}")
    if row.title is None:
        title = "<span class=unknown>(title unknown: GitHub did not answer)</span>"
    else:
        title = f"<bdi>{inert(row.title, TITLE_CHARACTERS)}</bdi>"
    coordinator = f"@{escape(record.coordinator)}" if record.coordinator else "none"
    group = "<br>".join(f"{escape(repo)} {escape(other)}" for repo, other in row.group) or "\u2014"
    planned = row.planned.isoformat() if row.planned else "\u2014"
    late = " late" if row.late(now) else ""
    return (
        f'<tr class="advisory{late}" data-ghsa="{ghsa}"><td>{repository}</td>'
        f'<td class=title><a href="{href}">{ghsa}</a><br>{title}</td>'
        f"<td>{escape(record.state)}</td><td>{coordinator}</td>"
        f"<td>{row.days_open}</td>{_deadline_cell(row, now)}"
        f"<td class=planned>{planned}</td><td class=group>{group}</td>{_missing_cell(row)}</tr>"
    )


def dashboard_page(
    rows: Sequence[Row],
    *,
    now: float,
    login: str,
    team: str,
    sort: str,
    descending: bool,
    mine: bool,
    web_url: str,
) -> str:
    """The whole page for a member."""
    late = sum(1 for row in rows if row.late(now))
    scope = "you coordinate" if mine else "the team holds"
    toggle = (
        f'<a id=show-all href="{escape(_link(sort, descending, False))}">Show every advisory</a>'
        if mine
        else f'<a id=show-mine href="{escape(_link(sort, descending, True))}">Show mine only</a>'
    )
    nav = (
        f"<nav>Signed in as @{escape(login)} \u00b7 {toggle}"
        '<a href="/auth/logout">Sign out</a></nav>'
    )
    summary = (
        f"<p id=summary>{len(rows)} open advisor{'y' if len(rows) == 1 else 'ies'} {scope}, "
        f"<strong>{late} late</strong>. Today is {_day(now)} (UTC).</p>"
    )
    bars = [
        Bar(
            f"{row.record.repository} {row.record.ghsa_id}",
            row.record.received_at,
            row.deadline,
            row.late(now),
            _midnight(row.planned),
        )
        for row in rows
    ]
    figure = (
        "<figure><figcaption>From received to deadline</figcaption>"
        f"{timeline_svg(bars, now)}</figure>"
    )
    table = (
        f"<table id=advisories>{_header(sort, descending, mine)}<tbody>"
        + "".join(_row(row, now, web_url) for row in rows)
        + "</tbody></table>"
    )
    if not rows:
        table = "<p id=none>No open advisory.</p>"
    return document(f"{team}: open advisories", nav + summary + figure + table)


def _midnight(day: datetime.date | None) -> float | None:
    """The start of `day` (UTC) as a POSIX time, for the timeline."""
    if day is None:
        return None
    return datetime.datetime.combine(day, datetime.time(), datetime.UTC).timestamp()
