"""The public credits page, `GET /credits`: who helped with each published advisory.

Server-rendered HTML without JavaScript. It reads only the public records the
store keeps for published advisories (bot/advisories/store.py), so nothing of an
unpublished advisory can reach it. Only accepted credits are shown: GitHub
shows a credit publicly only once its owner accepts it.

It answers 200 with the page, cacheable for five minutes (it shows nothing
personal), or 503 when the store is unavailable; like every page it carries
the headers of bot/web/hardening.py (no script, no framing).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from html import escape

from aiohttp import web

from bot.advisories.public import PublishedAdvisory
from bot.advisories.store import AdvisoryStore
from bot.records.documents import accepted_credits

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #1f2328; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2rem; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #d0d7de; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
"""


def render_credits(team_name: str, published: list[PublishedAdvisory]) -> str:
    years: Counter[str] = Counter()
    people: dict[str, Counter[str]] = defaultdict(Counter)
    rows = []
    for item in published:
        record = item.record
        year = str(record.get("published_at") or "")[:4] or "unknown"
        years[year] += 1
        credits = accepted_credits(record)
        for login, kind in credits:
            people[login][kind.replace("_", " ")] += 1
        credited = ", ".join(
            f'<a href="https://github.com/{escape(login)}">@{escape(login)}</a> '
            f"({escape(kind.replace('_', ' '))})"
            for login, kind in credits
        )
        ids = escape(item.ghsa_id) + (
            f" / {escape(str(record['cve_id']))}" if record.get("cve_id") else ""
        )
        rows.append(
            "<tr>"
            f"<td>{escape(str(record.get('published_at') or '')[:10])}</td>"
            f'<td><a href="{escape(str(record.get("html_url") or ""))}">{ids}</a></td>'
            f"<td>{escape(str(record.get('summary') or ''))}</td>"
            f"<td>{credited or 'none accepted'}</td>"
            "</tr>"
        )
    year_rows = "".join(
        f"<tr><td>{escape(year)}</td><td>{count}</td></tr>"
        for year, count in sorted(years.items(), reverse=True)
    )
    person_rows = "".join(
        f'<tr><td><a href="https://github.com/{escape(login)}">@{escape(login)}</a></td>'
        f"<td>{escape(', '.join(f'{kind} ({n})' for kind, n in sorted(kinds.items())))}</td>"
        f"<td>{sum(kinds.values())}</td></tr>"
        for login, kinds in sorted(people.items(), key=lambda p: (-sum(p[1].values()), p[0]))
    )
    title = f"{escape(team_name)}: credits"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{STYLE}</style></head>
<body>
<h1>{title}</h1>
<p>Published security advisories and the people credited on them. Only credits their
owners accepted are listed.</p>
<table id="years"><caption>Advisories published per year</caption>
<thead><tr><th>Year</th><th>Advisories</th></tr></thead><tbody>{year_rows}</tbody></table>
<table id="people"><caption>Credits by person and type</caption>
<thead><tr><th>Person</th><th>Credited as</th><th>Credits</th></tr></thead>
<tbody>{person_rows or '<tr><td colspan="3">No accepted credits yet.</td></tr>'}</tbody></table>
<table id="advisories"><caption>Advisories</caption>
<thead><tr><th>Published</th><th>Advisory</th><th>Summary</th><th>Credits</th></tr></thead>
<tbody>{"".join(rows) or '<tr><td colspan="4">Nothing published yet.</td></tr>'}</tbody>
</table>
</body></html>
"""


async def credits_response(team_name: str, advisories: AdvisoryStore) -> web.Response:
    return web.Response(
        text=render_credits(team_name, await advisories.published()),
        content_type="text/html",
        headers={"cache-control": "public, max-age=300"},
    )
