"""GitHub's points budget shared by every replica on one database.

GitHub counts points per App, not per process: two replicas that each kept
`github.points_per_minute` to themselves could together spend twice that and
get the App blocked. When the store is shared (PostgreSQL), each request's
points are also written to the table `github_points` before the request goes
out, under the `github-points` lock (bot/db/locks.py), and only when the points
every replica wrote within the window leave room for them; otherwise the
request waits for the oldest to leave the window. One short transaction per
GitHub request costs far less than the request itself. On SQLite one process
serves, and the process's own window (bot/github/budget.py) is the whole bot's.

The window is held on the injected clock, which is wall-clock time in service:
replicas compare their times, as leases do (bot/queue/leadership.py).
"""

from __future__ import annotations

from bot.core.logs import process_owner
from bot.db.connection import Connection, Database
from bot.db.locks import exclusive
from bot.github.budget import MARGIN_SECONDS, WINDOW_SECONDS

LOCK_NAME = "github-points"
# As long as the process's own window (bot/github/budget.py).
HOLD_SECONDS = WINDOW_SECONDS + MARGIN_SECONDS


def shared_points(database: Database, limit: int) -> SharedPoints | None:
    """The window replicas share, when they can: a database other processes use."""
    if database.single_process:
        return None
    return SharedPoints(database, owner=process_owner("budget"), limit=limit, hold=HOLD_SECONDS)


class SharedPoints:
    """The points every replica spent within the window, kept in the store."""

    def __init__(self, database: Database, *, owner: str, limit: int, hold: float) -> None:
        self.database = database
        self.owner = owner
        self.limit = limit
        self.hold = hold

    async def take(self, points: int, now: float) -> float:
        """Record `points` spent at `now` if they fit: 0.0. Otherwise record
        nothing and return the seconds until the oldest points leave the window."""

        def work(connection: Connection) -> float:
            with exclusive(connection, LOCK_NAME):
                cutoff = now - self.hold
                connection.execute("DELETE FROM github_points WHERE spent_at <= ?", (cutoff,))
                used, oldest = connection.execute(
                    "SELECT COALESCE(SUM(points), 0), MIN(spent_at) FROM github_points"
                ).fetchone()
                if int(used) + points > self.limit:
                    return max(0.001, float(oldest) + self.hold - now) if oldest else 0.001
                connection.execute(
                    "INSERT INTO github_points (owner, points, spent_at) VALUES (?, ?, ?)",
                    (self.owner, points, now),
                )
                return 0.0

        return await self.database.run(work)

    async def used(self, now: float) -> int:
        """Points all replicas hold in the window now."""

        def work(connection: Connection) -> int:
            row = connection.execute(
                "SELECT COALESCE(SUM(points), 0) FROM github_points WHERE spent_at > ?",
                (now - self.hold,),
            ).fetchone()
            return int(row[0])

        return await self.database.run(work)
