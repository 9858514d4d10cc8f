"""Sign-in sessions on the server (`web_sessions`, migration 12), for the ballot page.

The browser holds a random session id (inside a signed cookie, bot/web/signin.py);
the store holds only its SHA-256, the login and the expiry, so a copy of the
store gives nobody a cookie that works. A session is valid while its row
exists and has not expired: logging out deletes the row, so a copied cookie
stops working at once. Expired rows are pruned whenever a session starts.
"""

from __future__ import annotations

import hashlib
import secrets

from bot.db.connection import Connection, Database, transaction


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


class WebSessions:
    """The `web_sessions` table: create, look up, revoke, prune."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def create(self, login: str, *, now: float, seconds: float) -> str:
        """Start a session for `login` lasting `seconds`; its id (random, 256 bits)."""
        session_id = secrets.token_urlsafe(32)

        def work(connection: Connection) -> None:
            with transaction(connection):
                connection.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (now,))
                connection.execute(
                    "INSERT INTO web_sessions (session_id, login, created_at, expires_at) "
                    "VALUES (?, ?, ?, ?)",
                    (_digest(session_id), login, now, now + seconds),
                )

        await self.database.run(work)
        return session_id

    async def login_of(self, session_id: str, *, now: float) -> str | None:
        """The login of a live session, or None (unknown, revoked or expired)."""
        digest = _digest(session_id)
        row = await self.database.run(
            lambda c: c.execute(
                "SELECT login FROM web_sessions WHERE session_id = ? AND expires_at > ?",
                (digest, now),
            ).fetchone()
        )
        return str(row[0]) if row else None

    async def revoke(self, session_id: str) -> None:
        """End a session: its cookie is refused from now on."""
        digest = _digest(session_id)
        await self.database.run(
            lambda c: c.execute("DELETE FROM web_sessions WHERE session_id = ?", (digest,))
        )

    async def prune(self, *, now: float) -> int:
        """Delete expired sessions; how many."""
        return await self.database.run(
            lambda c: int(
                c.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (now,)).rowcount
            )
        )
