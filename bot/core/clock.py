"""The bot's notion of now, passed in (tests move it; nothing sleeps to test a deadline)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()
