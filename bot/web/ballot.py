"""The ballot page, `GET/POST /vote/{id}`: a member's secret vote on a nomination.

Signed in with GitHub (bot/web/signin.py). Only members of the canonical roster
may see the nomination or vote; anyone else gets a 403 that shows nothing of
it. A member sees their own ballot and may change it until the close; nobody
sees the tally or anyone else's ballot before the close. After the close the
page shows the counts (never who voted what). Ballots are written in the same
transaction that checks the vote is still open (bot/governance/store.py).

What the routes answer: 404 for a number no nomination can have (not
1..2^63-1, or not a number), before anything else; 503 when sign-in is not
configured (bot/web/signin.py) or the store is unavailable; 302 to sign in without
a live session; 400 for a malformed session cookie, form or form token; 403
for a non-member; 404 for an unknown nomination; 409 when the vote is closed;
after a ballot is cast, 303 back to the page. Every answer is
`Cache-Control: no-store`.
"""

from __future__ import annotations

import re
from html import escape
from typing import Protocol

from aiohttp import web

from bot.advisories.store import AdvisoryStore
from bot.app import SERVICES
from bot.core.clock import Clock
from bot.core.config import BotConfig
from bot.governance.store import OPEN, BallotRefused, GovernanceStore, Nomination, utc_minutes
from bot.governance.votes import CHOICES
from bot.queue.store import StoreUnavailable
from bot.team.data import TeamData
from bot.web.signin import (
    SignInDoors,
    bad_request,
    form_token,
    form_token_ok,
    missing_settings,
    not_configured,
    page,
    signed_in_as,
)

LABELS = {"yes": "Yes", "no": "No", "abstain": "Abstain"}
NOMINATION_NUMBER = re.compile(r"[1-9][0-9]{0,18}")
MAX_NOMINATION = 2**63 - 1  # what the store can hold


class BallotDoors(SignInDoors, Protocol):
    """What the ballot page uses: sign-in's parts, the roster, nominations, the audit log."""

    config: BotConfig
    clock: Clock
    governance: GovernanceStore
    advisories: AdvisoryStore
    team_data: TeamData


def nomination_number(request: web.Request) -> int | None:
    """The nomination number in the path, or None when no nomination can have it."""
    text = request.match_info["nomination"]
    if not text.isascii() or not NOMINATION_NUMBER.fullmatch(text):
        return None
    number = int(text)
    return number if number <= MAX_NOMINATION else None


def _is_member(services: BallotDoors, login: str) -> bool:
    roster = services.team_data.roster()
    return any(entry.login.lower() == login.lower() for entry in roster)


async def _checked(request: web.Request) -> tuple[BallotDoors, str, Nomination] | web.Response:
    """The services, the signed-in member and the nomination, or the page that says why not."""
    services: BallotDoors = request.app[SERVICES]
    nomination_id = nomination_number(request)
    if nomination_id is None:
        return page("No such nomination", "<p>There is no nomination with that number.</p>", 404)
    if missing_settings(services):
        return not_configured(services)
    login = await signed_in_as(request)
    if login is None:
        raise web.HTTPFound(f"/auth/login?next=/vote/{nomination_id}")
    if not _is_member(services, login):
        return page(
            "Members only",
            f"<p id=refused>You are signed in as @{escape(login)}, who is not a member of the "
            f"{escape(services.config.team.name)}. Only members may vote.</p>",
            403,
        )
    nomination = await services.governance.get(nomination_id)
    if nomination is None:
        return page("No such nomination", "<p>There is no nomination with that number.</p>", 404)
    return services, login, nomination


async def _checked_or_unavailable(
    request: web.Request,
) -> tuple[BallotDoors, str, Nomination] | web.Response:
    try:
        return await _checked(request)
    except StoreUnavailable:
        return page("Try again shortly", "<p>The store is unavailable.</p>", 503)


async def ballot(request: web.Request) -> web.Response:
    """The nomination and the member's own ballot, with the form while the vote is open."""
    checked = await _checked_or_unavailable(request)
    if isinstance(checked, web.Response):
        return checked
    services, login, nomination = checked
    mine = await services.governance.own_ballot(nomination.id, login)
    notice = ""
    if request.query.get("saved") and mine:
        notice = (
            f"<p id=saved><strong>Your ballot is recorded: {LABELS[mine]}.</strong> "
            f"You may change it until {utc_minutes(nomination.closes_at)}.</p>"
        )
    return page(
        f"Nomination {nomination.id}",
        _describe(nomination) + notice + _form(request, nomination, mine, services.clock.now()),
    )


def _describe(nomination: Nomination) -> str:
    return (
        f"<p>Nominee: <strong id=nominee>@{escape(nomination.nominee)}</strong>, nominated by "
        f"@{escape(nomination.nominator)}.</p><p>Reason: {escape(nomination.reason)}</p>"
        f"<p>The vote opened {utc_minutes(nomination.opened_at)} and closes "
        f"{utc_minutes(nomination.closes_at)}. It passes with at least two-thirds yes of the votes "
        "cast; abstentions do not count.</p>"
    )


def _form(request: web.Request, nomination: Nomination, mine: str | None, now: float) -> str:
    if nomination.state != OPEN or now >= nomination.closes_at:
        if nomination.yes_votes is None:
            return "<p id=closed>The vote has closed; the result is being counted.</p>"
        return (
            f"<p id=closed>The vote has closed ({escape(nomination.state.replace('_', ' '))}): "
            f"{nomination.yes_votes} yes, {nomination.no_votes} no, "
            f"{nomination.abstentions} abstaining.</p>"
        )
    options = "".join(
        f'<p><label><input type=radio name=choice value="{choice}" id="choice-{choice}"'
        f"{' checked' if choice == mine else ''} required> {LABELS[choice]}</label></p>"
        for choice in CHOICES
    )
    token = form_token(request, f"vote-{nomination.id}")
    return (
        "<p>Your ballot is secret: nobody sees the tally or who voted what before the close.</p>"
        f'<form method=post action="/vote/{nomination.id}">{options}'
        f'<input type=hidden name=token value="{token}">'
        f"<button type=submit id=cast>{'Change my vote' if mine else 'Cast my vote'}</button>"
        "</form>"
    )


async def cast(request: web.Request) -> web.Response:
    """Record (or change) the signed-in member's ballot; 303 back to the page."""
    checked = await _checked_or_unavailable(request)
    if isinstance(checked, web.Response):
        return checked
    services, login, nomination = checked
    try:
        form = await request.post()
    except web.HTTPException:
        raise  # 413 for a body over the limit
    except Exception:  # any form the parser cannot read is the sender's
        raise bad_request("<p>The form could not be read; reload the page.</p>") from None
    choice = form.get("choice", "")
    token = form.get("token", "")
    if not isinstance(token, str) or not form_token_ok(request, f"vote-{nomination.id}", token):
        return page("Ballot not recorded", "<p>The form expired; reload the page.</p>", 400)
    if not isinstance(choice, str) or choice not in CHOICES:
        return page("Ballot not recorded", "<p>Choose yes, no or abstain.</p>", 400)
    now = services.clock.now()
    try:
        changed = await services.governance.cast(nomination.id, login, choice, now=now)
    except BallotRefused as error:
        return page(
            "Ballot not recorded", f"<p id=refused>Not recorded: {escape(str(error))}.</p>", 409
        )
    await services.advisories.audit(
        nomination.repository,
        nomination.subject,
        at=now,
        action="ballot changed" if changed else "ballot cast",
        reason=f"@{login} (the choice is secret)",
        delivery=None,
    )
    raise web.HTTPSeeOther(f"/vote/{nomination.id}?saved=1")


def add_ballot_routes(app: web.Application) -> None:
    app.router.add_get("/vote/{nomination}", ballot)
    app.router.add_post("/vote/{nomination}", cast)
