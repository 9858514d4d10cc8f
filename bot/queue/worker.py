"""The worker: claim stored deliveries, dispatch them, record the outcome.

Deliveries that share an ordering key (one advisory, one installation) are
handled one at a time in arrival order; different keys run in parallel up to
`concurrency`. A failed handler is retried with exponential backoff; after
`max_attempts` the delivery is parked as failed with its error. Leases are
renewed while a delivery runs, so another process can take over a dead one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from gidgethub import routing, sansio

from bot.core.clock import Clock
from bot.core.error_reports import report_exception
from bot.core.logs import fields, process_owner
from bot.core.metrics import Metrics
from bot.github.client import RateLimited, error_summary
from bot.queue.intake import decode_json
from bot.queue.routing import handler_name, handlers_for
from bot.queue.store import (
    HandlingOutcome,
    HandlingResult,
    Store,
    StoredDelivery,
    StoreUnavailable,
    backoff_delay,
)

log = logging.getLogger("ghsa_bot.worker")

# What handlers receive besides the event (bot.context.HandlerContext), built per
# delivery by whoever assembles the bot: the worker passes it on and never looks in.
ContextFactory = Callable[[StoredDelivery], Any]


class Worker:
    def __init__(
        self,
        store: Store,
        router: routing.Router,
        context_factory: ContextFactory,
        metrics: Metrics,
        clock: Clock,
        *,
        concurrency: int = 8,
        max_attempts: int = 8,
        retry_base_seconds: float = 2.0,
        lease_seconds: float = 30.0,
        idle_poll_seconds: float = 0.5,
        min_claim_interval: float = 0.01,
    ) -> None:
        self.store = store
        self.router = router
        self.context_factory = context_factory
        self.metrics = metrics
        self.clock = clock
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.lease_seconds = lease_seconds
        self.idle_poll_seconds = idle_poll_seconds
        self.min_claim_interval = min_claim_interval
        self.owner = process_owner("worker")
        self._wakeup = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._lease_task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    def notify(self) -> None:
        """Intake calls this after storing a delivery, so it is picked up at once."""
        self._wakeup.set()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="worker")
        self._lease_task = asyncio.create_task(self._renew_leases(), name="worker-leases")

    async def stop(self, *, grace_seconds: float = 20.0) -> None:
        """Stop claiming; let work in flight finish, else release it for a retry."""
        self._stopping = True
        self._wakeup.set()
        if self._loop_task is not None:
            await self._loop_task
        if self._in_flight:
            _, pending = await asyncio.wait(list(self._in_flight.values()), timeout=grace_seconds)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, StoreUnavailable):
                    await task
        with contextlib.suppress(StoreUnavailable):
            await self.store.release(self.owner)
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease_task

    async def run_until_idle(self, *, limit_seconds: float = 30.0) -> None:
        """Handle everything ready now, then return (for `replay` and tests)."""
        deadline = time.monotonic() + limit_seconds
        while time.monotonic() < deadline:
            await self.store.intake_settled(max(0.0, deadline - time.monotonic()))
            claimed = await self._claim_and_start()
            if self._in_flight:
                await asyncio.wait(list(self._in_flight.values()))
            elif not claimed:
                return
        raise TimeoutError("deliveries were still being handled when the timeout ran out")

    async def _run(self) -> None:
        last_claim = 0.0
        while not self._stopping:
            # Intake wakes the worker for every stored delivery; coalesce those
            # wake-ups so a burst costs one claim per interval, not one each.
            since = time.monotonic() - last_claim
            if since < self.min_claim_interval:
                await asyncio.sleep(self.min_claim_interval - since)
            last_claim = time.monotonic()
            try:
                claimed = await self._claim_and_start()
            except StoreUnavailable as error:
                log.warning("store unavailable; worker waits", extra=fields(error=str(error)))
                claimed = 0
                await asyncio.sleep(1.0)
            if claimed and len(self._in_flight) < self.concurrency:
                continue
            self._wakeup.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.idle_poll_seconds)

    async def _claim_and_start(self) -> int:
        free = self.concurrency - len(self._in_flight)
        if free <= 0 or self._stopping:
            return 0
        batch = await self.store.claim(
            self.owner, now=self.clock.now(), limit=free, lease_seconds=self.lease_seconds
        )
        for delivery in batch:
            task = asyncio.create_task(self._handle_chain(delivery), name="delivery-chain")
            self._in_flight[delivery.seq] = task
            task.add_done_callback(self._done)
        return len(batch)

    def _done(self, task: asyncio.Task[None]) -> None:
        for seq, running in list(self._in_flight.items()):
            if running is task:
                del self._in_flight[seq]
        self._wakeup.set()

    async def _handle_chain(self, delivery: StoredDelivery) -> None:
        """Handle `delivery`, then each following one of its ordering key handed over
        on completion, until the key has nothing waiting (or the worker stops)."""
        current: StoredDelivery | None = delivery
        while current is not None:
            following = await self._handle(current)
            if following is not None:
                self._in_flight[following.seq] = self._in_flight.pop(current.seq)
            current = following

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.store.renew_leases(
                    self.owner, list(self._in_flight), self.clock.now() + self.lease_seconds
                )
                await self.store.requeue_expired(self.clock.now())
                await self.store.promote_unheaded()
            except StoreUnavailable as error:
                log.warning("could not renew leases", extra=fields(error=str(error)))

    async def _record(
        self, delivery: StoredDelivery, result: HandlingResult
    ) -> StoredDelivery | None:
        """Write the outcome, waiting out a store outage: the handlers' work is done,
        and running them again only because the store blinked would be waste.

        The delivery stays claimed meanwhile (its lease is renewed with the
        others). If the worker is stopped first, the lease runs out and another
        run finishes it, skipping the handlers recorded as done.

        Returns the next delivery of the same ordering key, claimed for this
        worker, unless it is stopping.
        """
        delay = 0.1
        while True:
            take_next_until = None if self._stopping else self.clock.now() + self.lease_seconds
            try:
                return await self.store.complete(
                    delivery, self.owner, result, take_next_until=take_next_until
                )
            except StoreUnavailable as error:
                if self._stopping:
                    raise
                log.warning(
                    "store unavailable; outcome kept until it is back",
                    extra=fields(delivery=delivery.guid, error=str(error)),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _handle(self, delivery: StoredDelivery) -> StoredDelivery | None:
        started = time.monotonic()
        context_fields = {
            "delivery": delivery.guid,
            "event": delivery.event,
            "action": delivery.action,
            "installation": delivery.installation_id,
            "attempt": delivery.attempts,
        }
        event = sansio.Event(
            decode_json(delivery.payload), event=delivery.event, delivery_id=delivery.guid
        )
        # A first attempt has no earlier runs to skip; a retry skips what succeeded.
        done = await self.store.handlers_done(delivery.guid) if delivery.attempts > 1 else set()
        context = self.context_factory(delivery)
        results: list[tuple[str, str | None]] = []
        retry_at: float | None = None
        for handler in handlers_for(self.router, event):
            name = handler_name(handler)
            if name in done:
                continue
            handler_started = time.monotonic()
            try:
                await handler(event, context)
            except Exception as error:
                results.append((name, f"{name}: {error_summary(error)}"))
                if isinstance(error, RateLimited):
                    retry_at = max(retry_at or 0.0, error.retry_at)
                else:  # to Sentry when SENTRY_DSN is set: the type and stack, no text
                    report_exception(error, event=delivery.event, handler=name)
                log.warning(
                    "handler failed",
                    extra=fields(**context_fields, handler=name, error=error_summary(error)),
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
            else:
                results.append((name, None))
            finally:
                self.metrics.handler_duration.observe(
                    time.monotonic() - handler_started, handler=name
                )
        duration_ms = (time.monotonic() - started) * 1000
        now = self.clock.now()
        errors = [error for _, error in results if error is not None]
        error_text = "; ".join(errors) if errors else None
        outcome: HandlingOutcome
        if not errors:
            outcome = "done"
        elif delivery.attempts >= self.max_attempts:
            outcome = "failed"
        else:
            outcome = "retry"
            next_at = now + backoff_delay(delivery.attempts, self.retry_base_seconds)
            retry_at = max(next_at, retry_at or 0.0)
        following = await self._record(
            delivery,
            HandlingResult(
                outcome=outcome,
                handlers=results,
                error=error_text,
                retry_at=retry_at or 0.0,
                finished_at=now,
                duration_ms=duration_ms,
            ),
        )
        self.metrics.handled.inc(event=delivery.event, outcome=outcome)
        log.info(
            "delivery handled",
            extra=fields(**context_fields, outcome=outcome, duration_ms=round(duration_ms, 2)),
        )
        return following
