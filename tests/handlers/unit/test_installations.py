"""handlers/installations.py with its three doors (app, clock, installations) and nothing else."""

from __future__ import annotations

from pathlib import Path

from handlers import installations
from tests.handlers.unit.doors import ScriptedApp, Stores, UnitDoors, clock_at, event, open_stores

LISTED = "/installation/repositories?per_page=100"


async def _names(stores: Stores) -> dict[str, int]:
    return {r.full_name: r.installation_id for r in await stores.installations.repositories()}


def _repository(number: int, name: str) -> dict[str, object]:
    return {"id": number, "full_name": name, "private": False}


async def test_a_new_installation_is_recorded_with_the_repositories_github_lists(
    tmp_path: Path,
) -> None:
    app = ScriptedApp()
    app.installation(7).answer("GET", LISTED, [_repository(1, "python/cpython")])
    async with open_stores(tmp_path) as stores:
        doors = UnitDoors(app=app, clock=clock_at(), installations=stores.installations)
        data = {"action": "created", "installation": {"id": 7, "account": {"login": "python"}}}
        await installations.installation_changed(event("installation", data), doors)
        [recorded] = await stores.installations.installations()
        assert recorded.id == 7 and not recorded.suspended
        assert await _names(stores) == {"python/cpython": 7}


async def test_a_suspended_installation_is_recorded_and_github_is_not_asked(
    tmp_path: Path,
) -> None:
    app = ScriptedApp()
    async with open_stores(tmp_path) as stores:
        doors = UnitDoors(app=app, clock=clock_at(), installations=stores.installations)
        data = {
            "action": "suspend",
            "installation": {"id": 8, "account": {"login": "python"}, "suspended_at": "2026-11-01"},
        }
        await installations.installation_changed(event("installation", data), doors)
        [recorded] = await stores.installations.installations()
        assert recorded.suspended
        assert app.clients == {}  # no client was even made


async def test_removed_repositories_go_and_the_list_is_read_again(tmp_path: Path) -> None:
    app = ScriptedApp()
    client = app.installation(7)
    client.answer("GET", LISTED, [_repository(2, "python/peps")])
    async with open_stores(tmp_path) as stores:
        doors = UnitDoors(app=app, clock=clock_at(), installations=stores.installations)
        data = {
            "action": "removed",
            "installation": {"id": 7, "account": {"login": "python"}},
            "repositories_added": [],
            "repositories_removed": [_repository(1, "python/cpython")],
        }
        await installations.repositories_changed(event("installation_repositories", data), doors)
        assert await _names(stores) == {"python/peps": 7}
        assert [r.path for r in client.sent("GET")] == [LISTED]


async def test_an_uninstalled_app_forgets_the_installation(tmp_path: Path) -> None:
    app = ScriptedApp()
    app.installation(9).answer("GET", LISTED, [_repository(3, "x/y")])
    async with open_stores(tmp_path) as stores:
        doors = UnitDoors(app=app, clock=clock_at(), installations=stores.installations)
        created = {"action": "created", "installation": {"id": 9, "account": {"login": "x"}}}
        await installations.installation_changed(event("installation", created), doors)
        deleted = {"action": "deleted", "installation": {"id": 9}}
        await installations.installation_deleted(event("installation", deleted), doors)
        assert await stores.installations.installations() == []
        assert await _names(stores) == {}
