"""What the bot keeps per advisory: state, people, clocks, the audit log, poll state.

The other per-advisory tables have stores of their own: command runs
(bot/commands/log.py), linked fixes (bot/advisories/fixes.py), CVE bindings
and record numbers (bot/records/bindings.py), members' leave (bot/team/leave.py).

Two choices on these rows (a coordinator by load, a reminder's spacing) read
counts that other deliveries, and other replicas, change at the same moment:
each is read, decided and written under a lock or a conditional write, in
bot/advisories/shared_counts.py (AdvisoryStore's base).

Advisory text (summary, description) is not copied here while it is
embargoed: it stays on GitHub. The fingerprint is a hash of the fields the
poller watches, so a change is noticed without keeping the text. Two mirrors
are kept: the credits (logins, types, acceptance) of every advisory, and, once
an advisory is published and so public, its public record for the credits
page and the OSV and CVE exports.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.advisories.links import group_of, planned_disclosure_of
from bot.advisories.public import (
    Credit,
    PublishedAdvisory,
    credits_of,
    decode_credits,
    encode_credits,
    public_record_of,
)
from bot.advisories.shared_counts import SharedCounts
from bot.core.digests import Digester
from bot.db.connection import Connection, Database, transaction


@dataclass(frozen=True)
class AdvisoryRecord:
    repository: str
    ghsa_id: str
    installation_id: int
    state: str
    reporter: str | None
    coordinator: str | None
    received_at: float
    acknowledged_at: float | None
    last_activity_at: float
    github_updated_at: str | None
    fingerprint: str | None
    completed_at: float | None = None  # published, or tagged [COMPLETED]: timers stop
    final_credits: str | None = None  # JSON of credits_detailed at publication
    last_reminder_at: float | None = None  # written by claim_reminder, not save()
    human_acknowledged_at: float | None = None  # a team member's first comment
    coordinator_since: float | None = None
    # The most urgent reminder tier claimed (days before the deadline); written only
    # by claim_reminder, never by save().
    last_reminder_tier: int | None = None


@dataclass(frozen=True)
class SeenAdvisory:
    """What the poller saw of one advisory."""

    repository: str
    ghsa_id: str
    installation_id: int
    advisory: Mapping[str, Any]
    fingerprint: str
    seen_at: float


@dataclass(frozen=True)
class AuditEntry:
    at: float
    action: str
    reason: str
    delivery: str | None


_COLUMNS = (
    "repository, ghsa_id, installation_id, state, reporter, coordinator, received_at, "
    "acknowledged_at, last_activity_at, github_updated_at, fingerprint, completed_at, "
    "final_credits, last_reminder_at, human_acknowledged_at, coordinator_since, "
    "last_reminder_tier"
)
_SELECT = "SELECT " + _COLUMNS + " FROM advisories "  # noqa: S608 - constants only
_PLACEHOLDERS = ", ".join("?" * len(_COLUMNS.split(",")))
_UPSERT = "INSERT INTO advisories (" + _COLUMNS + ") VALUES (" + _PLACEHOLDERS + ") "  # noqa: S608


class AdvisoryStore(SharedCounts):
    """Advisory records, the audit log, one-time effects, fingerprints and poll cursors,
    the credits mirror and published advisories' public records."""

    def __init__(self, database: Database, digester: Digester | None = None) -> None:
        self.database = database
        # Keyed digests for fingerprints and command keys (bot/core/digests.py); the
        # default key serves read-only uses such as the CLI's listings.
        self.digester = digester or Digester.from_secret(None)

    def fingerprint_of(self, advisory: Mapping[str, Any]) -> str:
        """The advisory's fingerprint under the store's key."""
        return self.digester.fingerprint(advisory)

    async def get(self, repository: str, ghsa_id: str) -> AdvisoryRecord | None:
        row = await self.database.run(
            lambda c: c.execute(
                _SELECT + "WHERE repository = ? AND ghsa_id = ?", (repository, ghsa_id)
            ).fetchone()
        )
        return AdvisoryRecord(*row) if row else None

    async def all_advisories(self) -> list[AdvisoryRecord]:
        rows = await self.database.run(
            lambda c: c.execute(_SELECT + "ORDER BY received_at").fetchall()
        )
        return [AdvisoryRecord(*row) for row in rows]

    async def open_advisories(self) -> list[AdvisoryRecord]:
        rows = await self.database.run(
            lambda c: c.execute(
                _SELECT + "WHERE state IN ('triage', 'draft') AND completed_at IS NULL "
                "ORDER BY received_at"
            ).fetchall()
        )
        return [AdvisoryRecord(*row) for row in rows]

    async def save(self, record: AdvisoryRecord) -> None:
        """Create or update a record (not its fingerprint: see set_fingerprint; not its
        reminder clock: see claim_reminder)."""
        values = (
            record.repository,
            record.ghsa_id,
            record.installation_id,
            record.state,
            record.reporter,
            record.coordinator,
            record.received_at,
            record.acknowledged_at,
            record.last_activity_at,
            record.github_updated_at,
            record.fingerprint,
            record.completed_at,
            record.final_credits,
            record.last_reminder_at,
            record.human_acknowledged_at,
            record.coordinator_since,
            record.last_reminder_tier,
        )
        await self.database.run(
            lambda c: c.execute(
                _UPSERT + "ON CONFLICT (repository, ghsa_id) DO UPDATE SET "
                "installation_id = excluded.installation_id, state = excluded.state, "
                "reporter = excluded.reporter, coordinator = excluded.coordinator, "
                "received_at = excluded.received_at, acknowledged_at = excluded.acknowledged_at, "
                # fingerprint and github_updated_at belong to the poller and
                # set_fingerprint(): a handler's copy of the record may be stale.
                "last_activity_at = excluded.last_activity_at, "
                # last_reminder_at and last_reminder_tier belong to claim_reminder().
                "completed_at = excluded.completed_at, final_credits = excluded.final_credits, "
                "human_acknowledged_at = excluded.human_acknowledged_at, "
                "coordinator_since = excluded.coordinator_since",
                values,
            )
        )

    async def audit(
        self,
        repository: str,
        ghsa_id: str,
        *,
        at: float,
        action: str,
        reason: str,
        delivery: str | None,
    ) -> None:
        await self.database.run(
            lambda c: c.execute(
                "INSERT INTO audit_log (repository, ghsa_id, at, action, reason, delivery) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (repository, ghsa_id, at, action, reason, delivery),
            )
        )

    async def audit_log(self, repository: str, ghsa_id: str) -> list[AuditEntry]:
        rows = await self.database.run(
            lambda c: c.execute(
                "SELECT at, action, reason, delivery FROM audit_log "
                "WHERE repository = ? AND ghsa_id = ? ORDER BY id",
                (repository, ghsa_id),
            ).fetchall()
        )
        return [AuditEntry(*row) for row in rows]

    async def effect_done(self, key: str) -> bool:
        row = await self.database.run(
            lambda c: c.execute("SELECT 1 FROM effects WHERE effect_key = ?", (key,)).fetchone()
        )
        return row is not None

    async def record_effect(self, key: str, *, at: float) -> bool:
        """Record `key` as done; True when this call recorded it (one conditional
        write, so of two replicas recording one effect only one gets True)."""
        inserted: int = await self.database.run(
            lambda c: c.execute(
                "INSERT INTO effects (effect_key, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (key, at),
            ).rowcount
        )
        return inserted == 1

    async def set_fingerprint(
        self, repository: str, ghsa_id: str, advisory: Mapping[str, Any]
    ) -> None:
        """After the bot changes an advisory: its new state, and no echo from the poller."""
        values = (
            self.fingerprint_of(advisory),
            advisory.get("updated_at"),
            advisory["state"],
            encode_credits(credits_of(advisory)),
            public_record_of(advisory),
            repository,
            ghsa_id,
        )
        await self.database.run(
            lambda c: c.execute(
                "UPDATE advisories SET fingerprint = ?, github_updated_at = ?, state = ?, "
                "credits = ?, public_record = COALESCE(?, public_record) "
                "WHERE repository = ? AND ghsa_id = ?",
                values,
            )
        )

    async def poll_cursor(self, repository: str) -> str | None:
        row = await self.database.run(
            lambda c: c.execute(
                "SELECT newest_updated_at FROM poll_cursors WHERE repository = ?", (repository,)
            ).fetchone()
        )
        return str(row[0]) if row else None

    async def set_poll_cursor(self, repository: str, newest_updated_at: str) -> None:
        await self.database.run(
            lambda c: c.execute(
                "INSERT INTO poll_cursors (repository, newest_updated_at) VALUES (?, ?) "
                "ON CONFLICT (repository) DO UPDATE SET "
                "newest_updated_at = excluded.newest_updated_at",
                (repository, newest_updated_at),
            )
        )

    async def fingerprints(self, repository: str) -> dict[str, str | None]:
        rows = await self.database.run(
            lambda c: c.execute(
                "SELECT ghsa_id, fingerprint FROM advisories WHERE repository = ?", (repository,)
            ).fetchall()
        )
        return {row[0]: row[1] for row in rows}

    async def set_fingerprints(self, rows: list[SeenAdvisory]) -> None:
        """Record what the poller saw, creating records for advisories seen the first time.

        The credits mirror and, for a published advisory, its public record are
        refreshed with the fingerprint.
        """
        values = [
            (
                row.repository,
                row.ghsa_id,
                row.advisory["state"],
                row.fingerprint,
                row.installation_id,
                row.advisory.get("updated_at"),
                row.seen_at,
                row.seen_at,
                encode_credits(credits_of(row.advisory)),
                public_record_of(row.advisory),
            )
            for row in rows
        ]

        def work(connection: Connection) -> None:
            with transaction(connection):
                connection.executemany(
                    "INSERT INTO advisories (repository, ghsa_id, state, fingerprint, "
                    "installation_id, github_updated_at, received_at, last_activity_at, "
                    "credits, public_record) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repository, ghsa_id) "
                    "DO UPDATE SET fingerprint = excluded.fingerprint, state = excluded.state, "
                    "github_updated_at = excluded.github_updated_at, credits = excluded.credits, "
                    "public_record = COALESCE(excluded.public_record, advisories.public_record) "
                    # A handler may have recorded a newer view meanwhile (its own PATCH).
                    "WHERE advisories.github_updated_at IS NULL "
                    "OR advisories.github_updated_at < excluded.github_updated_at",
                    values,
                )

        await self.database.run(work)

    async def credits(self, repository: str, ghsa_id: str) -> list[Credit]:
        """The mirrored credits, as the poller or the bot's own last change saw them."""
        row = await self.database.run(
            lambda c: c.execute(
                "SELECT credits FROM advisories WHERE repository = ? AND ghsa_id = ?",
                (repository, ghsa_id),
            ).fetchone()
        )
        return decode_credits(row[0]) if row else []

    async def published(self) -> list[PublishedAdvisory]:
        """Published advisories' public records, newest publication first."""
        rows = await self.database.run(
            lambda c: c.execute(
                "SELECT repository, ghsa_id, public_record FROM advisories "
                "WHERE public_record IS NOT NULL"
            ).fetchall()
        )
        found = [PublishedAdvisory(row[0], row[1], json.loads(row[2])) for row in rows]
        return sorted(found, key=lambda p: p.record.get("published_at") or "", reverse=True)

    async def published_one(self, repository: str, ghsa_id: str) -> PublishedAdvisory | None:
        row = await self.database.run(
            lambda c: c.execute(
                "SELECT public_record FROM advisories WHERE repository = ? AND ghsa_id = ? "
                "AND public_record IS NOT NULL",
                (repository, ghsa_id),
            ).fetchone()
        )
        return PublishedAdvisory(repository, ghsa_id, json.loads(row[0])) if row else None

    async def linked_group(self, repository: str, ghsa_id: str) -> list[tuple[str, str]]:
        """The (repository, ghsa_id) pairs of the advisory's linked group, itself
        included, sorted; just itself when it is not linked (bot/advisories/links.py)."""
        return await self.database.run(lambda c: group_of(c, repository, ghsa_id))

    async def planned_disclosure(self, repository: str, ghsa_id: str) -> datetime.date | None:
        """The group's planned disclosure date (`/embargo`), the earliest of its members'."""
        return await self.database.run(lambda c: planned_disclosure_of(c, repository, ghsa_id))
