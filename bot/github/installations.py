"""Where the App is installed: installations and the repositories each can reach.

:class:`Installations` keeps them in the store (tables `installations` and
`repositories`); `sync_installation` and `sync_all` read them from GitHub. The
poller, the team-data reader and the handlers look here to know which
repositories to watch and which installation's token to use.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.db.connection import Connection, Database, transaction
from bot.github.client import GitHubApp


@dataclass(frozen=True)
class Installation:
    id: int
    account_login: str
    account_type: str | None
    repository_selection: str | None
    suspended: bool


@dataclass(frozen=True)
class Repository:
    id: int
    installation_id: int
    full_name: str
    private: bool


class Installations:
    """The installations registry, on one :class:`Database`."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def upsert_installation(self, installation: Installation, *, now: float) -> None:
        await self._execute(
            "INSERT INTO installations (id, account_login, account_type, repository_selection, "
            "suspended, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "account_login = excluded.account_login, account_type = excluded.account_type, "
            "repository_selection = excluded.repository_selection, "
            "suspended = excluded.suspended, updated_at = excluded.updated_at",
            (
                installation.id,
                installation.account_login,
                installation.account_type,
                installation.repository_selection,
                int(installation.suspended),
                now,
            ),
        )

    async def delete_installation(self, installation_id: int) -> None:
        def work(connection: Connection) -> None:
            with transaction(connection):
                connection.execute(
                    "DELETE FROM repositories WHERE installation_id = ?", (installation_id,)
                )
                connection.execute("DELETE FROM installations WHERE id = ?", (installation_id,))

        await self.database.run(work)

    async def installations(self) -> list[Installation]:
        rows = await self.database.run(
            lambda c: c.execute(
                "SELECT id, account_login, account_type, repository_selection, suspended "
                "FROM installations ORDER BY id"
            ).fetchall()
        )
        return [Installation(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    async def add_repositories(
        self, installation_id: int, repositories: Sequence[Repository], *, now: float
    ) -> None:
        rows = [
            (repo.id, installation_id, repo.full_name, int(repo.private), now)
            for repo in repositories
        ]
        await self.database.run(lambda c: _upsert_repositories(c, rows))

    async def remove_repositories(
        self, installation_id: int, repository_ids: Iterable[int]
    ) -> None:
        rows = [(repo_id, installation_id) for repo_id in repository_ids]
        await self.database.run(
            lambda c: c.executemany(
                "DELETE FROM repositories WHERE id = ? AND installation_id = ?", rows
            )
        )

    async def replace_repositories(
        self, installation_id: int, repositories: Sequence[Repository], *, now: float
    ) -> None:
        """Make the stored repositories of an installation exactly `repositories`."""
        rows = [
            (repo.id, installation_id, repo.full_name, int(repo.private), now)
            for repo in repositories
        ]

        def work(connection: Connection) -> None:
            with transaction(connection):
                connection.execute(
                    "DELETE FROM repositories WHERE installation_id = ?", (installation_id,)
                )
                _upsert_repositories(connection, rows)

        await self.database.run(work)

    async def repositories(self, installation_id: int | None = None) -> list[Repository]:
        if installation_id is None:
            query = "SELECT id, installation_id, full_name, private FROM repositories"
            args: tuple[int, ...] = ()
        else:
            query = (
                "SELECT id, installation_id, full_name, private FROM repositories "
                "WHERE installation_id = ?"
            )
            args = (installation_id,)
        rows = await self.database.run(
            lambda c: c.execute(query + " ORDER BY full_name", args).fetchall()
        )
        return [Repository(r[0], r[1], r[2], bool(r[3])) for r in rows]

    async def _execute(self, sql: str, args: tuple[Any, ...]) -> int:
        """One statement on indexed rows; its row count."""

        def work(connection: Connection) -> int:
            return int(connection.execute(sql, args).rowcount)

        return await self.database.run_short(work)



def _upsert_repositories(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    connection.executemany(
        "INSERT INTO repositories (id, installation_id, full_name, private, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
        "installation_id = excluded.installation_id, full_name = excluded.full_name, "
        "private = excluded.private, updated_at = excluded.updated_at",
        rows,
    )


def installation_of(data: dict[str, Any]) -> Installation:
    account = data.get("account") or {}
    return Installation(
        id=int(data["id"]),
        account_login=str(account.get("login", "")),
        account_type=account.get("type"),
        repository_selection=data.get("repository_selection"),
        suspended=data.get("suspended_at") is not None,
    )


def repositories_of(items: list[dict[str, Any]], installation_id: int) -> list[Repository]:
    return [
        Repository(
            int(item["id"]), installation_id, str(item["full_name"]), bool(item.get("private"))
        )
        for item in items
    ]


async def sync_installation(
    github: GitHubApp, installations: Installations, installation: Installation, *, now: float
) -> int:
    """Record an installation and exactly the repositories it can reach now."""
    await installations.upsert_installation(installation, now=now)
    client = github.installation(installation.id)
    items = [
        item
        async for item in client.getiter(
            "/installation/repositories?per_page=100", iterable_key="repositories"
        )
    ]
    await installations.replace_repositories(
        installation.id, repositories_of(items, installation.id), now=now
    )
    return len(items)


async def sync_all(github: GitHubApp, installations: Installations, *, now: float) -> int:
    """At start: record every installation GitHub lists for the App; forget the rest."""
    known = {installation.id for installation in await installations.installations()}
    seen = set()
    async for data in github.app().getiter("/app/installations?per_page=100"):
        installation = installation_of(data)
        seen.add(installation.id)
        await sync_installation(github, installations, installation, now=now)
    for gone in known - seen:
        await installations.delete_installation(gone)
    return len(seen)
