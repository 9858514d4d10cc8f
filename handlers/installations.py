"""Where the App is installed: installations and their repositories.

Later workflows (the advisory poller, the team-data reader) look here to
know which repositories to watch and which token to use.
"""

from __future__ import annotations

from typing import Any

from gidgethub import routing, sansio

from bot.context import HandlerContext
from bot.github.client import GitHubApp
from bot.queue.store import Installation, Repository, Store

router = routing.Router()


def _installation(data: dict[str, Any]) -> Installation:
    account = data.get("account") or {}
    return Installation(
        id=int(data["id"]),
        account_login=str(account.get("login", "")),
        account_type=account.get("type"),
        repository_selection=data.get("repository_selection"),
        suspended=data.get("suspended_at") is not None,
    )


def _repositories(items: list[dict[str, Any]], installation_id: int) -> list[Repository]:
    return [
        Repository(
            int(item["id"]), installation_id, str(item["full_name"]), bool(item.get("private"))
        )
        for item in items
    ]


async def sync_installation(
    github: GitHubApp, store: Store, installation: Installation, *, now: float
) -> int:
    """Record an installation and exactly the repositories it can reach now."""
    await store.upsert_installation(installation, now=now)
    client = github.installation(installation.id)
    items = [
        item
        async for item in client.getiter(
            "/installation/repositories?per_page=100", iterable_key="repositories"
        )
    ]
    await store.replace_repositories(
        installation.id, _repositories(items, installation.id), now=now
    )
    return len(items)


async def sync_all(github: GitHubApp, store: Store, *, now: float) -> int:
    """At start: record every installation GitHub lists for the App; forget the rest."""
    known = {installation.id for installation in await store.installations()}
    seen = set()
    async for data in github.app().getiter("/app/installations?per_page=100"):
        installation = _installation(data)
        seen.add(installation.id)
        await sync_installation(github, store, installation, now=now)
    for gone in known - seen:
        await store.delete_installation(gone)
    return len(seen)


@router.register("installation", action="created")
@router.register("installation", action="new_permissions_accepted")
@router.register("installation", action="unsuspend")
@router.register("installation", action="suspend")
async def installation_changed(event: sansio.Event, context: HandlerContext) -> None:
    """Fires when the App is installed, unsuspended, suspended or given new permissions.

    Records the installation and re-reads its repositories from GitHub (the
    payload's list can be truncated). A suspended installation is recorded
    as suspended and its repository list is left as it was.
    """
    installation = _installation(event.data["installation"])
    if installation.suspended:
        await context.store.upsert_installation(installation, now=context.clock.now())
        return
    await sync_installation(context.app, context.store, installation, now=context.clock.now())


@router.register("installation", action="deleted")
async def installation_deleted(event: sansio.Event, context: HandlerContext) -> None:
    """Fires when the App is uninstalled; forgets the installation and its repositories."""
    await context.store.delete_installation(int(event.data["installation"]["id"]))


@router.register("installation_repositories")
async def repositories_changed(event: sansio.Event, context: HandlerContext) -> None:
    """Fires when repositories are added to or removed from an installation.

    Applies the change, then re-reads the full list (ETag-cached, so an
    unchanged list costs no rate limit) so a missed event heals itself.
    """
    data = event.data
    installation = _installation(data["installation"])
    installation_id = installation.id
    now = context.clock.now()
    await context.store.upsert_installation(installation, now=now)
    added = _repositories(data.get("repositories_added") or [], installation_id)
    removed = [int(item["id"]) for item in data.get("repositories_removed") or []]
    await context.store.add_repositories(installation_id, added, now=now)
    await context.store.remove_repositories(installation_id, removed)
    await sync_installation(context.app, context.store, installation, now=now)
