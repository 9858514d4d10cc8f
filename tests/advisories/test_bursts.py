"""Choices on shared counts, raced by two replicas on one database.

Each test opens two `Database` objects on the database under test (two
connections to one SQLite file, or to one PostgreSQL schema: what two bot
processes have) and runs the same choice on both at once with asyncio.gather.
The outcome must be the one a single process choosing one at a time gives.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Mapping

from bot.advisories.coordinators import choose_coordinator
from bot.advisories.shared_counts import Reserved
from bot.advisories.store import AdvisoryRecord, AdvisoryStore
from bot.core.roster_notes import RosterNotes
from bot.db.connection import Database
from bot.records.bindings import CveBindings, RecordIds
from bot.team.formats import RosterEntry

NOW = 1_790_000_000.0
MEMBERS = ("ada", "bob", "cy", "dee", "eve", "fay")
ROSTER = [RosterEntry(login.title(), login, frozenset()) for login in MEMBERS]


def record(ghsa_id: str, *, coordinator: str | None = None) -> AdvisoryRecord:
    return AdvisoryRecord(
        repository="python/cpython",
        ghsa_id=ghsa_id,
        installation_id=1,
        state="triage",
        reporter="someone",
        coordinator=coordinator,
        received_at=NOW - 4 * 86400,
        acknowledged_at=None,
        last_activity_at=NOW,
        github_updated_at=None,
        fingerprint=None,
        coordinator_since=NOW - 86400 if coordinator else None,
    )


def chooser(loads: Mapping[str, int], last: Mapping[str, float]) -> Reserved | None:
    """The bot's own choice (bot/advisories/coordinators.py)."""
    choice = choose_coordinator(
        ROSTER,
        RosterNotes(),
        reporter="someone",
        today=datetime.date(2026, 9, 21),
        open_load=loads,
        last_assigned=last,
    )
    return Reserved(choice.login, choice.reason) if choice else None


def slow_chooser(loads: Mapping[str, int], last: Mapping[str, float]) -> Reserved | None:
    """The same, pausing between reading the loads and writing the choice: without the
    lock, the other replica's choice would read the same loads meanwhile."""
    time.sleep(0.02)  # in the database thread
    return chooser(loads, last)


async def test_coordinators_reserved_at_once_on_two_replicas_spread_as_one_at_a_time(
    replicas: tuple[Database, Database],
) -> None:
    stores = [AdvisoryStore(database) for database in replicas]
    # ada already coordinates one open report; the others none.
    await stores[0].save(record("GHSA-0000-0000-0000", coordinator="ada"))
    ids = [f"GHSA-0000-0000-{n:04d}" for n in range(1, 9)]
    for ghsa_id in ids:
        await stores[0].save(record(ghsa_id))

    chosen = await asyncio.gather(
        *(
            stores[n % 2].reserve_coordinator("python/cpython", ghsa_id, slow_chooser, now=NOW)
            for n, ghsa_id in enumerate(ids)
        )
    )
    logins = [choice.login for choice in chosen if choice is not None]
    assert len(logins) == 8
    # One at a time: the five without a report first, one each, then three more,
    # never ada twice before everyone has two.
    counts = {login: logins.count(login) + (login == "ada") for login in MEMBERS}
    assert max(counts.values()) - min(counts.values()) <= 1, counts
    assert sorted(counts.values()) == [1, 1, 1, 2, 2, 2], counts

    # Recording a reservation as the coordinator, or releasing it, changes no count twice.
    for n, (ghsa_id, choice) in enumerate(zip(ids, chosen, strict=True)):
        assert choice is not None
        if n % 2:
            await stores[n % 2].set_coordinator("python/cpython", ghsa_id, choice.login, now=NOW)
    loads, _ = await stores[1].coordinator_loads()
    assert loads == {login: count for login, count in counts.items()}
    await stores[0].release_coordinator("python/cpython", ids[0])
    loads, _ = await stores[0].coordinator_loads()
    assert sum(loads.values()) == 8


async def test_a_retried_choice_replaces_its_own_reservation(
    replicas: tuple[Database, Database],
) -> None:
    store = AdvisoryStore(replicas[0])
    await store.save(record("GHSA-1111-0000-0001"))
    first = await store.reserve_coordinator(
        "python/cpython", "GHSA-1111-0000-0001", chooser, now=NOW
    )
    again = await AdvisoryStore(replicas[1]).reserve_coordinator(
        "python/cpython", "GHSA-1111-0000-0001", chooser, now=NOW + 60
    )
    assert first is not None and again is not None and first.login == again.login
    loads, _ = await store.coordinator_loads()
    assert loads == {first.login: 1}


async def test_a_burst_of_reminders_for_one_advisory_claims_one(
    replicas: tuple[Database, Database],
) -> None:
    stores = [AdvisoryStore(database) for database in replicas]
    await stores[0].save(record("GHSA-2222-0000-0001"))
    spacing = 23 * 3600.0

    async def claim(n: int, tier: int) -> bool:
        return await stores[n % 2].claim_reminder(
            "python/cpython", "GHSA-2222-0000-0001", tier, now=NOW, spacing_seconds=spacing
        )

    # The 14- and 7-day reminders, each seen by both replicas' scanners.
    claims = await asyncio.gather(claim(0, 14), claim(1, 7), claim(2, 14), claim(3, 7))
    winners = {tier for tier, won in zip((14, 7, 14, 7), claims, strict=True) if won}
    assert len(winners) == 1, claims  # a tier's own retry may claim it again, no other
    current = await stores[0].get("python/cpython", "GHSA-2222-0000-0001")
    assert current is not None and current.last_reminder_tier in winners
    assert current.last_reminder_at == NOW
    # After the spacing, a more urgent tier may go; the one already sent never again.
    sent = current.last_reminder_tier
    later = NOW + spacing
    assert (
        not await stores[1].claim_reminder(
            "python/cpython", "GHSA-2222-0000-0001", 14, now=later, spacing_seconds=spacing
        )
        or sent == 14
    )
    assert await stores[1].claim_reminder(
        "python/cpython", "GHSA-2222-0000-0001", 0, now=later, spacing_seconds=spacing
    )
    assert not await stores[0].claim_reminder(
        "python/cpython", "GHSA-2222-0000-0001", 7, now=later + spacing, spacing_seconds=spacing
    )


async def test_record_numbers_from_two_replicas_at_once_are_one_sequence(
    replicas: tuple[Database, Database],
) -> None:
    numbering = [RecordIds(database) for database in replicas]
    advisories = [f"GHSA-3333-0000-{n:04d}" for n in range(12)]
    # Every advisory numbered by both replicas at once.
    ids = await asyncio.gather(
        *(
            numbering[side].record_id("PSF", 2026, "python/cpython", ghsa_id)
            for ghsa_id in advisories
            for side in (0, 1)
        )
    )
    by_advisory = dict(zip([a for a in advisories for _ in (0, 1)], ids, strict=True))
    assert ids[0::2] == ids[1::2]  # the same advisory, the same id, on both replicas
    assert sorted(by_advisory.values(), key=lambda i: int(i.rsplit("-", 1)[1])) == [
        f"PSF-2026-{n}" for n in range(1, 13)
    ]


async def test_one_cve_request_per_advisory_in_flight(
    replicas: tuple[Database, Database],
) -> None:
    bindings = [CveBindings(database) for database in replicas]
    held = await asyncio.gather(
        *(
            bindings[n % 2].start_request("python/cpython", f"GHSA-4444-0000-000{n % 3}", now=NOW)
            for n in range(12)
        )
    )
    # Three advisories, twelve tries: three held.
    assert sum(held) == 3
    for n in range(3):
        assert sum(held[n::3]) == 1, held
    # Let go, it is free again; left by a run that died, it is taken over after a while.
    await bindings[1].end_request("python/cpython", "GHSA-4444-0000-0000")
    assert await bindings[0].start_request("python/cpython", "GHSA-4444-0000-0000", now=NOW)
    assert not await bindings[0].start_request("python/cpython", "GHSA-4444-0000-0001", now=NOW)
    assert await bindings[1].start_request("python/cpython", "GHSA-4444-0000-0001", now=NOW + 121)
