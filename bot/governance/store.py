"""What the bot keeps for PEP 811 governance: nominations, ballots, its issues.

Ballots are private: who voted what stays here, and nothing reads a
nomination's ballots before it closes except :meth:`GovernanceStore.close`,
which counts them. A ballot is accepted only while its nomination is open
(checked in the same transaction that writes it), so a vote cast a moment
after the close never counts. Nomination states:

`open` → `failed`, or `open` → `veto_window` → `approved` or `vetoed`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from bot.db.backends import Connection, transaction
from bot.db.connection import Database
from bot.governance.votes import Tally, tally

OPEN, VETO_WINDOW, APPROVED, FAILED, VETOED = "open", "veto_window", "approved", "failed", "vetoed"


@dataclass(frozen=True)
class Nomination:
    id: int
    repository: str
    issue_number: int
    nominee: str
    nominator: str
    reason: str
    mode: str  # "ballot" or "comments"
    opened_at: float
    closes_at: float
    state: str
    yes_votes: int | None
    no_votes: int | None
    abstentions: int | None
    closed_at: float | None
    veto_ends_at: float | None
    outcome_note: str | None

    @property
    def subject(self) -> str:
        """The audit log's name for it (the log is keyed by repository and subject)."""
        return f"nomination-{self.id}"


def utc_minutes(timestamp: float) -> str:
    """How nomination times are shown, in comments and on the ballot page alike."""
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


_COLUMNS = (
    "id, repository, issue_number, nominee, nominator, reason, mode, opened_at, closes_at, "
    "state, yes_votes, no_votes, abstentions, closed_at, veto_ends_at, outcome_note"
)
_SELECT = "SELECT " + _COLUMNS + " FROM nominations "  # noqa: S608 - constants only


class BallotRefused(Exception):
    """The nomination is not open for votes; the message says why."""


class GovernanceStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def open_nomination(
        self,
        *,
        repository: str,
        issue_number: int,
        nominee: str,
        nominator: str,
        reason: str,
        mode: str,
        source_comment: int,
        opened_at: float,
        closes_at: float,
    ) -> tuple[Nomination, bool]:
        """Open a vote (once per comment); (the nomination, whether it is new)."""

        def work(connection: Connection) -> tuple[int, bool]:
            with transaction(connection):
                row = connection.execute(
                    "SELECT id FROM nominations WHERE source_comment = ?", (source_comment,)
                ).fetchone()
                if row is not None:
                    return int(row[0]), False
                inserted = connection.execute(
                    "INSERT INTO nominations (repository, issue_number, nominee, nominator, "
                    "reason, mode, source_comment, opened_at, closes_at, state) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        repository,
                        issue_number,
                        nominee,
                        nominator,
                        reason,
                        mode,
                        source_comment,
                        opened_at,
                        closes_at,
                        OPEN,
                    ),
                ).fetchone()
                assert inserted is not None
                return int(inserted[0]), True

        nomination_id, is_new = await self.database.run(work)
        nomination = await self.get(nomination_id)
        assert nomination is not None
        return nomination, is_new

    async def get(self, nomination_id: int) -> Nomination | None:
        row = await self.database.run(
            lambda c: c.execute(_SELECT + "WHERE id = ?", (nomination_id,)).fetchone()
        )
        return Nomination(*row) if row else None

    async def nominations(self, *, states: tuple[str, ...] = ()) -> list[Nomination]:
        where = f"WHERE state IN ({', '.join('?' * len(states))}) " if states else ""
        rows = await self.database.run(
            lambda c: c.execute(_SELECT + where + "ORDER BY id", states).fetchall()
        )
        return [Nomination(*row) for row in rows]

    async def in_issue(self, repository: str, issue_number: int) -> list[Nomination]:
        rows = await self.database.run(
            lambda c: c.execute(
                _SELECT + "WHERE repository = ? AND issue_number = ? ORDER BY id",
                (repository, issue_number),
            ).fetchall()
        )
        return [Nomination(*row) for row in rows]

    async def cast(self, nomination_id: int, voter: str, choice: str, *, now: float) -> bool:
        """Record or change `voter`'s ballot; True if it changed an earlier one.

        Raises BallotRefused when the nomination is not open at `now`.
        """

        def work(connection: Connection) -> bool:
            with transaction(connection):
                row = connection.execute(
                    "SELECT state, closes_at FROM nominations WHERE id = ?", (nomination_id,)
                ).fetchone()
                if row is None:
                    raise BallotRefused("there is no such nomination")
                if row[0] != OPEN or now >= float(row[1]):
                    raise BallotRefused("the vote has closed")
                earlier = connection.execute(
                    "SELECT 1 FROM ballots WHERE nomination_id = ? AND voter = ?",
                    (nomination_id, voter.lower()),
                ).fetchone()
                connection.execute(
                    "INSERT INTO ballots (nomination_id, voter, choice, cast_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (nomination_id, voter) DO UPDATE SET "
                    "choice = excluded.choice, cast_at = excluded.cast_at, "
                    "changed = ballots.changed + 1",
                    (nomination_id, voter.lower(), choice, now),
                )
                return earlier is not None

        return await self.database.run(work)

    async def own_ballot(self, nomination_id: int, voter: str) -> str | None:
        """The voter's own choice: shown to them alone, so they can check or change it."""
        row = await self.database.run(
            lambda c: c.execute(
                "SELECT choice FROM ballots WHERE nomination_id = ? AND voter = ?",
                (nomination_id, voter.lower()),
            ).fetchone()
        )
        return str(row[0]) if row else None

    async def close(
        self, nomination_id: int, *, now: float, quorum: int, veto_days: float
    ) -> tuple[Nomination, Tally] | None:
        """Count the ballots of a nomination that is due; None if it is not open or not due.

        Counting and the state change are one transaction, so a close is done once
        however many replicas or restarts attempt it.
        """

        def work(connection: Connection) -> Tally | None:
            with transaction(connection):
                row = connection.execute(
                    "SELECT state, closes_at FROM nominations WHERE id = ?", (nomination_id,)
                ).fetchone()
                if row is None or row[0] != OPEN or now < float(row[1]):
                    return None
                choices = [
                    str(r[0])
                    for r in connection.execute(
                        "SELECT choice FROM ballots WHERE nomination_id = ?", (nomination_id,)
                    ).fetchall()
                ]
                result = tally(choices, quorum=quorum)
                connection.execute(
                    "UPDATE nominations SET state = ?, yes_votes = ?, no_votes = ?, "
                    "abstentions = ?, closed_at = ?, veto_ends_at = ? WHERE id = ?",
                    (
                        VETO_WINDOW if result.passed else FAILED,
                        result.yes,
                        result.no,
                        result.abstain,
                        now,
                        now + veto_days * 86400 if result.passed else None,
                        nomination_id,
                    ),
                )
                return result

        result = await self.database.run(work)
        if result is None:
            return None
        nomination = await self.get(nomination_id)
        assert nomination is not None
        return nomination, result

    async def finish(
        self, nomination_id: int, *, from_state: str, to_state: str, note: str | None = None
    ) -> bool:
        """Move a nomination on (end of veto window, veto); False if it was not in `from_state`."""
        changed = await self.database.run(
            lambda c: (
                c.execute(
                    "UPDATE nominations SET state = ?, outcome_note = COALESCE(?, outcome_note) "
                    "WHERE id = ? AND state = ?",
                    (to_state, note, nomination_id, from_state),
                ).rowcount
            )
        )
        return bool(changed)

    async def governance_issue(self, purpose: str) -> tuple[str, int, str | None] | None:
        row = await self.database.run(
            lambda c: c.execute(
                "SELECT repository, issue_number, last_body_hash FROM governance_issues "
                "WHERE purpose = ?",
                (purpose,),
            ).fetchone()
        )
        return (str(row[0]), int(row[1]), row[2]) if row else None

    async def set_governance_issue(
        self, purpose: str, repository: str, issue_number: int, body_hash: str | None
    ) -> None:
        await self.database.run(
            lambda c: c.execute(
                "INSERT INTO governance_issues (purpose, repository, issue_number, "
                "last_body_hash) VALUES (?, ?, ?, ?) ON CONFLICT (purpose) DO UPDATE SET "
                "repository = excluded.repository, issue_number = excluded.issue_number, "
                "last_body_hash = excluded.last_body_hash",
                (purpose, repository, issue_number, body_hash),
            )
        )
