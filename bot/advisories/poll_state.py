"""What the poller remembers between cycles, so a quiet cycle costs almost nothing.

Per open advisory (table `poll_comment_state`, migration 14): the `comments`
count and `updated_at` GitHub listed when its comments were last read, when
that was, and whether any of its comments is a person's (not a bot's). The
poller reads an advisory's comments again only when the count or `updated_at`
moved, or when the edit sweep comes round (:func:`choose_sweep`): edits change
neither, and only a person's comment can carry a command, so an advisory whose
comments are all bots' has nothing an edit sweep could find.

Which repositories have been polled once (backfilled) is the existing
`poll_cursors` table, read here in bulk; an organization's cursor is kept
there too, under `org:LOGIN`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.db.connection import Connection, Database, transaction

Key = tuple[str, str]  # (repository, ghsa_id)


@dataclass(frozen=True)
class Observed:
    """An advisory as this cycle's list showed it."""

    installation_id: int
    comments: int | None
    updated_at: str


@dataclass
class PollReport:
    repositories: int = 0
    events: int = 0
    errors: int = 0
    requests: int = 0
    comment_reads: int = 0
    sweeps: int = 0
    deferred: int = 0


@dataclass(frozen=True)
class CommentState:
    comments: int | None  # as listed before the last read; None: GitHub gave no count
    updated_at: str | None
    read_at: float
    people: bool  # a comment by a person was seen: edits are worth sweeping for


class PollState:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def comment_states(self) -> dict[Key, CommentState]:
        rows = await self.database.run(
            lambda c: c.execute(
                "SELECT repository, ghsa_id, comments, updated_at, read_at, people "
                "FROM poll_comment_state"
            ).fetchall()
        )
        return {(r[0], r[1]): CommentState(r[2], r[3], float(r[4]), bool(r[5])) for r in rows}

    async def record_reads(self, reads: Mapping[Key, CommentState]) -> None:
        rows = [
            (key[0], key[1], s.comments, s.updated_at, s.read_at, int(s.people))
            for key, s in reads.items()
        ]
        if not rows:
            return

        def work(connection: Connection) -> None:
            with transaction(connection):
                connection.executemany(
                    "INSERT INTO poll_comment_state (repository, ghsa_id, comments, "
                    "updated_at, read_at, people) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (repository, ghsa_id) DO UPDATE SET "
                    "comments = excluded.comments, updated_at = excluded.updated_at, "
                    "read_at = excluded.read_at, people = excluded.people",
                    rows,
                )

        await self.database.run(work)

    async def covered(self, repositories: Iterable[str]) -> set[str]:
        """The repositories among `repositories` that have been polled (backfilled) once."""
        wanted = set(repositories)
        rows = await self.database.run(
            lambda c: c.execute("SELECT repository FROM poll_cursors").fetchall()
        )
        return {row[0] for row in rows if row[0] in wanted}

    async def cover(self, cursors: Mapping[str, str]) -> None:
        """Record repositories as polled, each with the newest `updated_at` seen in it."""
        rows = list(cursors.items())
        if not rows:
            return

        def work(connection: Connection) -> None:
            with transaction(connection):
                connection.executemany(
                    "INSERT INTO poll_cursors (repository, newest_updated_at) VALUES (?, ?) "
                    "ON CONFLICT (repository) DO UPDATE SET "
                    "newest_updated_at = excluded.newest_updated_at",
                    rows,
                )

        await self.database.run(work)


def choose_sweep(
    last_read: Mapping[Key, float], *, now: float, period: float, interval: float, credit: float
) -> tuple[list[Key], float]:
    """The advisories whose comments this cycle re-reads for edits, stalest first, and
    the credit to carry to the next cycle.

    n candidates read once per period of k cycles is n / k reads a cycle: the
    credit gathers that share each cycle and a read spends one, so reads spread
    evenly over the cycles (one advisory: once every k cycles, not every cycle;
    a hundred over ten cycles: ten a cycle). Any candidate that would be late by
    the next cycle is read now whatever the credit says, so each is read within
    the period even after a restart or a cycle left short by the budget.
    """
    if not last_read:
        return [], 0.0
    cycles = max(1, math.floor(period / max(interval, 1e-9)))
    credit += len(last_read) / cycles
    stalest = sorted(last_read, key=lambda key: (last_read[key], key))
    due = sum(1 for key in stalest if now - last_read[key] >= period - interval)
    take = min(len(stalest), max(due, math.floor(credit + 1e-9)))
    credit = max(-float(len(stalest)), credit - take)
    return stalest[:take], credit
