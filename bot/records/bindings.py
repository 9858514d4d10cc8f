"""CVE IDs bound to the advisory the bot got them for, and OSV record numbers.

A row of `cve_reservations` binds a CVE ID to one advisory: reserved through
CVE Services (`cve-services`, state reserved, published or rejected),
assigned by GitHub after the bot's request (`github`, state assigned), or
recorded by a team member's `/cve CVE-ID` (`manual`, state assigned). What an
advisory's CVE field says is not enough: any collaborator may type another
advisory's ID there (bot/records/cve_ids.py). `record_ids` numbers
`PREFIX-YEAR-N` OSV ids once per advisory.

A row of `cve_requests` says a request for an advisory's CVE ID is in flight
(CVE Services or GitHub asked, no answer yet). It is taken with one conditional
write before the request and dropped after it, so two runs for one advisory
at once (two replicas, a retry beside a run that is still going) never both
ask: the second waits, then finds the first one's ID.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.db.connection import Connection, Database
from bot.db.locks import exclusive

# A request in flight for longer than this was left by a run that died; another
# run may take it over (seconds, on the bot's clock).
REQUEST_SECONDS = 120.0


@dataclass(frozen=True)
class CveBinding:
    cve_id: str
    repository: str
    ghsa_id: str
    provider: str  # cve-services, github or manual
    state: str  # reserved, assigned, published or rejected

    def binds(self, repository: str, ghsa_id: str) -> bool:
        """True when this is the advisory's own, live ID."""
        return (
            self.repository == repository and self.ghsa_id == ghsa_id and self.state != "rejected"
        )


class CveBindings:
    """Table `cve_reservations`."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # A row binds a CVE ID to the one advisory the bot got it for: reserved through
    # CVE Services (`cve-services`, state reserved/published/rejected), assigned by
    # GitHub after the bot's request (`github`, state assigned), or recorded by a team
    # member's `/cve CVE-ID` (`manual`, state assigned). What the advisory's CVE field
    # says is not enough: any collaborator may type another advisory's ID there.

    async def add_reservation(
        self,
        cve_id: str,
        repository: str,
        ghsa_id: str,
        provider: str,
        *,
        at: float,
        state: str = "reserved",
    ) -> bool:
        """Bind `cve_id` to the advisory; False when it is bound already (to any advisory)."""
        return bool(
            await self.database.run(
                lambda c: c.execute(
                    "INSERT INTO cve_reservations (cve_id, repository, ghsa_id, provider, state, "
                    "reserved_at, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (cve_id) DO NOTHING",
                    (cve_id, repository, ghsa_id, provider, state, at, at),
                ).rowcount
            )
        )

    async def reservation_of(self, cve_id: str) -> CveBinding | None:
        """The advisory `cve_id` is bound to, how and in what state; None if unbound."""
        row = await self.database.run(
            lambda c: c.execute(
                "SELECT cve_id, repository, ghsa_id, provider, state FROM cve_reservations "
                "WHERE cve_id = ?",
                (cve_id.upper(),),
            ).fetchone()
        )
        return CveBinding(*row) if row else None

    async def active_reservation(self, repository: str, ghsa_id: str) -> str | None:
        """A CVE ID reserved for this advisory and not rejected, if any."""
        row = await self.database.run(
            lambda c: c.execute(
                "SELECT cve_id FROM cve_reservations WHERE repository = ? AND ghsa_id = ? "
                "AND state != 'rejected' ORDER BY reserved_at DESC",
                (repository, ghsa_id),
            ).fetchone()
        )
        return str(row[0]) if row else None

    async def has_binding(self, repository: str, ghsa_id: str, *, provider: str) -> bool:
        """True when `provider` ever bound an ID to this advisory (rejected ones too)."""
        row = await self.database.run(
            lambda c: c.execute(
                "SELECT 1 FROM cve_reservations WHERE repository = ? AND ghsa_id = ? "
                "AND provider = ? LIMIT 1",
                (repository, ghsa_id, provider),
            ).fetchone()
        )
        return row is not None

    async def start_request(self, repository: str, ghsa_id: str, *, now: float) -> bool:
        """Hold the advisory's CVE request; False while another run holds it.

        One conditional write: it takes a free request, or one older than
        REQUEST_SECONDS (its run died), and refuses one in flight.
        """
        return bool(
            await self.database.run(
                lambda c: c.execute(
                    "INSERT INTO cve_requests (repository, ghsa_id, started_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (repository, ghsa_id) DO UPDATE SET "
                    "started_at = excluded.started_at WHERE cve_requests.started_at < ?",
                    (repository, ghsa_id, now, now - REQUEST_SECONDS),
                ).rowcount
            )
        )

    async def end_request(self, repository: str, ghsa_id: str) -> None:
        """Let the advisory's CVE request go (after its ID, or its failure, is recorded)."""
        await self.database.run(
            lambda c: c.execute(
                "DELETE FROM cve_requests WHERE repository = ? AND ghsa_id = ?",
                (repository, ghsa_id),
            )
        )

    async def set_reservation_state(self, cve_id: str, state: str, *, at: float) -> None:
        await self.database.run(
            lambda c: c.execute(
                "UPDATE cve_reservations SET state = ?, changed_at = ? WHERE cve_id = ?",
                (state, at, cve_id),
            )
        )


class RecordIds:
    """Table `record_ids`: OSV ids with a prefix and yearly numbering."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def record_id(self, prefix: str, year: int, repository: str, ghsa_id: str) -> str:
        """PREFIX-YEAR-N for this advisory: allocated once, the next free N of the year.

        Read and allocated under the lock `record-ids:PREFIX`, so replicas
        numbering at once never read the same highest N (and the primary key on
        prefix, year and number would refuse it if they did).
        """

        def work(connection: Connection) -> str:
            with exclusive(connection, f"record-ids:{prefix}"):
                row = connection.execute(
                    "SELECT year, number FROM record_ids WHERE prefix = ? AND repository = ? "
                    "AND ghsa_id = ?",
                    (prefix, repository, ghsa_id),
                ).fetchone()
                if row is None:
                    (highest,) = connection.execute(
                        "SELECT COALESCE(MAX(number), 0) FROM record_ids "
                        "WHERE prefix = ? AND year = ?",
                        (prefix, year),
                    ).fetchone()
                    row = (year, int(highest) + 1)
                    connection.execute(
                        "INSERT INTO record_ids (prefix, year, number, repository, ghsa_id) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (prefix, year, row[1], repository, ghsa_id),
                    )
            return f"{prefix}-{row[0]}-{row[1]}"

        return await self.database.run(work)
