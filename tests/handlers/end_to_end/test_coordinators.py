"""Coordinator assignment: the choice (pure), and end to end on a clock the test moves."""

from __future__ import annotations

import datetime
from typing import Any

from bot.advisories.coordinators import choose_coordinator
from bot.advisories.deadlines import DAY
from bot.core.roster_notes import MemberNotes, RosterNotes, parse_roster_notes
from bot.team.formats import RosterEntry
from tests.harness import World, file_report, scan

TODAY = datetime.date(2026, 11, 21)


def member(login: str, *roles: str) -> RosterEntry:
    return RosterEntry(login.title(), login, frozenset(roles))


ROSTER = [
    member("ann"),
    member("ben"),
    member("cat", "Release Manager"),
    member("dan", "Admin"),
    member("eve"),
]


def choose(notes: RosterNotes | None = None, **options: Any) -> str | None:
    options.setdefault("reporter", None)
    options.setdefault("open_load", {})
    options.setdefault("last_assigned", {})
    choice = choose_coordinator(ROSTER, notes or RosterNotes(), today=TODAY, **options)
    return None if choice is None else choice.login


def test_fewest_open_advisories_wins() -> None:
    assert (
        choose(
            open_load={"ann": 2, "ben": 1, "dan": 1, "eve": 3}, last_assigned={"ben": 5, "dan": 9}
        )
        == "ben"
    )


def test_ties_go_to_the_longest_since_last_assignment_then_the_login() -> None:
    assert (
        choose(
            open_load={"ann": 1, "ben": 1, "dan": 1, "eve": 1},
            last_assigned={"ann": 30, "ben": 10, "dan": 20, "eve": 40},
        )
        == "ben"
    )
    assert choose(last_assigned={"ann": 30}) == "ben"  # never assigned counts as longest ago
    assert choose() == "ann"


def test_release_managers_and_the_council_are_never_assigned() -> None:
    notes = RosterNotes(steering_council=frozenset({"ann", "ben"}))
    assert choose(notes, open_load={"dan": 5, "eve": 5}) == "dan"
    assert "cat" not in {choose(notes, open_load={"dan": 9, "eve": 9, "ann": 9})}


def test_leave_inactivity_and_the_reporter_are_honoured() -> None:
    notes = RosterNotes(
        members={
            "ann": MemberNotes(on_leave_until="2026-12-01"),
            "ben": MemberNotes(on_leave_until="2026-11-01"),  # back already
            "dan": MemberNotes(inactive=True),
        }
    )
    assert choose(notes) == "ben"
    assert choose(notes, reporter="Ben") == "eve"
    everyone_out = RosterNotes(steering_council=frozenset({"ann", "ben", "dan", "eve"}))
    assert choose(everyone_out) is None


def test_the_roster_file_is_validated_with_line_numbers(tmp_path: Any) -> None:
    import pytest

    from bot.core.config import ConfigError

    with pytest.raises(
        ConfigError, match=r"roster.toml, line 4: members.ann.on_leave_until: expected a date"
    ):
        parse_roster_notes(
            'canonical = false\nsteering_council = []\n[members.ann]\non_leave_until = "soon"\n',
            tmp_path / "roster.toml",
        )
    notes = parse_roster_notes(
        'canonical = false\nsteering_council = ["GPShead"]\n[members.Ann]\ninactive = true\n',
        tmp_path / "r.toml",
    )
    assert notes.steering_council == {"gpshead"} and notes.members["ann"].inactive
    # Canonical by default: a member without a published name is refused, with the way out.
    with pytest.raises(ConfigError, match=r"line 1: \[members.Ann\] is missing required key 'name'"):
        parse_roster_notes("[members.Ann]\ninactive = true\n", tmp_path / "r.toml")


async def test_a_report_without_a_coordinator_gets_one_after_three_days(world: World) -> None:
    bot, fake, clock = world.bot, world.fake, world.clock
    advisory = await file_report(bot, fake, "nina")
    record = await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    clock.current = record.received_at + 2 * DAY
    await scan(bot)
    assert not any(c["type"] == "coordinator" for c in advisory["credits_detailed"])
    clock.current = record.received_at + 3 * DAY + 60
    await scan(bot)
    coordinators = [
        c["user"]["login"] for c in advisory["credits_detailed"] if c["type"] == "coordinator"
    ]
    assert len(coordinators) == 1
    chosen = coordinators[0]
    roster = {e.login: e for e in bot.services.team_data.roster()}
    assert "Release Manager" not in roster[chosen].roles and chosen != "nina"
    assert any(
        c["user"]["login"] == "nina" and c["type"] == "reporter"
        for c in advisory["credits_detailed"]
    )
    assert chosen in [u["login"] for u in advisory["collaborating_users"]]
    announcement = fake.comments[("python/cpython", advisory["ghsa_id"])][-1]["body"]
    # The reporter reads the announcement: nothing of the team's size or loads is in it.
    assert f"@{chosen} is now the coordinator" in announcement
    assert "fewest" not in announcement and "eligible" not in announcement
    log = await bot.services.advisories.audit_log("python/cpython", advisory["ghsa_id"])
    assert any("fewest open advisories" in e.reason for e in log)  # the reasoning is kept
    record = await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    assert record.coordinator == chosen

    # The next report goes to someone else: the first now coordinates one.
    second = await file_report(bot, fake, "omar")
    clock.advance(3 * DAY + 60)
    await scan(bot)
    other = [c["user"]["login"] for c in second["credits_detailed"] if c["type"] == "coordinator"]
    assert other and other[0] != chosen


async def test_a_coordinator_credited_on_github_is_recorded_not_replaced(world: World) -> None:
    bot, fake, clock = world.bot, world.fake, world.clock
    advisory = await file_report(bot, fake, "pia")
    advisory["credits_detailed"].append(
        {"user": fake._user("gpshead"), "type": "coordinator", "state": "accepted"}
    )
    patches = len(fake.requests_to(advisory["ghsa_id"] + "$", "PATCH"))
    clock.advance(3 * DAY + 60)
    await scan(bot)
    assert len(fake.requests_to(advisory["ghsa_id"] + "$", "PATCH")) == patches
    record = await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    assert record is not None and record.coordinator == "gpshead"
