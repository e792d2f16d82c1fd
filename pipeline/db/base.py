"""The one database interface fitsflow's repositories talk to.

Two adapters implement it — :mod:`pipeline.db.sqlite` (aiosqlite) and
:mod:`pipeline.db.postgres` (asyncpg). SQL is written once with ``:name``
placeholders (see :mod:`pipeline.db.sql`); results are plain mappings; driver
errors are translated into :mod:`pipeline.errors` inside the adapters, with
the original kept as ``__cause__``.
"""

from __future__ import annotations

import abc
import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar, cast

from pipeline.db.sql import Dialect, compile_sql
from pipeline.errors import DatabaseBusy, DatabaseUnavailable, PoolExhausted, SerializationFailure

__all__ = [
    "Connection",
    "Database",
    "ManyRows",
    "Params",
    "PoolCounters",
    "PoolStats",
    "Row",
    "RowValues",
]

Row = Mapping[str, Any]
Params = Mapping[str, Any]
T = TypeVar("T")


class _Record(Protocol):
    """A driver's row (asyncpg's ``Record``, ``sqlite3.Row``): its values in
    column order when iterated, its column names from ``keys()``."""

    def keys(self) -> Any: ...
    def __iter__(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class RowValues:
    """A result as its column names and each row's values in their order."""

    #: Empty when there is no row (nothing to name).
    columns: tuple[str, ...]
    #: The driver's rows (asyncpg's ``Record``, ``sqlite3.Row``), indexed by position.
    rows: Sequence[Sequence[Any]]

    @classmethod
    def of(cls, records: Sequence[_Record]) -> RowValues:
        columns = tuple(records[0].keys()) if records else ()
        return cls(columns, cast("Sequence[Sequence[Any]]", records))

    def dicts(self) -> list[Row]:
        """Each row as a plain dict.

        The column names are read once for the result: ``dict(record)`` asks
        every record for them and then looks each value up by name, a third
        more time for a 50-row page of 38 columns.
        """
        columns = self.columns
        return [dict(zip(columns, row, strict=True)) for row in self.rows]


#: Transient database conditions that re-running the same transaction can clear.
RETRYABLE = (DatabaseBusy, SerializationFailure, PoolExhausted, DatabaseUnavailable)


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of a connection pool, for the status endpoint and metrics."""

    size: int
    max_size: int
    in_use: int
    idle: int
    waiting: int
    acquired_total: int
    acquire_wait_seconds_total: float
    acquire_wait_seconds_max: float
    exhausted_total: int
    recycled_total: int


@dataclass(slots=True)
class PoolCounters:
    """The running acquire statistics an adapter keeps behind :meth:`Database.stats`.

    Both adapters count the same way, so the numbers mean the same on SQLite
    and PostgreSQL: ``in_use`` and ``waiting`` are what callers of the adapter
    hold or wait for right now, the totals only grow.
    """

    in_use: int = 0
    waiting: int = 0
    acquired_total: int = 0
    acquire_wait_seconds_total: float = 0.0
    acquire_wait_seconds_max: float = 0.0
    exhausted_total: int = 0
    recycled_total: int = 0

    def record_acquire(self, waited: float) -> None:
        """A connection was handed out after ``waited`` seconds."""
        self.in_use += 1
        self.acquired_total += 1
        self.acquire_wait_seconds_total += waited
        self.acquire_wait_seconds_max = max(self.acquire_wait_seconds_max, waited)

    def snapshot(self, *, size: int, max_size: int, idle: int) -> PoolStats:
        """These counters plus the pool's own size, as a frozen :class:`PoolStats`."""
        return PoolStats(
            size=size,
            max_size=max_size,
            in_use=self.in_use,
            idle=idle,
            waiting=self.waiting,
            acquired_total=self.acquired_total,
            acquire_wait_seconds_total=self.acquire_wait_seconds_total,
            acquire_wait_seconds_max=self.acquire_wait_seconds_max,
            exhausted_total=self.exhausted_total,
            recycled_total=self.recycled_total,
        )


@dataclass(frozen=True, slots=True)
class ManyRows:
    """One statement applied to many rows, in the form each database runs fastest.

    ``each`` is the statement for one row (``:name`` placeholders), run once
    per row (SQLite). ``arrays`` is the same change over every row at once:
    each ``:name`` in it stands for the list of the rows' values (PostgreSQL,
    through ``unnest``), except the ``shared`` names, which have one value
    for every row and are bound once, from the first row. On PostgreSQL one
    statement over 32 rows cost ~40 µs of server CPU a row where 32
    executions of ``each`` cost ~90 (``docs/benchmarks.md``): each execution
    is a portal and an executor started and ended.

    An ``UPDATE … FROM unnest(…)`` changes a row once even if its key comes
    twice; callers pass distinct keys (a group's jobs are distinct).
    """

    each: str
    arrays: str
    shared: frozenset[str] = frozenset()


class Connection(abc.ABC):
    """One connection, usually inside a transaction; all SQL uses ``:name``."""

    #: Whether a list binds as one array parameter (PostgreSQL): a statement
    #: over any number of values is then one short text, kept prepared.
    binds_arrays: ClassVar[bool] = False

    @abc.abstractmethod
    async def execute(self, sql: str, params: Params | None = None) -> int:
        """Run one statement; returns the number of rows it changed."""

    @abc.abstractmethod
    async def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        """Run one statement once per parameter mapping in ``rows``."""

    async def execute_rows(self, statement: ManyRows, rows: Sequence[Params]) -> None:
        """Apply ``statement`` to every row of ``rows`` (see :class:`ManyRows`):
        in one statement where lists bind as arrays, else row by row."""
        if not self.binds_arrays:
            await self.execute_many(statement.each, rows)
            return
        if not rows:
            return
        first, shared = rows[0], statement.shared
        names = compile_sql(statement.arrays, "postgresql").names  # the arrays form is its
        await self.execute(
            statement.arrays,
            {
                name: first[name] if name in shared else [row[name] for row in rows]
                for name in names
            },
        )

    @abc.abstractmethod
    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        """Every row the statement returns."""

    @abc.abstractmethod
    async def fetch_all_values(self, sql: str, params: Params | None = None) -> RowValues:
        """Every row the statement returns as its values, with the column
        names once: for a read of many rows, spared a dict per row (~1.8 µs
        a row of 38 columns)."""

    @abc.abstractmethod
    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        """The first row, or None."""

    @abc.abstractmethod
    async def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        """The first column of the first row, or None."""

    @abc.abstractmethod
    async def lock_key(self, key: str) -> None:
        """Serialise transactions that touch ``key`` until this one ends.

        PostgreSQL takes a transaction-scoped advisory lock; SQLite needs
        nothing (a write transaction already excludes every other writer).
        """

    async def lock_keys(self, keys: Sequence[str]) -> None:
        """:meth:`lock_key` for every key, in sorted order (one fixed order
        across transactions cannot deadlock). Adapters may do it in one trip."""
        for key in sorted(set(keys)):
            await self.lock_key(key)


class Database(abc.ABC):
    """A connected database: transactions, one-off statements, pool statistics."""

    dialect: Dialect
    url: str

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open connections (idempotent); DatabaseUnavailable when unreachable."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close every connection; waits for connections in use to come back."""

    @abc.abstractmethod
    def transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[Connection]:
        """``async with db.transaction() as tx:`` commits on exit, rolls back on error.

        ``write=False`` promises the body only reads: SQLite then does not take
        the write lock, and PostgreSQL runs its statements without BEGIN and
        COMMIT (at READ COMMITTED a transaction gives reads no common snapshot).
        """

    @abc.abstractmethod
    def connection(self) -> AbstractAsyncContextManager[Connection]:
        """A pooled connection in autocommit mode (each statement its own transaction)."""

    @abc.abstractmethod
    def stats(self) -> PoolStats:
        """The pool's current statistics."""

    async def ping(self) -> None:
        """Raise DatabaseUnavailable (or another transient error) if unusable."""
        async with self.connection() as conn:
            await conn.fetch_value("SELECT 1")

    async def run_in_transaction(
        self,
        work: Callable[[Connection], Awaitable[T]],
        *,
        retry_for: float | None = None,
        write: bool = True,
    ) -> T:
        """Run ``work`` in a transaction, re-running it on retryable conditions.

        Busy/locked databases, serialization failures, deadlocks, pool
        exhaustion and dropped connections are retried with exponential
        backoff and jitter for up to ``retry_for`` seconds (the adapter's
        ``busy_retry_seconds`` when None); after that the last error is raised.
        """
        budget = self.default_retry_seconds if retry_for is None else retry_for
        deadline = time.monotonic() + budget
        delay = 0.01
        while True:
            try:
                async with self.transaction(write=write) as tx:
                    return await work(tx)
            except RETRYABLE:
                if time.monotonic() + delay > deadline:
                    raise
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)

    @property
    def default_retry_seconds(self) -> float:
        return 30.0

    # One-off statements, each in its own connection and transaction.

    async def execute(self, sql: str, params: Params | None = None) -> int:
        async with self.connection() as conn:
            return await conn.execute(sql, params)

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        async with self.connection() as conn:
            return await conn.fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        async with self.connection() as conn:
            return await conn.fetch_one(sql, params)

    async def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        async with self.connection() as conn:
            return await conn.fetch_value(sql, params)

    async def __aenter__(self) -> Database:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
