"""A stored delivery as the queue reads it: its columns, and the row it comes from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

# A delivery's states. The finished ones sort before every unfinished one as text,
# so the queries write "unfinished" as `state >= 'queued'`: one range of the
# (order_key, state, seq) index, so intake's check for an unfinished delivery of
# its key is one index lookup, not three (one per state of an IN list; a sixth of
# an insert's CPU). A new state must keep that order: tests/queue/test_states.py
# checks every state the code's SQL writes; the types below make mypy check those
# the code binds as parameters (a handling's outcome, a retried delivery's state).
FinishedState = Literal["done", "failed"]
UnfinishedState = Literal["queued", "running", "waiting"]
DeliveryState = FinishedState | UnfinishedState
FINISHED_STATES: tuple[FinishedState, ...] = get_args(FinishedState)
UNFINISHED_STATES: tuple[UnfinishedState, ...] = get_args(UnfinishedState)


@dataclass(frozen=True)
class StoredDelivery:
    seq: int
    guid: str
    event: str
    action: str | None
    installation_id: int | None
    order_key: str
    source: str
    payload: str
    received_at: float
    state: DeliveryState
    attempts: int
    next_attempt_at: float
    finished_at: float | None
    duration_ms: float | None
    last_error: str | None

    @property
    def payload_removed(self) -> bool:
        """True once its payload was purged (handled, or parked past the retention)."""
        return self.payload == REMOVED_PAYLOAD


# What a purged payload is replaced with: never a valid delivery body.
REMOVED_PAYLOAD = ""


_DELIVERY_COLUMNS = (
    "seq, guid, event, action, installation_id, order_key, source, payload, received_at, "
    "state, attempts, next_attempt_at, finished_at, duration_ms, last_error"
)
# Built from constants only; every value is a bound parameter.
SELECT_DELIVERIES = "SELECT " + _DELIVERY_COLUMNS + " FROM deliveries "  # noqa: S608


def delivery_of_row(row: Sequence[Any]) -> StoredDelivery:
    return StoredDelivery(*row)
