"""PostgreSQL intake: a connection of its own, on the event loop, committing in groups.

On SQLite the event loop commits intake itself (bot/db/connection.py). On
PostgreSQL every job used to go to the database thread's one connection, so a
webhook's insert crossed two threads and waited behind the worker's claims,
completions and scans: one replica acknowledged about 1,300 deliveries a
second with a p99 of a second at 1,000/s offered.

Here intake has an asynchronous connection of its own that the event loop
drives directly. Items submitted while a transaction is in flight go together
in the next one (group commit): one pipelined round trip begins, inserts and
commits. Nothing else uses this connection, and the inserts take no lock (the
claim keeps each ordering key's deliveries one at a time, bot/queue/heads.py),
so intake never waits on the worker or on another replica's intake. It used
to lock the batch's ordering keys: under a flood of one key through two
replicas each replica's transaction then waited for the other's, and one that
stalled mid-pipeline held the key for everyone (p99 2 s, 503s).

A caller that stops waiting (the web route answers 503 after two seconds) may
still have its item committed: the delivery is then stored, and GitHub's
redelivery of it is recognized by its GUID. An item whose caller stopped
waiting before its transaction began is left out.

Failures: a driver error answers every caller of that transaction with
StoreUnavailable (credentials redacted); a broken connection is replaced by
the next transaction. Connections carry the same bounds as the database
thread's (statement and lock timeouts, TCP keepalives and user timeout), so a
database that stops answering ends the transaction within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.db.backends import PostgresBackend
from bot.db.connection import StoreUnavailable, raise_unavailable

Item = TypeVar("Item")
Result = TypeVar("Result")

# The most items one transaction takes; the rest wait for the next one.
GROUP_LIMIT = 256

# batch(connection, items) -> one result per item, in order; it runs its own transaction.
Batch = Callable[[Any, list[Item]], Awaitable[list[Result]]]


@dataclass
class _Waiting(Generic[Item, Result]):
    item: Item
    future: asyncio.Future[Result]


class GroupCommitWriter(Generic[Item, Result]):
    """Runs `batch` on one asynchronous PostgreSQL connection, for groups of items."""

    def __init__(self, backend: PostgresBackend, batch: Batch[Item, Result]) -> None:
        self._backend = backend
        self._batch = batch
        self._waiting: list[_Waiting[Item, Result]] = []
        self._writer: asyncio.Task[None] | None = None
        self._connection: Any = None  # psycopg.AsyncConnection, opened on first use
        self._closed = False

    async def submit(self, item: Item) -> Result:
        """Queue `item` for the next transaction; its result once that transaction commits."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(item, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="intake-group-commit")
        return await future

    async def _write(self) -> None:
        try:
            while self._waiting:
                group = self._waiting[:GROUP_LIMIT]
                del self._waiting[:GROUP_LIMIT]
                group = [waiting for waiting in group if not waiting.future.done()]
                if group:
                    await self._commit(group)
        finally:
            self._writer = None

    async def _commit(self, group: list[_Waiting[Item, Result]]) -> None:
        try:
            connection = await self._connect()
            results = await self._run(connection, [waiting.item for waiting in group])
        except BaseException as error:
            failure = error if isinstance(error, Exception) else StoreUnavailable("closing")
            for waiting in group:
                if not waiting.future.done():
                    waiting.future.set_exception(failure)
            if failure is not error:
                raise  # cancelled by close()
            return
        for waiting, result in zip(group, results, strict=True):
            if not waiting.future.done():
                waiting.future.set_result(result)

    async def _connect(self) -> Any:
        import psycopg  # SQLite installs need not load it

        if self._closed:
            raise StoreUnavailable("the store is closed")
        if self._connection is None:
            try:
                self._connection = await psycopg.AsyncConnection.connect(
                    self._backend.url, **self._backend.connect_arguments()
                )
            except psycopg.Error as error:
                raise_unavailable(error, self._backend.url)
        return self._connection

    async def _run(self, connection: Any, items: list[Item]) -> list[Result]:
        try:
            return await self._batch(connection, items)
        except Exception as error:
            if not self._backend.is_unavailable(error):
                raise
            if connection.closed or connection.broken:
                self._connection = None
                with contextlib.suppress(Exception):
                    await connection.close()
            raise_unavailable(error, self._backend.url)

    async def close(self) -> None:
        """Answer whoever still waits with StoreUnavailable, and close the connection."""
        self._closed = True
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        for waiting in self._waiting:
            if not waiting.future.done():
                waiting.future.set_exception(StoreUnavailable("the store is closed"))
        self._waiting.clear()
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
