"""Named locks for choices that read a shared count and then write it.

A coordinator's load, an advisory's reminder spacing, a CVE reservation and a
record number are each decided from rows other deliveries (of this process, or
of another replica) may be writing at the same moment. Read, decide and write
inside one `exclusive(connection, NAME)` transaction and every other
transaction holding NAME runs entirely before or after it: the choices come out
as if the work had arrived one piece after another.

SQLite: the transaction begins with BEGIN IMMEDIATE, SQLite's one write lock,
which serializes writers across processes on the same file (the name does not
narrow it). PostgreSQL: BEGIN, then a transaction-scoped advisory lock on the
name (`pg_advisory_xact_lock`, released at COMMIT or ROLLBACK), taken in one
order by everyone so two names never deadlock; under READ COMMITTED each
statement after the lock sees every transaction that held it before.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from bot.db.connection import Connection, transaction

__all__ = ["exclusive"]


def exclusive(connection: Connection, *names: str) -> AbstractContextManager[Connection]:
    """`with exclusive(c, "coordinator-load"):` one transaction, serialized on each name.

    It commits on success and rolls back on an exception. Names live apart from
    the queue's ordering keys (`lock:` before each).
    """
    return transaction(connection, ordering_keys=[f"lock:{name}" for name in names])
