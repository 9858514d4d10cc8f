"""What a handler receives besides the event: its collaborators, passed in."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from bot.config import BotConfig
from bot.github import GitHubApp, GitHubClient
from bot.store import Store


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


@dataclass(frozen=True)
class HandlerContext:
    """Handlers act through these and nothing else.

    `github` is the client for the delivery's installation (None for events
    that carry none); `app` reaches App-level endpoints.
    """

    github: GitHubClient | None
    app: GitHubApp
    store: Store
    config: BotConfig
    clock: Clock
    delivery_guid: str
