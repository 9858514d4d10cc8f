"""Members' own leave (`/leave until`, `/back`), honoured by coordinator choice."""

from __future__ import annotations

from bot.db.connection import Database


class MemberLeave:
    """Table `member_leave`: a member's login and the date their leave ends."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def set_leave(self, login: str, until: str | None) -> None:
        """A member's own leave (`/leave until`, `/back`), honoured by coordinator choice."""
        args: tuple[str, ...]
        if until is None:
            sql, args = "DELETE FROM member_leave WHERE login = ?", (login.lower(),)
        else:
            sql = (
                "INSERT INTO member_leave (login, until) VALUES (?, ?) "
                "ON CONFLICT (login) DO UPDATE SET until = excluded.until"
            )
            args = (login.lower(), until)
        await self.database.run(lambda c: c.execute(sql, args))

    async def leaves(self) -> dict[str, str]:
        rows = await self.database.run(
            lambda c: c.execute("SELECT login, until FROM member_leave").fetchall()
        )
        return {str(r[0]): str(r[1]) for r in rows}
