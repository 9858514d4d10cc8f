"""What the bot keeps per advisory: state, people, clocks, and an audit log.

Advisory text (summary, description) is not copied here while it is
embargoed: it stays on GitHub. The fingerprint is a hash of the fields the
poller watches, so a change is noticed without keeping the text. Two mirrors
are kept: the credits (logins, types, acceptance) of every advisory, and, once
an advisory is published and so public, its public record for the credits
page and the OSV and CVE exports.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
    last_reminder_at: float | None = None
    human_acknowledged_at: float | None = None  # a team member's first comment
    coordinator_since: float | None = None


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
class Credit:
    login: str
    type: str
    state: str  # pending, accepted or declined


def credits_of(advisory: Mapping[str, Any]) -> list[Credit]:
    """The advisory's credits with their acceptance (GitHub's `credits_detailed`)."""
    return [
        Credit(c["user"]["login"], c["type"], c.get("state") or "pending")
        for c in advisory.get("credits_detailed") or []
        if c.get("user")
    ]


def encode_credits(credits: list[Credit]) -> str:
    return json.dumps([{"login": c.login, "type": c.type, "state": c.state} for c in credits])


def decode_credits(text: str | None) -> list[Credit]:
    return [Credit(c["login"], c["type"], c["state"]) for c in json.loads(text or "[]")]


PUBLIC_FIELDS = (
    "ghsa_id",
    "cve_id",
    "html_url",
    "summary",
    "description",
    "severity",
    "cvss_severities",
    "cwe_ids",
    "cwes",
    "vulnerabilities",
    "published_at",
    "updated_at",
    "identifiers",
)


def public_view(advisory: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that become public on publication, with credits as login/type/state."""
    record = {name: advisory.get(name) for name in PUBLIC_FIELDS}
    record["credits"] = [vars(c) for c in credits_of(advisory)]
    return record


def public_record_of(advisory: Mapping[str, Any]) -> str | None:
    """The published advisory's public fields as JSON; None while it is not public."""
    if advisory.get("state") != "published":
        return None
    return json.dumps(public_view(advisory), sort_keys=True)


@dataclass(frozen=True)
class PublishedAdvisory:
    repository: str
    ghsa_id: str
    record: dict[str, Any]  # the public fields, see PUBLIC_FIELDS, plus "credits"


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


@dataclass(frozen=True)
class AuditEntry:
    at: float
    action: str
    reason: str
    delivery: str | None


_COLUMNS = (
    "repository, ghsa_id, installation_id, state, reporter, coordinator, received_at, "
    "acknowledged_at, last_activity_at, github_updated_at, fingerprint, completed_at, "
    "final_credits, last_reminder_at, human_acknowledged_at, coordinator_since"
)
_SELECT = "SELECT " + _COLUMNS + " FROM advisories "  # noqa: S608 - constants only
_PLACEHOLDERS = ", ".join("?" * len(_COLUMNS.split(",")))
_UPSERT = "INSERT INTO advisories (" + _COLUMNS + ") VALUES (" + _PLACEHOLDERS + ") "  # noqa: S608


class AdvisoryStore:
    """Advisory records, the audit log, one-time effects and poll cursors."""

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
        """Create or update a record (not its fingerprint: see set_fingerprint)."""
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
                "completed_at = excluded.completed_at, final_credits = excluded.final_credits, "
                "last_reminder_at = excluded.last_reminder_at, "
                "human_acknowledged_at = excluded.human_acknowledged_at, "
                "coordinator_since = excluded.coordinator_since",
                values,
            )
        )

    async def coordinator_loads(self) -> tuple[dict[str, int], dict[str, float]]:
        """Open advisories per coordinator, and when each was last assigned (lower-case logins)."""

        def work(connection: Connection) -> tuple[dict[str, int], dict[str, float]]:
            loads = connection.execute(
                "SELECT LOWER(coordinator), COUNT(*) FROM advisories WHERE coordinator IS NOT NULL "
                "AND state IN ('triage', 'draft') AND completed_at IS NULL "
                "GROUP BY LOWER(coordinator)"
            ).fetchall()
            last = connection.execute(
                "SELECT LOWER(coordinator), MAX(coordinator_since) FROM advisories "
                "WHERE coordinator IS NOT NULL GROUP BY LOWER(coordinator)"
            ).fetchall()
            return {k: int(v) for k, v in loads}, {k: float(v or 0) for k, v in last}

        return await self.database.run(work)

    async def command_keys(self, comment_id: int) -> set[str]:
        """The keys of the command lines already run (or refused) from a comment."""
        rows = await self.database.run(
            lambda c: c.execute(
                "SELECT command_key FROM command_runs WHERE comment_id = ?", (comment_id,)
            ).fetchall()
        )
        return {str(row[0]) for row in rows}

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
        (an empty outcome owes no reply: silence)."""
        await self.database.run(
            lambda c: c.execute(
                "INSERT INTO command_runs (comment_id, command_key, position, command_text, "
                "outcome, at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (comment_id, key, position, text if outcome else "", outcome, at),
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
            lambda c: c.execute(
                "UPDATE command_runs SET command_text = '', outcome = '' "  # noqa: S608
                f"WHERE {where} AND (command_text != '' OR outcome != '')",
                args,
            ).rowcount
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

    async def link_fix(
        self, repository: str, ghsa_id: str, pr_repository: str, pr_number: int
    ) -> bool:
        """Link a public fix pull request to an advisory; False if it was linked already."""
        return bool(
            await self.database.run(
                lambda c: (
                    c.execute(
                        "INSERT INTO advisory_fixes "
                        "(repository, ghsa_id, pr_repository, pr_number) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        (repository, ghsa_id, pr_repository.lower(), pr_number),
                    ).rowcount
                )
            )
        )

    async def advisories_fixed_by(
        self, pr_repository: str, pr_number: int
    ) -> list[tuple[str, str]]:
        rows = await self.database.run(
            lambda c: c.execute(
                "SELECT repository, ghsa_id FROM advisory_fixes "
                "WHERE pr_repository = ? AND pr_number = ?",
                (pr_repository.lower(), pr_number),
            ).fetchall()
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    async def record_merge(
        self, pr_repository: str, pr_number: int, merge_commit: str | None, merged_at: float
    ) -> None:
        await self.database.run(
            lambda c: c.execute(
                "UPDATE advisory_fixes SET merge_commit = ?, merged_at = ? "
                "WHERE pr_repository = ? AND pr_number = ?",
                (merge_commit, merged_at, pr_repository.lower(), pr_number),
            )
        )

    async def fixes(self, repository: str, ghsa_id: str) -> list[tuple[str, int, str | None]]:
        """(PR repository, PR number, merge commit or None) for an advisory's fixes."""
        rows = await self.database.run(
            lambda c: c.execute(
                "SELECT pr_repository, pr_number, merge_commit FROM advisory_fixes "
                "WHERE repository = ? AND ghsa_id = ? ORDER BY pr_repository, pr_number",
                (repository, ghsa_id),
            ).fetchall()
        )
        return [(str(r[0]), int(r[1]), r[2]) for r in rows]

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

    async def record_effect(self, key: str, *, at: float) -> None:
        await self.database.run(
            lambda c: c.execute(
                "INSERT INTO effects (effect_key, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (key, at),
            )
        )

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

    # -- CVE IDs bound to advisories ------------------------------------------------
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

    async def set_reservation_state(self, cve_id: str, state: str, *, at: float) -> None:
        await self.database.run(
            lambda c: c.execute(
                "UPDATE cve_reservations SET state = ?, changed_at = ? WHERE cve_id = ?",
                (state, at, cve_id),
            )
        )

    # -- record ids (OSV ids with a prefix and yearly numbering) -------------------

    async def record_id(self, prefix: str, year: int, repository: str, ghsa_id: str) -> str:
        """PREFIX-YEAR-N for this advisory: allocated once, the next free N of the year."""

        def work(connection: Connection) -> str:
            with transaction(connection):
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
