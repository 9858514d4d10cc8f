"""Public fix pull requests linked to advisories (`/fix`), and their merges."""

from __future__ import annotations

from bot.db.connection import Database


class FixLinks:
    """Table `advisory_fixes`: which pull requests fix which advisory, merged or not."""

    def __init__(self, database: Database) -> None:
        self.database = database

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
