"""Linked advisories: the same vulnerability in several repositories, kept as one group.

GitHub has no link between two repository advisories, so the bot keeps the
links (bot/db/migrations.py, version 16). A link is stored in both directions;
a group is everything reachable through links, so linking A-B and B-C puts all
three in one group, and unlinking B-C leaves C alone again.

A planned disclosure date (`/embargo`) is written on every member of the group
when it is set; the group's date is the earliest of its members' dates, so
linking two groups keeps the earlier plan and unlinking leaves each advisory
with the date it had.

Nothing here holds advisory text: only repository names, GHSA ids, logins,
dates and times.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from bot.db.connection import Connection, Database, transaction

Member = tuple[str, str]  # (repository, ghsa_id)

# A group larger than this is refused: each member costs API calls on every
# /status, /publish and deadline check.
MAX_GROUP = 20


def group_of(connection: Connection, repository: str, ghsa_id: str) -> list[Member]:
    """The (repository, ghsa_id) pairs of the whole group, sorted; just itself alone."""
    seen: set[Member] = {(repository, ghsa_id)}
    todo: list[Member] = [(repository, ghsa_id)]
    while todo:
        repo, ghsa = todo.pop()
        rows = connection.execute(
            "SELECT other_repository, other_ghsa_id FROM advisory_links "
            "WHERE repository = ? AND ghsa_id = ?",
            (repo, ghsa),
        ).fetchall()
        for row in rows:
            member = (str(row[0]), str(row[1]))
            if member not in seen:
                seen.add(member)
                todo.append(member)
    return sorted(seen)


def planned_disclosure_of(
    connection: Connection, repository: str, ghsa_id: str
) -> datetime.date | None:
    """The group's planned disclosure date: the earliest of its members'."""
    dates: list[datetime.date] = []
    for repo, ghsa in group_of(connection, repository, ghsa_id):
        row = connection.execute(
            "SELECT disclosure_date FROM planned_disclosures WHERE repository = ? AND ghsa_id = ?",
            (repo, ghsa),
        ).fetchone()
        if row:
            dates.append(datetime.date.fromisoformat(str(row[0])))
    return min(dates) if dates else None


def _pair_rows(
    a: Member, b: Member, by: str, at: float
) -> list[tuple[str, str, str, str, str, float]]:
    return [(a[0], a[1], b[0], b[1], by, at), (b[0], b[1], a[0], a[1], by, at)]


class LinkStore:
    """Writes and reads of links and planned disclosure dates."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def group(self, repository: str, ghsa_id: str) -> list[Member]:
        return await self.database.run(lambda c: group_of(c, repository, ghsa_id))

    async def planned_disclosure(self, repository: str, ghsa_id: str) -> datetime.date | None:
        return await self.database.run(lambda c: planned_disclosure_of(c, repository, ghsa_id))

    async def is_linked(self, a: Member, b: Member) -> bool:
        row = await self.database.run(
            lambda c: c.execute(
                "SELECT 1 FROM advisory_links WHERE repository = ? AND ghsa_id = ? "
                "AND other_repository = ? AND other_ghsa_id = ?",
                (a[0], a[1], b[0], b[1]),
            ).fetchone()
        )
        return row is not None

    async def direct(self, member: Member) -> list[tuple[Member, float]]:
        """The advisories linked with `member` directly, and when each link was made."""
        rows = await self.database.run(
            lambda c: c.execute(
                "SELECT other_repository, other_ghsa_id, linked_at FROM advisory_links "
                "WHERE repository = ? AND ghsa_id = ? ORDER BY other_repository, other_ghsa_id",
                member,
            ).fetchall()
        )
        return [((str(r[0]), str(r[1])), float(r[2])) for r in rows]

    async def link(self, a: Member, b: Member, *, by: str, at: float) -> float:
        """Link two advisories; when the link was made (`at`, or an earlier link's time)."""

        def work(connection: Connection) -> float:
            with transaction(connection):
                for row in _pair_rows(a, b, by, at):
                    connection.execute(
                        "INSERT INTO advisory_links (repository, ghsa_id, other_repository, "
                        "other_ghsa_id, linked_by, linked_at) VALUES (?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT DO NOTHING",
                        row,
                    )
                found = connection.execute(
                    "SELECT linked_at FROM advisory_links WHERE repository = ? AND ghsa_id = ? "
                    "AND other_repository = ? AND other_ghsa_id = ?",
                    (a[0], a[1], b[0], b[1]),
                ).fetchone()
                return float(found[0])

        return await self.database.run(work)

    async def unlink(self, a: Member, b: Member) -> bool:
        """Remove the direct link between two advisories; False when there was none."""

        def work(connection: Connection) -> bool:
            with transaction(connection):
                removed = 0
                for row in ((a[0], a[1], b[0], b[1]), (b[0], b[1], a[0], a[1])):
                    removed += connection.execute(
                        "DELETE FROM advisory_links WHERE repository = ? AND ghsa_id = ? "
                        "AND other_repository = ? AND other_ghsa_id = ?",
                        row,
                    ).rowcount
                return removed != 0

        return await self.database.run(work)

    async def clear_planned_disclosure(self, members: Iterable[Member]) -> None:
        rows = list(members)

        def work(connection: Connection) -> None:
            with transaction(connection):
                connection.executemany(
                    "DELETE FROM planned_disclosures WHERE repository = ? AND ghsa_id = ?", rows
                )

        await self.database.run(work)

    async def set_planned_disclosure(
        self, members: Iterable[Member], day: datetime.date, *, by: str, at: float
    ) -> None:
        """Write one date on every member (the reminder tier starts over)."""
        rows = [(repo, ghsa, day.isoformat(), by, at) for repo, ghsa in members]

        def work(connection: Connection) -> None:
            with transaction(connection):
                connection.executemany(
                    "INSERT INTO planned_disclosures (repository, ghsa_id, disclosure_date, "
                    "set_by, set_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (repository, ghsa_id) "
                    "DO UPDATE SET disclosure_date = excluded.disclosure_date, "
                    "set_by = excluded.set_by, set_at = excluded.set_at, "
                    "last_reminder_days = NULL",
                    rows,
                )

        await self.database.run(work)

    async def claim_disclosure_reminder(self, member: Member, days: int) -> bool:
        """Claim the reminder sent `days` before the planned date, once (a conditional
        write, so two replicas never both send it)."""
        cursor_count = await self.database.run(
            lambda c: (
                c.execute(
                    "UPDATE planned_disclosures SET last_reminder_days = ? "
                    "WHERE repository = ? AND ghsa_id = ? "
                    "AND (last_reminder_days IS NULL OR last_reminder_days > ?)",
                    (days, member[0], member[1], days),
                ).rowcount
            )
        )
        return cursor_count > 0

    async def planned(self) -> list[tuple[str, str, datetime.date]]:
        """Every advisory with a planned disclosure date of its own."""
        rows = await self.database.run(
            lambda c: c.execute(
                "SELECT repository, ghsa_id, disclosure_date FROM planned_disclosures "
                "ORDER BY repository, ghsa_id"
            ).fetchall()
        )
        return [(str(r[0]), str(r[1]), datetime.date.fromisoformat(str(r[2]))) for r in rows]
