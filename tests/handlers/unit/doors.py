"""Small fakes of the doors a handler module declares (its `Doors`, see bot/context.py).

A unit test calls a handler directly with a `UnitDoors` holding only the parts
the module declares: a part it did not declare is absent, and using it fails the
test with its name, so the declaration is checked at run time too (mypy checks
it statically in handlers/__init__.py).

- GitHub is `ScriptedGitHub`: the answers a test scripts by method and path, a
  404 for anything else, and every request recorded; `ScriptedApp` is the App
  (one scripted client per installation).
- State is the bot's own stores on a temporary SQLite file (`open_stores`): a
  fake of a store would test the fake.
- The clock is the harness's `SteppedClock`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from gidgethub import BadRequest, sansio

from bot.advisories.fixes import FixLinks
from bot.advisories.handle import AdvisoryHandle
from bot.advisories.store import AdvisoryStore
from bot.commands.log import CommandLog
from bot.context import HandlerContext
from bot.core.config import BotConfig, load_config
from bot.core.digests import Digester
from bot.db.connection import Database
from bot.github.installations import Installations
from bot.governance.store import GovernanceStore
from bot.queue.followups import FollowUps
from bot.queue.store import Store
from bot.records.bindings import CveBindings, RecordIds
from bot.team.leave import MemberLeave
from tests.harness import ROOT, SteppedClock

CPYTHON = load_config(ROOT / "config")  # the CPython example configuration, as shipped

Answer = Any  # a JSON-like value, an exception to raise, or a function of the request body


@dataclass
class Request:
    method: str
    path: str
    data: Any = None


@dataclass
class ScriptedGitHub:
    """The part of GitHubClient handlers use: getitem, getiter, post, patch, put, delete.

    `answers[(METHOD, path)]` is what GitHub says: a value (returned), an exception
    (raised), or a function called with the request's data. A PATCH with no
    scripted answer returns the data merged into the last GET's answer for that
    path, as GitHub answers with the whole changed object.
    """

    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def answer(self, method: str, path: str, value: Answer) -> None:
        self.answers[(method.upper(), path)] = value

    def sent(self, method: str, path_part: str = "") -> list[Request]:
        """The requests with this method whose path contains `path_part`."""
        return [r for r in self.requests if r.method == method.upper() and path_part in r.path]

    async def _reply(self, method: str, path: str, data: Any = None) -> Any:
        self.requests.append(Request(method, path, data))
        answer = self.answers.get((method, path))
        if answer is None and method == "PATCH" and ("GET", path) in self.answers:
            merged = {**self.answers[("GET", path)], **(data or {})}
            self.answers[("GET", path)] = merged
            return merged
        if answer is None:
            raise BadRequest(HTTPStatus.NOT_FOUND)
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            return answer(data)
        return answer

    async def getitem(self, path: str, *args: Any, **kwargs: Any) -> Any:
        return await self._reply("GET", path)

    async def getiter(self, path: str, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        for item in await self._reply("GET", path) or []:
            yield item

    async def post(self, path: str, *args: Any, data: Any = None, **kwargs: Any) -> Any:
        return await self._reply("POST", path, data)

    async def patch(self, path: str, *args: Any, data: Any = None, **kwargs: Any) -> Any:
        return await self._reply("PATCH", path, data)

    async def put(self, path: str, *args: Any, data: Any = None, **kwargs: Any) -> Any:
        return await self._reply("PUT", path, data)

    async def delete(self, path: str, *args: Any, data: Any = None, **kwargs: Any) -> Any:
        return await self._reply("DELETE", path, data)


@dataclass
class ScriptedApp:
    """The part of GitHubApp handlers use: a client per installation, and the App's own."""

    clients: dict[int, ScriptedGitHub] = field(default_factory=dict)
    as_app: ScriptedGitHub = field(default_factory=ScriptedGitHub)

    def installation(self, installation_id: int) -> ScriptedGitHub:
        return self.clients.setdefault(installation_id, ScriptedGitHub())

    def app(self) -> ScriptedGitHub:
        return self.as_app


@dataclass
class Stores:
    """The bot's stores on one temporary SQLite database."""

    database: Database
    advisories: AdvisoryStore
    command_log: CommandLog
    fix_links: FixLinks
    cve_bindings: CveBindings
    record_ids: RecordIds
    member_leave: MemberLeave
    governance: GovernanceStore
    installations: Installations


@contextlib.asynccontextmanager
async def open_stores(tmp_path: Path) -> AsyncIterator[Stores]:
    store = Store(Database(f"sqlite:///{tmp_path / 'unit.sqlite3'}"))
    await store.open()
    database = store.database
    try:
        yield Stores(
            database,
            AdvisoryStore(database, Digester.from_secret("unit-test key")),
            CommandLog(database),
            FixLinks(database),
            CveBindings(database),
            RecordIds(database),
            MemberLeave(database),
            GovernanceStore(database),
            Installations(database),
        )
    finally:
        await store.close()


class Undeclared:
    """A door the module did not declare: any use fails the test, naming it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"the handler used `{self._name}`, a door its module does not declare")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the handler used `{self._name}`, a door its module does not declare")

    def __bool__(self) -> bool:
        raise AssertionError(f"the handler used `{self._name}`, a door its module does not declare")


DOORS = (
    "config",
    "clock",
    "github",
    "app",
    "installations",
    "followups",
    "advisories",
    "command_log",
    "commands",
    "fix_links",
    "cve_bindings",
    "cve_services",
    "record_ids",
    "member_leave",
    "governance",
    "team",
    "public_url",
    "web_url",
)


class UnitDoors:
    """The parts given, and nothing else: `UnitDoors(clock=..., github=...)`.

    `audit`, `fetch_advisory` and `handle_for` work as HandlerContext's do, over
    the given `advisories` (and `github` and `clock` for the last two).
    """

    delivery_guid = "unit-test-delivery"

    def __init__(self, **parts: Any) -> None:
        unknown = set(parts) - set(DOORS)
        if unknown:
            raise TypeError(f"not a door: {sorted(unknown)}")
        for name in DOORS:
            setattr(self, name, parts[name] if name in parts else Undeclared(name))
        # `audit` stamps entries with the time, as HandlerContext's does; that is part of
        # the audit door, so a module need not declare the clock for it.
        self._audit_clock = parts.get("clock") or clock_at()

    async def audit(self, repository: str, ghsa_id: str, action: str, reason: str) -> None:
        await self.advisories.audit(
            repository,
            ghsa_id,
            at=self._audit_clock.now(),
            action=action,
            reason=reason,
            delivery=self.delivery_guid,
        )

    async def fetch_advisory(self, event: sansio.Event) -> AdvisoryHandle:
        repository = str(event.data["repository"]["full_name"])
        ghsa_id = str(event.data["repository_advisory"]["ghsa_id"])
        advisory = await self.github.getitem(f"/repos/{repository}/security-advisories/{ghsa_id}")
        return self.handle_for(repository, ghsa_id, advisory)

    def handle_for(self, repository: str, ghsa_id: str, advisory: dict[str, Any]) -> AdvisoryHandle:
        return AdvisoryHandle(
            self.github,  # type: ignore[arg-type]
            self.advisories,
            self.clock,
            repository,
            ghsa_id,
            advisory,
            delivery=self.delivery_guid,
        )


def event(name: str, data: dict[str, Any], delivery_id: str = "unit-1") -> sansio.Event:
    return sansio.Event(data, event=name, delivery_id=delivery_id)


def advisory_event(action: str, repository: str, ghsa_id: str, **data: Any) -> sansio.Event:
    """An `advisory` event as the poller raises it (see bot/queue/followups.py)."""
    payload = {
        "action": action,
        "repository": {"full_name": repository},
        "repository_advisory": {"ghsa_id": ghsa_id},
        **data,
    }
    return event("advisory", payload)


def clock_at(start: float = 1_790_000_000.0) -> SteppedClock:
    return SteppedClock(start)


def handle_on(
    github: ScriptedGitHub,
    advisories: AdvisoryStore,
    clock: SteppedClock,
    repository: str,
    advisory: dict[str, Any],
) -> AdvisoryHandle:
    """A command call's handle on `advisory`: it holds GitHub, the store and the clock
    itself (as HandlerContext.handle_for makes it), so a module whose doors lack those
    parts still gets one, and its doors stay only what it declares."""
    maker = UnitDoors(github=github, advisories=advisories, clock=clock)
    return maker.handle_for(repository, str(advisory["ghsa_id"]), advisory)


def whole_context(
    stores: Stores,
    github: ScriptedGitHub,
    clock: SteppedClock,
    config: BotConfig = CPYTHON,
    *,
    team: Any,
    public_url: str | None = None,
) -> HandlerContext:
    """Every part, for the two modules that run any command (comments,
    governance_commands): the stores, the scripted GitHub, `team`, the real registry."""
    import handlers

    return HandlerContext(
        github=github,  # type: ignore[arg-type]
        app=ScriptedApp(),  # type: ignore[arg-type]
        installations=stores.installations,
        followups=FollowUps(Store(stores.database), clock.now),
        advisories=stores.advisories,
        command_log=stores.command_log,
        commands=handlers.COMMANDS,
        fix_links=stores.fix_links,
        cve_bindings=stores.cve_bindings,
        record_ids=stores.record_ids,
        member_leave=stores.member_leave,
        governance=stores.governance,
        team=team,
        config=config,
        clock=clock,
        delivery_guid="unit-1",
        public_url=public_url,
    )
