"""The store's schema, as versioned migrations applied in order on open.

One script serves both backends: `{serial_pk}` is the only word that differs,
and the backend supplies it. A version, once released, is never edited; a
change is a new version.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.db.backends import Backend, Connection, transaction

MIGRATIONS: Sequence[tuple[int, str]] = (
    (
        1,
        """
        CREATE TABLE deliveries (
            seq {serial_pk},
            guid TEXT NOT NULL UNIQUE,
            event TEXT NOT NULL,
            action TEXT,
            installation_id BIGINT,
            order_key TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT 'webhook',
            payload TEXT NOT NULL,
            received_at DOUBLE PRECISION NOT NULL,
            state TEXT NOT NULL DEFAULT 'queued',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at DOUBLE PRECISION NOT NULL,
            lease_owner TEXT,
            lease_until DOUBLE PRECISION,
            finished_at DOUBLE PRECISION,
            duration_ms DOUBLE PRECISION,
            last_error TEXT
        );
        CREATE INDEX deliveries_by_state ON deliveries (state, seq);
        CREATE INDEX deliveries_by_key ON deliveries (order_key, state, seq);
        CREATE INDEX deliveries_received ON deliveries (received_at);
        CREATE TABLE handler_runs (
            guid TEXT NOT NULL,
            handler TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            PRIMARY KEY (guid, handler)
        );
        CREATE TABLE installations (
            id BIGINT PRIMARY KEY,
            account_login TEXT NOT NULL,
            account_type TEXT,
            repository_selection TEXT,
            suspended INTEGER NOT NULL DEFAULT 0,
            updated_at DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE repositories (
            id BIGINT PRIMARY KEY,
            installation_id BIGINT NOT NULL,
            full_name TEXT NOT NULL,
            private INTEGER NOT NULL DEFAULT 0,
            updated_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX repositories_installation ON repositories (installation_id);
        """,
    ),
    (
        2,
        """
        CREATE TABLE advisories (
            repository TEXT NOT NULL,
            ghsa_id TEXT NOT NULL,
            installation_id BIGINT NOT NULL,
            state TEXT NOT NULL,
            reporter TEXT,
            coordinator TEXT,
            received_at DOUBLE PRECISION NOT NULL,
            acknowledged_at DOUBLE PRECISION,
            last_activity_at DOUBLE PRECISION NOT NULL,
            github_updated_at TEXT,
            fingerprint TEXT,
            PRIMARY KEY (repository, ghsa_id)
        );
        CREATE INDEX advisories_state ON advisories (state);
        CREATE TABLE audit_log (
            id {serial_pk},
            repository TEXT NOT NULL,
            ghsa_id TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL,
            action TEXT NOT NULL,
            reason TEXT NOT NULL,
            delivery TEXT
        );
        CREATE INDEX audit_log_advisory ON audit_log (repository, ghsa_id, id);
        CREATE TABLE effects (
            effect_key TEXT PRIMARY KEY,
            at DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE poll_cursors (
            repository TEXT PRIMARY KEY,
            newest_updated_at TEXT NOT NULL
        );
        """,
    ),
    (
        3,
        """
        ALTER TABLE advisories ADD COLUMN completed_at DOUBLE PRECISION;
        ALTER TABLE advisories ADD COLUMN final_credits TEXT;
        """,
    ),
    (
        4,
        """
        ALTER TABLE advisories ADD COLUMN last_reminder_at DOUBLE PRECISION;
        ALTER TABLE advisories ADD COLUMN human_acknowledged_at DOUBLE PRECISION;
        """,
    ),
    (
        5,
        """
        ALTER TABLE advisories ADD COLUMN coordinator_since DOUBLE PRECISION;
        CREATE INDEX advisories_coordinator ON advisories (coordinator);
        """,
    ),
    (
        6,
        """
        CREATE TABLE command_runs (
            comment_id BIGINT NOT NULL,
            command_key TEXT NOT NULL,
            position INTEGER NOT NULL,
            command_text TEXT NOT NULL,
            outcome TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (comment_id, command_key)
        );
        CREATE TABLE command_replies (
            comment_id BIGINT PRIMARY KEY,
            reply_id BIGINT NOT NULL
        );
        """,
    ),
    (
        7,
        """
        CREATE TABLE member_leave (
            login TEXT PRIMARY KEY,
            until TEXT NOT NULL
        );
        """,
    ),
    (
        8,
        """
        CREATE TABLE advisory_fixes (
            repository TEXT NOT NULL,
            ghsa_id TEXT NOT NULL,
            pr_repository TEXT NOT NULL,
            pr_number INTEGER NOT NULL,
            merge_commit TEXT,
            merged_at DOUBLE PRECISION,
            PRIMARY KEY (repository, ghsa_id, pr_repository, pr_number)
        );
        CREATE INDEX advisory_fixes_pr ON advisory_fixes (pr_repository, pr_number);
        """,
    ),
    (
        9,
        """
        ALTER TABLE advisories ADD COLUMN credits TEXT;
        ALTER TABLE advisories ADD COLUMN public_record TEXT;
        CREATE TABLE cve_reservations (
            cve_id TEXT PRIMARY KEY,
            repository TEXT NOT NULL,
            ghsa_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            state TEXT NOT NULL,
            reserved_at DOUBLE PRECISION NOT NULL,
            changed_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX cve_reservations_advisory ON cve_reservations (repository, ghsa_id);
        CREATE TABLE record_ids (
            prefix TEXT NOT NULL,
            year INTEGER NOT NULL,
            number INTEGER NOT NULL,
            repository TEXT NOT NULL,
            ghsa_id TEXT NOT NULL,
            PRIMARY KEY (prefix, year, number),
            UNIQUE (prefix, repository, ghsa_id)
        );
        """,
    ),
    (
        10,
        """
        CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL,
            acquired_at DOUBLE PRECISION NOT NULL
        );
        """,
    ),
    (
        11,
        """
        CREATE TABLE nominations (
            id {serial_pk},
            repository TEXT NOT NULL,
            issue_number INTEGER NOT NULL,
            nominee TEXT NOT NULL,
            nominator TEXT NOT NULL,
            reason TEXT NOT NULL,
            mode TEXT NOT NULL,
            source_comment BIGINT NOT NULL UNIQUE,
            opened_at DOUBLE PRECISION NOT NULL,
            closes_at DOUBLE PRECISION NOT NULL,
            state TEXT NOT NULL,
            yes_votes INTEGER,
            no_votes INTEGER,
            abstentions INTEGER,
            closed_at DOUBLE PRECISION,
            veto_ends_at DOUBLE PRECISION,
            outcome_note TEXT
        );
        CREATE INDEX nominations_state ON nominations (state, closes_at);
        CREATE TABLE ballots (
            nomination_id BIGINT NOT NULL,
            voter TEXT NOT NULL,
            choice TEXT NOT NULL,
            cast_at DOUBLE PRECISION NOT NULL,
            changed INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (nomination_id, voter)
        );
        CREATE TABLE governance_issues (
            purpose TEXT PRIMARY KEY,
            repository TEXT NOT NULL,
            issue_number INTEGER NOT NULL,
            last_body_hash TEXT
        );
        """,
    ),
    (
        12,
        """
        CREATE TABLE web_sessions (
            session_id TEXT PRIMARY KEY,
            login TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE reply_log (
            repository TEXT NOT NULL,
            ghsa_id TEXT NOT NULL,
            caller TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX reply_log_by_caller ON reply_log (repository, ghsa_id, caller, at);
        UPDATE command_runs SET command_text = '', outcome = '';
        DROP TABLE command_replies;
        """,
    ),
    (
        13,
        """
        CREATE TABLE coordinator_reservations (
            repository TEXT NOT NULL,
            ghsa_id TEXT NOT NULL,
            login TEXT NOT NULL,
            reason TEXT NOT NULL,
            reserved_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (repository, ghsa_id)
        );
        ALTER TABLE advisories ADD COLUMN last_reminder_tier INTEGER;
        CREATE TABLE cve_requests (
            repository TEXT NOT NULL,
            ghsa_id TEXT NOT NULL,
            started_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (repository, ghsa_id)
        );
        """,
    ),
    (
        14,
        """
        CREATE TABLE poll_comment_state (
            repository TEXT NOT NULL,
            ghsa_id TEXT NOT NULL,
            comments INTEGER,
            updated_at TEXT,
            read_at DOUBLE PRECISION NOT NULL,
            people INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (repository, ghsa_id)
        );
        """,
    ),
    (
        15,
        """
        CREATE TABLE github_points (
            id {serial_pk},
            owner TEXT NOT NULL,
            points INTEGER NOT NULL,
            spent_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX github_points_spent_at ON github_points (spent_at);
        """,
    ),
    (
        16,
        """
        CREATE TABLE advisory_links (
            repository TEXT NOT NULL,
            ghsa_id TEXT NOT NULL,
            other_repository TEXT NOT NULL,
            other_ghsa_id TEXT NOT NULL,
            linked_by TEXT NOT NULL,
            linked_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (repository, ghsa_id, other_repository, other_ghsa_id)
        );
        CREATE TABLE planned_disclosures (
            repository TEXT NOT NULL,
            ghsa_id TEXT NOT NULL,
            disclosure_date TEXT NOT NULL,
            set_by TEXT NOT NULL,
            set_at DOUBLE PRECISION NOT NULL,
            last_reminder_days INTEGER,
            PRIMARY KEY (repository, ghsa_id)
        );
        """,
    ),
    # No query reads deliveries by received_at (retention goes by state and seq),
    # yet every intake insert wrote the index: a b-tree update and, on SQLite, one
    # more page in each commit's write-ahead log (measured: 5 % of an insert's CPU).
    (17, "DROP INDEX IF EXISTS deliveries_received;"),
)


def apply_migrations(connection: Connection, backend: Backend) -> list[int]:
    """Apply every migration not yet recorded; return the versions applied."""
    with backend.lock_migrations(connection):
        return _apply(connection, backend)


def _apply(connection: Connection, backend: Backend) -> list[int]:
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, applied_at TEXT DEFAULT CURRENT_TIMESTAMP)"
    )
    done = {
        row[0] for row in connection.execute("SELECT version FROM schema_migrations").fetchall()
    }
    applied = []
    for version, script in MIGRATIONS:
        if version in done:
            continue
        sql = script.format(serial_pk=backend.serial_pk)
        with transaction(connection):
            for statement in sql.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute("INSERT INTO schema_migrations (version) VALUES (?)", (version,))
        applied.append(version)
    return applied
