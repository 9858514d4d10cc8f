"""The one door for events the bot raises itself: the poller, the timers, and handlers.

GitHub sends no webhook for most of an advisory's life, so the poller turns
what it sees into `advisory` and `advisory_comment` events, the deadline and
governance scanners turn the clock into `advisory` and `governance` events, and
a handler that changes an advisory (`/publish`) raises the event the change
means. All of them come in here: the event is stored on the same queue as
webhooks, ordered by intake's own rule (`bot.queue.intake.internal_event`),
under a GUID that names the change, so the same change raised twice (a
restart, a second replica, a poll and a handler) is stored once, and the
worker is woken.

Intake refuses these event names over HTTP: only the bot raises them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.queue.intake import internal_event
from bot.queue.store import Store


class FollowUps:
    """Store events the bot raises itself, and wake the worker."""

    def __init__(self, store: Store, now: Callable[[], float]) -> None:
        self.store = store
        self.now = now
        # Wakes the worker; set once the worker exists (it is built after this door).
        self.notify: Callable[[], None] = _nothing

    async def raise_event(
        self, guid: str, event: str, payload: dict[str, Any], *, source: str, wake: bool = True
    ) -> bool:
        """Store `event`; False when its GUID is stored already (the change was seen).

        `wake=False` leaves waking the worker to the caller (a scanner that raises
        many events calls `notify` once).
        """
        delivery = internal_event(guid, event, payload, received_at=self.now())
        is_new = await self.store.add_delivery(delivery, source=source)
        if is_new and wake:
            self.notify()
        return is_new

    async def advisory_changed(
        self,
        guid: str,
        action: str,
        changes: list[str],
        *,
        installation_id: int,
        repository: str,
        ghsa_id: str,
        state: str,
        source: str,
        wake: bool = True,
    ) -> bool:
        """An `advisory` event (`discovered` or `updated`, with the changed fields' names)."""
        payload = {
            "action": action,
            "changes": changes,
            "installation": {"id": installation_id},
            "repository": {"full_name": repository},
            "repository_advisory": {"ghsa_id": ghsa_id, "state": state},
        }
        return await self.raise_event(guid, "advisory", payload, source=source, wake=wake)

    async def advisory_published(
        self, *, installation_id: int, repository: str, ghsa_id: str
    ) -> bool:
        """The bot published an advisory (`/publish`, alone or with its linked group): its
        publication handlers run now, not when GitHub's webhook or the poller says so."""
        return await self.advisory_changed(
            f"publish:{repository}:{ghsa_id}",
            "updated",
            ["state"],
            installation_id=installation_id,
            repository=repository,
            ghsa_id=ghsa_id,
            state="published",
            source="bot",
        )


def _nothing() -> None:
    """The worker's wake-up before there is a worker."""
