"""The advisory store's choices on counts other deliveries change at the same time.

A coordinator is chosen by load: the choice is reserved under the
`coordinator-load` lock (bot/db/locks.py) before GitHub is asked to credit
them, so a choice made meanwhile, in this process or another replica, counts
it; crediting records it as the coordinator and a refusal lets it go. A
reminder claims its slot (its tier and the time) with a conditional write
before it is posted, so reminders decided together keep their spacing.
`AdvisoryStore` (bot/advisories/store.py) has these methods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.db.connection import Connection, Database
from bot.db.locks import exclusive

# A coordinator reservation counts toward its member's load while the advisory
# waits for the GitHub call that credits them; one older than this was left by
# a run that died (its retry replaces it), and no longer counts.
RESERVATION_SECONDS = 3600.0


@dataclass(frozen=True)
class Reserved:
    """A coordinator chosen for an advisory and held until GitHub credits them."""

    login: str
    reason: str


Chooser = Callable[[Mapping[str, int], Mapping[str, float]], Reserved | None]


class SharedCounts:
    """Coordinator loads and reservations, and reminder claims (table `advisories`,
    `coordinator_reservations`)."""

    database: Database

    async def coordinator_loads(self) -> tuple[dict[str, int], dict[str, float]]:
        """Open advisories per coordinator, and when each was last assigned (lower-case
        logins); live reservations count as assignments."""
        return await self.database.run(lambda c: _coordinator_loads(c, now=None))

    async def reserve_coordinator(
        self, repository: str, ghsa_id: str, choose: Chooser, *, now: float
    ) -> Reserved | None:
        """Choose a coordinator from the loads as they are now and hold the choice.

        Under the `coordinator-load` lock: the loads (open advisories coordinated,
        plus other advisories' live reservations) are read, `choose` decides, and
        the choice is recorded as this advisory's reservation before the lock is
        released, so the next choice, in this process or another replica, counts
        it. An earlier reservation of this advisory (a run that died before GitHub
        answered) is replaced. None, and nothing held, when `choose` finds no one.
        """

        def work(connection: Connection) -> Reserved | None:
            with exclusive(connection, "coordinator-load"):
                connection.execute(
                    "DELETE FROM coordinator_reservations WHERE repository = ? AND ghsa_id = ?",
                    (repository, ghsa_id),
                )
                loads, last = _coordinator_loads(connection, now=now)
                chosen = choose(loads, last)
                if chosen is not None:
                    connection.execute(
                        "INSERT INTO coordinator_reservations "
                        "(repository, ghsa_id, login, reason, reserved_at) VALUES (?, ?, ?, ?, ?)",
                        (repository, ghsa_id, chosen.login, chosen.reason, now),
                    )
                return chosen

        return await self.database.run(work)

    async def release_coordinator(self, repository: str, ghsa_id: str) -> None:
        """Drop the advisory's reservation (GitHub refused, or someone else coordinates)."""

        def work(connection: Connection) -> None:
            with exclusive(connection, "coordinator-load"):
                connection.execute(
                    "DELETE FROM coordinator_reservations WHERE repository = ? AND ghsa_id = ?",
                    (repository, ghsa_id),
                )

        await self.database.run(work)

    async def set_coordinator(
        self, repository: str, ghsa_id: str, login: str, *, now: float
    ) -> None:
        """Record `login` as the coordinator since `now`, in place of any reservation.

        One transaction under the `coordinator-load` lock: a choice made at the same
        time counts the member once, as reserved or as coordinating, never neither.
        """

        def work(connection: Connection) -> None:
            with exclusive(connection, "coordinator-load"):
                connection.execute(
                    "UPDATE advisories SET coordinator = ?, coordinator_since = ? "
                    "WHERE repository = ? AND ghsa_id = ?",
                    (login, now, repository, ghsa_id),
                )
                connection.execute(
                    "DELETE FROM coordinator_reservations WHERE repository = ? AND ghsa_id = ?",
                    (repository, ghsa_id),
                )

        await self.database.run(work)

    async def claim_reminder(
        self, repository: str, ghsa_id: str, tier: int, *, now: float, spacing_seconds: float
    ) -> bool:
        """Claim the reminder of `tier` for the advisory; False when it must not be sent now.

        One conditional write: it succeeds only when no reminder was sent within
        `spacing_seconds` and no tier as urgent or more was claimed, and records
        the tier and the time. The scanner decides from what it read; a burst of
        reminders for one advisory (decided before any was handled) sends the
        first and leaves the rest to a later scan, as one at a time would. A
        retry of the claimed tier itself (its comment not yet posted) is True.
        """

        def work(connection: Connection) -> bool:
            with exclusive(connection, f"reminder:{repository}:{ghsa_id}"):
                claimed = connection.execute(
                    "UPDATE advisories SET last_reminder_at = ?, last_reminder_tier = ? "
                    "WHERE repository = ? AND ghsa_id = ? "
                    "AND (last_reminder_tier IS NULL OR last_reminder_tier > ?) "
                    "AND (last_reminder_at IS NULL OR last_reminder_at <= ?)",
                    (now, tier, repository, ghsa_id, tier, now - spacing_seconds),
                ).rowcount
                if claimed:
                    return True
                row = connection.execute(
                    "SELECT last_reminder_tier FROM advisories WHERE repository = ? "
                    "AND ghsa_id = ?",
                    (repository, ghsa_id),
                ).fetchone()
                return row is not None and row[0] == tier

        return bool(await self.database.run(work))


def _coordinator_loads(
    connection: Connection, *, now: float | None
) -> tuple[dict[str, int], dict[str, float]]:
    """(open advisories per coordinator, when each was last assigned), lower-case logins.

    Reservations younger than RESERVATION_SECONDS at `now` (all, when None) of
    advisories still open and without a coordinator count as assignments made
    when they were reserved.
    """
    loads: dict[str, int] = {}
    last: dict[str, float] = {}
    rows = connection.execute(
        "SELECT LOWER(coordinator), COUNT(*) FROM advisories WHERE coordinator IS NOT NULL "
        "AND state IN ('triage', 'draft') AND completed_at IS NULL "
        "GROUP BY LOWER(coordinator)"
    ).fetchall()
    for login, count in rows:
        loads[login] = loads.get(login, 0) + int(count)
    for login, since in connection.execute(
        "SELECT LOWER(coordinator), MAX(coordinator_since) FROM advisories "
        "WHERE coordinator IS NOT NULL GROUP BY LOWER(coordinator)"
    ).fetchall():
        last[login] = max(last.get(login, 0.0), float(since or 0))
    reserved = connection.execute(
        "SELECT LOWER(r.login), COUNT(*), MAX(r.reserved_at) FROM coordinator_reservations r "
        "JOIN advisories a ON a.repository = r.repository AND a.ghsa_id = r.ghsa_id "
        "WHERE a.coordinator IS NULL AND a.state IN ('triage', 'draft') "
        "AND a.completed_at IS NULL AND r.reserved_at >= ? GROUP BY LOWER(r.login)",
        (float("-inf") if now is None else now - RESERVATION_SECONDS,),
    ).fetchall()
    for login, count, at in reserved:
        loads[login] = loads.get(login, 0) + int(count)
        last[login] = max(last.get(login, 0.0), float(at or 0))
    return loads, last
