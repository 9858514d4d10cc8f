"""Assemble the running bot: store, GitHub client, worker, team data, background jobs.

:func:`open_services` builds everything from settings and configuration;
:func:`close_services` takes it down in order (stop the worker, then the
store, then the HTTP session). The web app and the CLI both use these.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import aiohttp
from aiohttp import web
from gidgethub import routing

import handlers
from bot.advisories.deadlines import DeadlineScanner
from bot.advisories.fixes import FixLinks
from bot.advisories.poller import AdvisoryPoller
from bot.advisories.store import AdvisoryStore
from bot.commands.log import CommandLog
from bot.commands.registry import Registry
from bot.context import HandlerContext
from bot.core.clock import Clock, SystemClock
from bot.core.config import BotConfig
from bot.core.digests import Digester
from bot.core.error_reports import report_exception
from bot.core.logs import fields
from bot.core.metrics import Metrics
from bot.core.settings import Settings
from bot.db.connection import Database
from bot.github.budget import RequestBudget
from bot.github.client import GitHubApp, error_summary
from bot.github.installations import Installations, sync_all
from bot.github.shared_points import shared_points
from bot.governance.jobs import GovernanceScanner
from bot.governance.store import GovernanceStore
from bot.queue.followups import FollowUps
from bot.queue.leadership import Leadership
from bot.queue.recovery import DeliveryRecovery
from bot.queue.retention import PayloadRetention
from bot.queue.routing import compose, subscribed_events
from bot.queue.store import Store, StoredDelivery
from bot.queue.worker import Worker
from bot.records.bindings import CveBindings, RecordIds
from bot.records.cve_services import CveServicesClient
from bot.team.data import TeamData
from bot.team.leave import MemberLeave

log = logging.getLogger("ghsa_bot.service")

SERVICES: web.AppKey[Services] = web.AppKey("services")
INTERNAL_EVENTS = frozenset({"advisory", "advisory_comment", "governance"})
GOVERNANCE_ONLY_EVENTS = frozenset({"issue_comment", "issues"})
# How often parked deliveries' payloads past their retention are removed.
PAYLOAD_PURGE_SECONDS = 3600.0


@dataclass
class Services:
    """The running bot's parts, each built once by :func:`open_services`.

    `cve_services` is None when the team has no CNA credentials: the only
    optional part, decided at start.
    """

    settings: Settings
    config: BotConfig
    clock: Clock
    metrics: Metrics
    store: Store
    installations: Installations
    advisories: AdvisoryStore
    command_log: CommandLog
    fix_links: FixLinks
    cve_bindings: CveBindings
    record_ids: RecordIds
    member_leave: MemberLeave
    governance: GovernanceStore
    session: aiohttp.ClientSession
    github: GitHubApp
    team_data: TeamData
    router: routing.Router
    subscribed_events: frozenset[str]
    worker: Worker
    followups: FollowUps
    poller: AdvisoryPoller
    deadlines: DeadlineScanner
    governance_jobs: GovernanceScanner
    leadership: Leadership
    retention: PayloadRetention
    recovery: DeliveryRecovery
    cve_services: CveServicesClient | None = None
    background: list[asyncio.Task[Any]] = field(default_factory=list)

    @cached_property
    def known_events(self) -> frozenset[str]:
        return self.subscribed_events | {"ping"}

    @cached_property
    def webhook_events(self) -> frozenset[str]:
        """Events accepted over HTTP: internal ones (from the poller) never are."""
        return self.subscribed_events - INTERNAL_EVENTS

    def wants(self, event: str, payload: Mapping[str, Any]) -> bool:
        """Issue events matter only in the governance repository; intake drops the rest."""
        return wanted(self.config, event, payload)


def wanted(config: BotConfig, event: str, payload: Mapping[str, Any]) -> bool:
    """Issue events matter only in the governance repository; intake drops the rest."""
    if event not in GOVERNANCE_ONLY_EVENTS:
        return True
    repository = payload.get("repository")
    name = repository.get("full_name") if isinstance(repository, dict) else None
    configured = config.governance.repository
    return isinstance(name, str) and configured is not None and name.lower() == configured.lower()


@dataclass(frozen=True)
class Contexts:
    """Builds each delivery's HandlerContext from the parts handlers may use."""

    settings: Settings
    config: BotConfig
    clock: Clock
    github: GitHubApp
    installations: Installations
    advisories: AdvisoryStore
    command_log: CommandLog
    commands: Registry
    fix_links: FixLinks
    cve_bindings: CveBindings
    record_ids: RecordIds
    member_leave: MemberLeave
    governance: GovernanceStore
    team: TeamData
    followups: FollowUps
    cve_services: CveServicesClient | None

    def __call__(self, delivery: StoredDelivery) -> HandlerContext:
        installation = delivery.installation_id
        if installation is None:  # intake and replay store none without one
            raise ValueError(f"delivery {delivery.guid} names no installation")
        return HandlerContext(
            github=self.github.installation(installation),
            app=self.github,
            installations=self.installations,
            followups=self.followups,
            advisories=self.advisories,
            command_log=self.command_log,
            commands=self.commands,
            fix_links=self.fix_links,
            cve_bindings=self.cve_bindings,
            record_ids=self.record_ids,
            member_leave=self.member_leave,
            governance=self.governance,
            team=self.team,
            config=self.config,
            clock=self.clock,
            delivery_guid=delivery.guid,
            cve_services=self.cve_services,
            public_url=self.settings.public_url,
            web_url=self.settings.web_url,
        )


async def open_services(
    settings: Settings,
    config: BotConfig,
    *,
    clock: Clock | None = None,
    start_worker: bool = True,
    start_background: bool = True,
    dry_run_sink: Callable[[str], None] = print,
) -> Services:
    clock = clock or SystemClock()
    router = compose(handlers.ROUTED)
    store = Store(Database(settings.database_url, synchronous=settings.sqlite_synchronous))
    # The serving process acknowledges webhooks from the intake journal (SQLite).
    await store.open(serving=start_worker, journal=settings.intake_journal)
    requeued = await store.requeue_running()  # SQLite serves one process: none is running now
    if requeued:
        log.info("re-queued unfinished deliveries", extra=fields(count=requeued))
    metrics = Metrics()
    # One points budget for every GitHub request of the process (bot/github/budget.py),
    # and of every replica when they share a database (bot/github/shared_points.py).
    budget = RequestBudget(
        config.points_per_minute,
        clock=clock.now,
        metrics=metrics,
        shared=shared_points(store.database, config.points_per_minute),
    )
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(
            total=settings.github_timeout_seconds,
            connect=min(10.0, settings.github_timeout_seconds),
        ),
        headers={"accept": "application/vnd.github+json"},
    )
    github = GitHubApp(
        session,
        api_url=settings.api_url,
        app_id=settings.app_id,
        jwt_issuer=settings.client_id or settings.app_id,
        private_key=settings.private_key,
        metrics=metrics,
        dry_run=settings.dry_run,
        dry_run_sink=dry_run_sink,
        mutation_interval=settings.mutation_interval,
        max_inline_wait=settings.max_inline_wait_seconds,
        clock=clock.now,
        budget=budget,
    )
    cve_services = (
        CveServicesClient(session, settings.cve_services)
        if settings.cve_services is not None
        else None
    )
    installations = Installations(store.database)
    team_data = TeamData(config, github, installations, web_url=settings.web_url)
    advisories = AdvisoryStore(store.database, Digester.from_secret(settings.private_key))
    governance = GovernanceStore(store.database)
    command_log = CommandLog(store.database)
    fix_links = FixLinks(store.database)
    cve_bindings = CveBindings(store.database)
    record_ids = RecordIds(store.database)
    member_leave = MemberLeave(store.database)
    followups = FollowUps(store, clock.now)
    worker = Worker(
        store,
        router,
        Contexts(
            settings,
            config,
            clock,
            github,
            installations,
            advisories,
            command_log,
            handlers.COMMANDS,
            fix_links,
            cve_bindings,
            record_ids,
            member_leave,
            governance,
            team_data,
            followups,
            cve_services,
        ),
        metrics,
        clock,
        concurrency=settings.worker_concurrency,
        max_attempts=settings.max_attempts,
        retry_base_seconds=settings.retry_base_seconds,
        lease_seconds=settings.lease_seconds,
    )
    followups.notify = worker.notify  # the bot's own events wake the worker as webhooks do
    store.on_stored = worker.notify  # journaled webhooks, once in the database
    journal = store.journal
    if journal is not None:
        metrics.journal_backlog.reader = lambda: float(journal.line.backlog)
        metrics.journal_segments.reader = lambda: float(journal.segments)
    webhook_events = subscribed_events(router) - INTERNAL_EVENTS
    services = Services(
        settings=settings,
        config=config,
        clock=clock,
        metrics=metrics,
        store=store,
        installations=installations,
        advisories=advisories,
        command_log=command_log,
        fix_links=fix_links,
        cve_bindings=cve_bindings,
        record_ids=record_ids,
        member_leave=member_leave,
        governance=governance,
        session=session,
        github=github,
        team_data=team_data,
        router=router,
        subscribed_events=subscribed_events(router),
        worker=worker,
        followups=followups,
        poller=AdvisoryPoller(
            github,
            installations,
            advisories,
            followups,
            interval=config.poll_interval_seconds,
            edit_sweep_minutes=config.edit_sweep_minutes,
        ),
        deadlines=DeadlineScanner(
            followups,
            advisories,
            config.deadlines,
            config.policy.response_days,
            coordinator_idle_days=config.coordinators.idle_days,
        ),
        governance_jobs=GovernanceScanner(followups, installations, governance, config.governance),
        leadership=Leadership(store.database, seconds=settings.leader_lease_seconds),
        recovery=DeliveryRecovery(github, store, metrics, clock.now, handled_events=webhook_events),
        retention=PayloadRetention(store.database),
        cve_services=cve_services,
    )
    leadership = services.leadership
    metrics.leader.reader = lambda: 1.0 if leadership.held else 0.0
    if start_worker:
        worker.start()
    if start_background:
        services.background.append(asyncio.create_task(_background(services)))
    return services


async def close_services(services: Services) -> None:
    for task in services.background:
        task.cancel()
    for task in services.background:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await services.leadership.release()
    if services.worker.running:
        await services.worker.stop()
    await services.store.close()
    await services.session.close()


async def _startup_sync(services: Services) -> None:
    """Record the installations GitHub lists for the App, so nothing depends on webhooks."""
    try:
        count = await sync_all(services.github, services.installations, now=services.clock.now())
    except Exception as error:  # GitHubUnavailable, a refusal, anything: serve anyway
        log.warning("could not list installations", extra=fields(error=error_summary(error)))
        return
    log.info("installations synchronised", extra=fields(count=count))


async def _background(services: Services) -> None:
    """Installations first: team files and advisories are read with their tokens.

    Every replica keeps its own team data; the singleton jobs run on the
    replica holding the leader lease (bot/queue/leadership.py). The payload purge is
    idempotent and runs on every replica.
    """
    await _startup_sync(services)
    leader = services.leadership
    await leader.renew_once()
    team_data, poller = services.team_data, services.poller
    await asyncio.gather(
        leader.run(),
        _every(60, lambda: team_data.refresh_due(services.clock.now()), "team data refresh"),
        _every(poller.interval, _polled(poller), "advisory poll", leader=leader),
        _every(
            services.config.deadlines.scan_interval_seconds,
            services.deadlines.scan_once,
            "deadline scan",
            leader=leader,
        ),
        _every(
            services.config.governance.scan_interval_seconds,
            services.governance_jobs.scan_once,
            "governance scan",
            leader=leader,
        ),
        _every(
            services.settings.recovery_interval_seconds,
            services.recovery.recover_once,
            "missed-delivery check",
            leader=leader,
        ),
        _every(PAYLOAD_PURGE_SECONDS, _payload_purge(services), "payload purge"),
    )


async def _every(
    seconds: float,
    job: Callable[[], Awaitable[object]],
    name: str,
    *,
    leader: Leadership | None = None,
) -> None:
    """Run `job` now and then every `seconds`; with `leader`, only while it holds the lease.

    A failure is logged and the job runs again on schedule.
    """
    while True:
        if leader is not None:
            await leader.wait_until_held()
        try:
            await job()
        except Exception as error:
            log.warning(f"{name} failed", extra=fields(error=error_summary(error)))
            report_exception(error, job=name.replace(" ", "-"))
        await asyncio.sleep(seconds)


def _payload_purge(services: Services) -> Callable[[], Awaitable[None]]:
    """Remove what is older than BOT_PARKED_RETENTION_DAYS: parked deliveries' payloads,
    and command lines whose reply could never be posted (their delivery was parked)."""

    async def purge() -> None:
        retention = services.settings.parked_retention_days * 86400
        cutoff = services.clock.now() - retention
        removed = await services.retention.purge(parked_before=cutoff)
        forgotten = await services.command_log.forget_command_text(before=cutoff)
        if removed or forgotten:
            log.info("stored text removed", extra=fields(payloads=removed, command_runs=forgotten))

    return purge


def _polled(poller: AdvisoryPoller) -> Callable[[], Awaitable[None]]:
    async def poll() -> None:
        report = await poller.poll_once()
        log.info(
            "advisories polled",
            extra=fields(
                repositories=report.repositories,
                events=report.events,
                errors=report.errors,
                requests=report.requests,
                comment_reads=report.comment_reads,
                sweeps=report.sweeps,
                deferred=report.deferred,
            ),
        )

    return poll


def attach(app: web.Application, services: Services) -> None:
    """Close the services when the web app shuts down (after intake has stopped)."""
    app[SERVICES] = services

    async def cleanup(_: web.Application) -> None:
        await close_services(services)

    app.on_cleanup.append(cleanup)
