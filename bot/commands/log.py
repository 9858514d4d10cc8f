"""What the store keeps of commands: which lines of a comment ran, and the replies.

A run's key (a keyed digest and an occurrence, bot/commands/dispatch.py) is
kept for good, so a comment never runs a command twice; its quoted line and
outcome only until the reply carrying them is posted (or the retention, when
it never could be). The reply log counts answers per person and place for
the reply budget.
"""

from __future__ import annotations

from bot.db.connection import Database

# The position of a line set aside (written into someone's comment by another
# person): kept as done, yet run when its author is shown to have written it.
SET_ASIDE = -1


class CommandLog:
    """Tables `command_runs` and `reply_log`."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def command_keys(self, comment_id: int) -> set[str]:
        """The keys of the command lines already run (or refused) from a comment."""
        rows = await self.database.run(
            lambda c: c.execute(
                "SELECT command_key FROM command_runs WHERE comment_id = ?", (comment_id,)
            ).fetchall()
        )
        return {str(row[0]) for row in rows}

    async def set_aside_keys(self, comment_id: int) -> set[str]:
        """The keys of a comment's lines set aside (see :meth:`set_aside`)."""
        rows = await self.database.run(
            lambda c: c.execute(
                "SELECT command_key FROM command_runs WHERE comment_id = ? AND position = ?",
                (comment_id, SET_ASIDE),
            ).fetchall()
        )
        return {str(row[0]) for row in rows}

    async def set_aside(self, comment_id: int, keys: list[str], *, at: float) -> None:
        """Keep lines someone else wrote into a comment from running as its author:
        their keys only, no text, no reply owed. A run recorded later replaces them."""
        await self.database.run(
            lambda c: c.executemany(
                "INSERT INTO command_runs (comment_id, command_key, position, command_text, "
                "outcome, at) VALUES (?, ?, ?, '', '', ?) ON CONFLICT DO NOTHING",
                [(comment_id, key, SET_ASIDE, at) for key in keys],
            )
        )

    async def unreplied_runs(self, comment_id: int) -> list[tuple[str, str, str]]:
        """(key, command as written, outcome) of runs whose reply is still owed."""
        rows = await self.database.run(
            lambda c: c.execute(
                "SELECT command_key, command_text, outcome FROM command_runs "
                "WHERE comment_id = ? AND outcome != '' ORDER BY position, at",
                (comment_id,),
            ).fetchall()
        )
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    async def record_command(
        self, comment_id: int, key: str, position: int, text: str, outcome: str, *, at: float
    ) -> None:
        """Record a run: its key for good; its text and outcome until the reply is posted
        (an empty outcome owes no reply: silence). It replaces a line set aside."""
        await self.database.run(
            lambda c: c.execute(
                "INSERT INTO command_runs (comment_id, command_key, position, command_text, "
                "outcome, at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (comment_id, command_key) "
                "DO UPDATE SET position = excluded.position, command_text = "
                "excluded.command_text, outcome = excluded.outcome, at = excluded.at "
                "WHERE command_runs.position = ?",
                (comment_id, key, position, text if outcome else "", outcome, at, SET_ASIDE),
            )
        )

    async def forget_command_text(
        self, comment_id: int | None = None, *, before: float | None = None
    ) -> int:
        """Keep only the runs' keys: of one comment once its reply is on GitHub (or
        skipped), or of every run older than `before` (a reply that never could be
        posted, its delivery parked). Returns how many runs were cleared."""
        args: tuple[float]
        if comment_id is not None:
            where, args = "comment_id = ?", (comment_id,)
        elif before is not None:
            where, args = "at < ?", (before,)
        else:
            raise ValueError("name a comment or a time")
        cleared = await self.database.run(
            lambda c: (
                c.execute(
                    "UPDATE command_runs SET command_text = '', outcome = '' "  # noqa: S608
                    f"WHERE {where} AND (command_text != '' OR outcome != '')",
                    args,
                ).rowcount
            )
        )
        return int(cleared)

    async def record_reply(self, repository: str, subject: str, caller: str, *, at: float) -> None:
        await self.database.run(
            lambda c: c.execute(
                "INSERT INTO reply_log (repository, ghsa_id, caller, at) VALUES (?, ?, ?, ?)",
                (repository, subject, caller.lower(), at),
            )
        )

    async def replies_since(
        self, repository: str, subject: str, caller: str, *, since: float
    ) -> list[float]:
        """When the bot replied to `caller` in this place since `since`."""
        rows = await self.database.run(
            lambda c: c.execute(
                "SELECT at FROM reply_log WHERE repository = ? AND ghsa_id = ? AND caller = ? "
                "AND at >= ?",
                (repository, subject, caller.lower(), since),
            ).fetchall()
        )
        return [float(row[0]) for row in rows]
