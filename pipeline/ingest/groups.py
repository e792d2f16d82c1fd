"""Group commit: the writes of many jobs in one transaction.

Every job in flight in a process submits its write (start an attempt, record
a success) and waits for it. A single task commits what has gathered — one
transaction, a few statements for the whole group — while the next group
gathers. Under load groups grow by themselves; alone, a write goes at once.

Each job still gets its own all-or-nothing outcome: if the group's
transaction fails for any reason, every item is written again in a
transaction of its own, so one bad item fails only itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import structlog

from pipeline.db import Connection, Database

__all__ = ["GroupWriter"]

log = structlog.get_logger(__name__)

I = TypeVar("I")  # noqa: E741 - the item type, as in the generic's signature
R = TypeVar("R")

#: How long a group's transaction is retried on busy/serialization conditions
#: before its items are written one by one (each with the full budget).
GROUP_RETRY_SECONDS = 2.0


class GroupWriter(Generic[I, R]):
    """Commits submitted items in groups: ``bulk`` for a group, ``single`` alone."""

    def __init__(
        self,
        db: Database,
        bulk: Callable[[Connection, Sequence[I]], Awaitable[list[R]]],
        single: Callable[[Connection, I], Awaitable[R]],
        *,
        max_group: int = 64,
    ) -> None:
        self.db = db
        self._bulk = bulk
        self._single = single
        self._max_group = max_group
        self._pending: list[tuple[I, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.groups = 0
        self.items = 0

    async def submit(self, item: I) -> R:
        """Write ``item`` (with whatever else is waiting) and return its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            group = self._pending[: self._max_group]
            del self._pending[: self._max_group]
            await self._commit(group)

    async def _commit(self, group: list[tuple[I, asyncio.Future[R]]]) -> None:
        items = [item for item, _ in group]
        self.groups += 1
        self.items += len(items)

        async def together(tx: Connection) -> list[R]:
            return await self._bulk(tx, items)

        try:
            results = await self.db.run_in_transaction(together, retry_for=GROUP_RETRY_SECONDS)
        except Exception as error:  # noqa: BLE001 - every item is written again below, alone
            if len(group) > 1:
                log.info("group write failed; writing its items one by one", error=repr(error))
            await self._one_by_one(group)
            return
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _one_by_one(self, group: list[tuple[I, asyncio.Future[R]]]) -> None:
        for item, future in group:

            async def alone(tx: Connection, item: I = item) -> R:
                return await self._single(tx, item)

            try:
                result = await self.db.run_in_transaction(alone)
            except Exception as error:  # noqa: BLE001 - re-raised in the item's own caller
                if not future.done():
                    future.set_exception(error)
                continue
            if not future.done():
                future.set_result(result)
