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
    """Runs `batch` on asynchronous PostgreSQL connections, for groups of items.

    Items submitted in one turn of the event loop go together. Up to
    `connections` transactions are in flight at once: an item arriving while
    one commits starts the next at once instead of waiting for it.
    """

    def __init__(
        self, backend: PostgresBackend, batch: Batch[Item, Result], *, connections: int = 2
    ) -> None:
        self._backend = backend
        self._batch = batch
        self._limit = connections
        self._waiting: list[_Waiting[Item, Result]] = []
        self._transactions: set[asyncio.Task[None]] = set()
        self._idle: list[Any] = []  # psycopg.AsyncConnections, opened on first use
        self._scheduled = False
        self._closed = False

    async def submit(self, item: Item) -> Result:
        """Queue `item` for the next transaction; its result once that transaction commits."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._waiting.append(_Waiting(item, future))
        if not self._scheduled:
            # Once this turn's other submissions are in, so they share the transaction.
            self._scheduled = True
            loop.call_soon(self._start)
        return await future

    def _start(self) -> None:
        self._scheduled = False
        while self._waiting and len(self._transactions) < self._limit and not self._closed:
            group = self._waiting[:GROUP_LIMIT]
            del self._waiting[:GROUP_LIMIT]
            group = [waiting for waiting in group if not waiting.future.done()]
            if group:
                task = asyncio.create_task(self._commit(group), name="intake-group-commit")
                self._transactions.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._transactions.discard(task)
        self._start()

    async def _commit(self, group: list[_Waiting[Item, Result]]) -> None:
        connection = None
        try:
            connection = self._idle.pop() if self._idle else await self._connect()
            results = await self._run(connection, [waiting.item for waiting in group])
        except BaseException as error:
            failure = error if isinstance(error, Exception) else StoreUnavailable("closing")
            for waiting in group:
                if not waiting.future.done():
                    waiting.future.set_exception(failure)
            if failure is not error:
                raise  # cancelled by close()
            return
        finally:
            if connection is not None:
                await self._give_back(connection)
        for waiting, result in zip(group, results, strict=True):
            if not waiting.future.done():
                waiting.future.set_result(result)

    async def _give_back(self, connection: Any) -> None:
        """Keep a connection that still works for the next transaction; close the rest."""
        if self._closed or connection.closed or connection.broken:
            with contextlib.suppress(Exception):
                await connection.close()
        else:
            self._idle.append(connection)

    async def _connect(self) -> Any:
        import psycopg  # SQLite installs need not load it

        if self._closed:
            raise StoreUnavailable("the store is closed")
        try:
            return await psycopg.AsyncConnection.connect(
                self._backend.url, **self._backend.connect_arguments()
            )
        except psycopg.Error as error:
            raise_unavailable(error, self._backend.url)

    async def _run(self, connection: Any, items: list[Item]) -> list[Result]:
        try:
            return await self._batch(connection, items)
        except Exception as error:
            if not self._backend.is_unavailable(error):
                raise
            raise_unavailable(error, self._backend.url)

    async def close(self) -> None:
        """Answer whoever still waits with StoreUnavailable, and close the connections."""
        self._closed = True
        for task in list(self._transactions):
            task.cancel()
        for task in list(self._transactions):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for waiting in self._waiting:
            if not waiting.future.done():
                waiting.future.set_exception(StoreUnavailable("the store is closed"))
        self._waiting.clear()
        idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                await connection.close()
