"""A delivery's states, and the order the queries count on (bot/queue/rows.py).

The queries write "an unfinished delivery" as `state >= 'queued'`, one range of
the (order_key, state, seq) index. That holds only while every finished state
sorts before every unfinished one: these tests check the states the code's SQL
writes, that the states it binds as parameters are typed (so `mypy --strict`,
which CI runs, rejects any other), and what intake decides behind a delivery of
each state, on both backends.
"""

from __future__ import annotations

import re
import sqlite3
import types
import typing
from pathlib import Path

import pytest

from bot.queue.rows import FINISHED_STATES, UNFINISHED_STATES, StoredDelivery
from bot.queue.store import HandlingResult, Store
from tests.databases import query
from tests.harness import queued_delivery

BOT = Path(__file__).resolve().parents[2] / "bot"

# A state in the deliveries' SQL: `state = 'x'`, `state IN ('x', 'y')`,
# `THEN 'x' ELSE 'y'`, `DEFAULT 'x'` on the state column.
_STATE_SQL = re.compile(
    r"state\s*(?:=|<>|!=|>=|IN)\s*\(?((?:'\w+'(?:,\s*)?)+)\)?"
    r"|THEN\s+'(\w+)'\s+ELSE\s+'(\w+)'"
    r"|state TEXT NOT NULL DEFAULT '(\w+)'"
)


def states_in_sql() -> set[str]:
    found: set[str] = set()
    for path in BOT.rglob("*.py"):
        text = path.read_text()
        if "deliveries" not in text or path.parent.name == "advisories":
            continue  # an advisory's states ('triage', 'draft') are GitHub's
        for match in _STATE_SQL.finditer(text):
            for group in match.groups():
                if group:
                    found.update(re.findall(r"\w+", group))
    return found


def test_every_finished_state_sorts_before_every_unfinished_one() -> None:
    assert max(FINISHED_STATES) < min(UNFINISHED_STATES)
    assert min(UNFINISHED_STATES) == "queued", "the queries write `state >= 'queued'`"


def test_the_code_writes_no_state_but_these() -> None:
    found = states_in_sql()
    assert {"queued", "running", "waiting", "done", "failed"} <= found, found
    assert found <= set(FINISHED_STATES) | set(UNFINISHED_STATES), found


def literal_values(hint: object) -> set[object]:
    """The values a `Literal` (or a union of them) admits; empty for anything else."""
    if typing.get_origin(hint) is typing.Literal:
        return set(typing.get_args(hint))
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return set().union(*(literal_values(arg) for arg in typing.get_args(hint)))
    return set()


def test_the_states_bound_as_parameters_are_typed() -> None:
    """A handling's outcome becomes the row's state (`retry`: `queued` again), and a
    stored delivery's state is what its readers compare with: both are literal
    types, so mypy rejects a state outside the lists. Widening one to `str` fails
    here."""
    states = set(FINISHED_STATES) | set(UNFINISHED_STATES)
    delivery_state = typing.get_type_hints(StoredDelivery)["state"]
    assert literal_values(delivery_state) == states
    outcome = typing.get_type_hints(HandlingResult)["outcome"]
    assert literal_values(outcome) == set(FINISHED_STATES) | {"retry"}


def set_state(database_url: str, guid: str, state: str) -> None:
    """Another session moves a stored delivery to `state` (committed)."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            connection.execute("UPDATE deliveries SET state = ? WHERE guid = ?", (state, guid))
        return
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("UPDATE deliveries SET state = %s WHERE guid = %s", (state, guid))


@pytest.mark.parametrize("ahead", [*FINISHED_STATES, *UNFINISHED_STATES])
async def test_intake_waits_behind_exactly_the_unfinished_states(
    store: Store, database_url: str, ahead: str
) -> None:
    key = f"advisory:python/cpython:GHSA-{ahead}"
    first, second = (queued_delivery(key, {"n": n}) for n in (1, 2))
    other_key = queued_delivery("advisory:python/cpython:GHSA-other", {"n": 3})
    await store.add_delivery(first)
    set_state(database_url, first.guid, ahead)
    await store.add_delivery(second)
    await store.add_delivery(other_key)
    stored = dict(query(database_url, "SELECT guid, state FROM deliveries"))
    expected = "waiting" if ahead in UNFINISHED_STATES else "queued"
    assert stored[second.guid] == expected
    assert stored[other_key.guid] == "queued", "another key's deliveries hold nothing up"
