"""Compose the handler modules' routers and dispatch with each handler isolated.

gidgethub's `Router.dispatch` stops at the first exception; here every
handler runs, each outcome is reported, and a handler already done for a
delivery is skipped when the delivery is retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import ModuleType
from typing import Any

from gidgethub import routing, sansio

Handler = Callable[..., Awaitable[None]]


def handler_name(handler: Handler) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"


def compose(modules: Iterable[ModuleType]) -> routing.Router:
    """One router from each module's `router`, as bedevere does."""
    return routing.Router(*(module.router for module in modules))


def subscribed_events(router: routing.Router) -> frozenset[str]:
    """The event names at least one handler is registered for."""
    shallow: dict[str, Any] = router._shallow_routes
    deep: dict[str, Any] = router._deep_routes
    return frozenset(shallow) | frozenset(deep)


def handlers_for(router: routing.Router, event: sansio.Event) -> Sequence[Handler]:
    """The handlers for `event`, in a stable order (gidgethub's is a frozenset)."""
    return sorted(router.fetch(event), key=handler_name)
