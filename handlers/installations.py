"""Where the App is installed: installations and their repositories.

Later workflows (the advisory poller, the team-data reader) look here to
know which repositories to watch and which token to use.
"""

from __future__ import annotations

from typing import Protocol

from gidgethub import routing, sansio

from bot.context import HasApp, HasClock, HasInstallations
from bot.github.installations import installation_of, repositories_of, sync_installation

router = routing.Router()


class Doors(HasApp, HasClock, HasInstallations, Protocol):
    """What the installation handlers use."""


@router.register("installation", action="created")
@router.register("installation", action="new_permissions_accepted")
@router.register("installation", action="unsuspend")
@router.register("installation", action="suspend")
async def installation_changed(event: sansio.Event, context: Doors) -> None:
    """Fires when the App is installed, unsuspended, suspended or given new permissions.

    Records the installation and re-reads its repositories from GitHub (the
    payload's list can be truncated). A suspended installation is recorded
    as suspended and its repository list is left as it was.
    """
    installation = installation_of(event.data["installation"])
    if installation.suspended:
        await context.installations.upsert_installation(installation, now=context.clock.now())
        return
    now = context.clock.now()
    await sync_installation(context.app, context.installations, installation, now=now)


@router.register("installation", action="deleted")
async def installation_deleted(event: sansio.Event, context: Doors) -> None:
    """Fires when the App is uninstalled; forgets the installation and its repositories."""
    await context.installations.delete_installation(int(event.data["installation"]["id"]))


@router.register("installation_repositories")
async def repositories_changed(event: sansio.Event, context: Doors) -> None:
    """Fires when repositories are added to or removed from an installation.

    Applies the change, then re-reads the full list (ETag-cached, so an
    unchanged list costs no rate limit) so a missed event heals itself.
    """
    data = event.data
    installation = installation_of(data["installation"])
    installation_id = installation.id
    now = context.clock.now()
    await context.installations.upsert_installation(installation, now=now)
    added = repositories_of(data.get("repositories_added") or [], installation_id)
    removed = [int(item["id"]) for item in data.get("repositories_removed") or []]
    await context.installations.add_repositories(installation_id, added, now=now)
    await context.installations.remove_repositories(installation_id, removed)
    await sync_installation(context.app, context.installations, installation, now=now)
