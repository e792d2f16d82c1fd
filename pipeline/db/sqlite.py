"""The SQLite adapter, over aiosqlite (the only module that imports it).

Every connection runs in WAL mode, so readers never wait for the writer and
the writer never waits for readers; only writers exclude each other. That is
why write transactions start with ``BEGIN IMMEDIATE`` (the write lock is taken
up front, so a transaction never fails half-way for want of it), why writers
of this process take turns on an :class:`asyncio.Lock` (they would otherwise
spin in SQLite's busy handler against each other) and why a writer of another
process holding the lock is waited out for up to ``busy_retry_seconds``
before :class:`~pipeline.errors.DatabaseBusy` is raised.

Values: ``datetime`` parameters are stored as fixed-width ISO-8601 text in UTC
(``2024-05-01T12:00:00.000000+00:00``, so text order is time order); columns
declared ``TIMESTAMP``, ``TIMESTAMPTZ`` or ``DATETIME`` (what SQLAlchemy's
``DateTime`` renders) come back as aware UTC datetimes and ``BOOLEAN`` columns
as bools, as they do from PostgreSQL. JSON is plain ``TEXT`` in and out.

Of the pool settings, SQLite uses the sizes, ``acquire_timeout`` and
``max_idle_seconds``; a local file needs no connect or statement timeout, no
health check and no recycling after ``max_queries_per_connection``.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import unquote

import aiosqlite

from pipeline.db.base import (
    Connection,
    Database,
    Params,
    PoolCounters,
    PoolStats,
    Row,
    RowValues,
)
from pipeline.db.sql import bind, compile_sql
from pipeline.errors import (
    DatabaseBusy,
    DatabaseError,
    DatabaseUnavailable,
    FitsflowError,
    IntegrityViolation,
    PoolExhausted,
    ValidationError,
)
from pipeline.settings import DatabaseSettings

__all__ = ["SqliteConnection", "SqliteDatabase", "sqlite_path", "translate_sqlite_error"]

T = TypeVar("T")

#: Longest pause between two attempts on a locked database: SQLite cannot tell
#: us when the lock is released, so we poll, but not so rarely that a short
#: lock costs a long wait.
MAX_BUSY_BACKOFF_SECONDS = 0.1

_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
# The file cannot be reached or written right now (a missing mount, a full
# disk, an I/O error): an operator can fix it without touching the data.
_UNAVAILABLE = {sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL}
_UNAVAILABLE |= {sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL}
# Extended READONLY codes that only mean "another connection is recovering
# or initialising the WAL": wait and try again.
_BUSY_EXTENDED = {sqlite3.SQLITE_READONLY_RECOVERY, sqlite3.SQLITE_READONLY_CANTINIT}


def _parse_timestamp(raw: bytes) -> datetime | str:
    text = raw.decode()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text  # not ours to judge: hand back what was stored
    # CURRENT_TIMESTAMP and friends write naive UTC text.
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


for _declared in ("TIMESTAMP", "TIMESTAMPTZ", "DATETIME"):
    sqlite3.register_converter(_declared, _parse_timestamp)
sqlite3.register_converter("BOOLEAN", lambda raw: raw not in (b"0", b""))


def sqlite_path(url: str) -> Path:
    """The file of ``sqlite:///relative.db`` or ``sqlite:////absolute.db``."""
    if not url.startswith("sqlite:///"):
        raise ValidationError(f"not a SQLite URL: {url!r}", details={"setting": "database.url"})
    location = unquote(url.removeprefix("sqlite:///").split("?", 1)[0])
    if not location or location == ":memory:":
        # Each pooled connection would see its own empty database.
        raise ValidationError(
            "SQLite needs a database file, not an in-memory database",
            details={"setting": "database.url"},
        )
    return Path(location)


def _adapt(value: Any) -> Any:
    if isinstance(value, datetime):
        return _utc_text(value)
    if isinstance(value, bool):
        return int(value)
    return value


#: Values sqlite3 takes as they are: :func:`_prepare` skips :func:`_adapt` for them.
_PLAIN_TYPES = frozenset({str, int, float, bytes, type(None)})


@lru_cache(maxsize=256)
def _utc_text(value: datetime) -> str:
    # A group's rows share one time stamp: formatted once, not per row and column.
    # astimezone() reads a naive value as local time, as asyncpg does.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _is_busy(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF in _BUSY or code in _BUSY_EXTENDED)


def translate_sqlite_error(error: sqlite3.Error) -> FitsflowError:
    """The :mod:`pipeline.errors` counterpart of ``error``, chosen by its error code."""
    code: int | None = getattr(error, "sqlite_errorcode", None)
    details = {"sqlite_error": getattr(error, "sqlite_errorname", None)}
    message = f"SQLite: {error}"
    if code is None:  # raised by the sqlite3 module itself (misuse, bad parameter)
        return DatabaseError(message, details=details)
    if _is_busy(error):
        return DatabaseBusy(message, details=details)
    if code & 0xFF in _UNAVAILABLE:
        return DatabaseUnavailable(message, details=details)
    if code & 0xFF == sqlite3.SQLITE_CONSTRAINT:
        return IntegrityViolation(message, details=details)
    return DatabaseError(message, details=details)


async def _retry_while_busy(attempt: Callable[[], Awaitable[T]], deadline: float) -> T:
    """Run ``attempt`` until it is not refused for a lock, or ``deadline`` passes.

    Only for work that changed nothing when it was refused (BEGIN, a single
    autocommit statement); each attempt already waits ``busy_timeout`` inside
    SQLite before it gives up.
    """
    delay = 0.005
    while True:
        try:
            return await attempt()
        except sqlite3.Error as error:
            if not _is_busy(error) or time.monotonic() + delay > deadline:
                raise translate_sqlite_error(error) from error
        await asyncio.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, MAX_BUSY_BACKOFF_SECONDS)


def _in_thread(conn: aiosqlite.Connection, work: Callable[[], T]) -> Awaitable[T]:
    """``work()`` in ``conn``'s thread: aiosqlite's own hand-off
    (``Connection._execute``, behind each of its methods), the one way to make
    several sqlite3 calls in one trip."""
    return cast(Awaitable[T], conn._execute(work))  # type: ignore[no-untyped-call]


class _BeginRefused(Exception):
    """A deferred BEGIN was refused: nothing ran, the call may be tried again."""

    def __init__(self, error: sqlite3.Error) -> None:
        super().__init__(str(error))
        self.error = error


class _Pooled:
    """One open connection and what the pool knows about it.

    Each call is one trip to the connection's thread. A transaction's BEGIN
    waits to travel with its first statement (``begin``): under load a trip
    costs far more than SQLite's work for it — the loop, busy with other
    jobs' callbacks, takes ~1 ms to hear back — and every write transaction
    of the process waits its turn behind the one in progress.
    """

    __slots__ = ("begin", "begin_deadline", "broken", "conn", "idle_since")

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        self.idle_since = time.monotonic()
        self.broken = False
        #: ``BEGIN …`` not sent yet, and until when a refusal is retried.
        self.begin: str | None = None
        self.begin_deadline = 0.0

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(connection)`` in the connection's thread, after a pending BEGIN."""
        begin, self.begin = self.begin, None
        if begin is not None:
            try:
                return await _in_thread(self.conn, partial(self._begun_then, begin, work))
            except _BeginRefused as refused:
                if not _is_busy(refused.error):
                    raise refused.error from None
            # Another process holds the write lock: BEGIN alone waits it out,
            # as every BEGIN did before it travelled with a statement.
            await _retry_while_busy(partial(self.run, begin), self.begin_deadline)
        return await _in_thread(self.conn, partial(work, self.conn._conn))

    def _begun_then(self, begin: str, work: Callable[[sqlite3.Connection], T]) -> T:
        """In the connection's thread: ``begin``, then ``work``."""
        raw = self.conn._conn  # aiosqlite's sqlite3 connection, used in its own thread
        try:
            raw.execute(begin)
        except sqlite3.Error as error:
            raise _BeginRefused(error) from error
        return work(raw)

    async def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Execute one statement; the changed-row count."""
        return await self._call(lambda raw: max(raw.execute(sql, args).rowcount, 0))

    async def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._call(lambda raw: raw.executemany(sql, rows))

    async def first(self, sql: str, args: Sequence[Any]) -> Row | None:
        # execute + fetch in one trip; callers ask for at most a row or two.
        return next(iter((await self.all_values(sql, args)).dicts()), None)

    async def all_values(self, sql: str, args: Sequence[Any]) -> RowValues:
        return RowValues.of(await self._call(lambda raw: raw.execute(sql, args).fetchall()))

    async def commit(self) -> None:
        """Commit what began; a BEGIN never sent leaves nothing to commit."""
        if self.begin is not None:
            self.begin = None
            return
        await self.conn.commit()

    async def rollback(self) -> None:
        """Roll back whatever is open; a connection that cannot is not pooled again."""
        self.begin = None
        try:
            await self.conn.rollback()
        except (sqlite3.Error, ValueError):  # ValueError: aiosqlite's "connection closed"
            self.broken = True
        except BaseException:
            self.broken = True  # cancelled mid-rollback: its state is unknown
            raise

    @asynccontextmanager
    async def rolled_back_on_error(self) -> AsyncIterator[None]:
        try:
            yield
        except BaseException as error:
            await self.rollback()
            if isinstance(error, sqlite3.Error):
                raise translate_sqlite_error(error) from error
            raise


def _prepare(sql: str, params: Params | None) -> tuple[str, tuple[Any, ...]]:
    compiled = compile_sql(sql, "sqlite")
    plain = _PLAIN_TYPES
    values = bind(compiled, params)
    return compiled.text, tuple([v if type(v) in plain else _adapt(v) for v in values])


class SqliteConnection(Connection):
    """A pooled SQLite connection, inside a transaction or in autocommit mode.

    In autocommit mode a statement refused for a lock held by another
    connection changed nothing, so it is simply tried again until
    ``busy_retry_seconds`` have passed.
    """

    def __init__(self, pooled: _Pooled, *, autocommit: bool, busy_retry_seconds: float) -> None:
        self._pooled = pooled
        self._autocommit = autocommit
        self._busy_retry_seconds = busy_retry_seconds

    async def _run(self, attempt: Callable[[], Awaitable[T]]) -> T:
        if self._autocommit:
            return await _retry_while_busy(attempt, time.monotonic() + self._busy_retry_seconds)
        try:
            return await attempt()
        except sqlite3.Error as error:
            raise translate_sqlite_error(error) from error

    async def execute(self, sql: str, params: Params | None = None) -> int:
        return await self._run(partial(self._pooled.run, *_prepare(sql, params)))

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        text = compile_sql(sql, "sqlite").text
        arg_rows = [_prepare(sql, row)[1] for row in rows]
        pooled = self._pooled
        if not self._autocommit:
            await self._run(partial(pooled.run_many, text, arg_rows))
            return
        # As on PostgreSQL, all rows or none: one write transaction of its own.
        deadline = time.monotonic() + self._busy_retry_seconds
        await _retry_while_busy(partial(pooled.run, "BEGIN IMMEDIATE"), deadline)
        async with pooled.rolled_back_on_error():
            await pooled.run_many(text, arg_rows)
            await pooled.commit()

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        return (await self.fetch_all_values(sql, params)).dicts()

    async def fetch_all_values(self, sql: str, params: Params | None = None) -> RowValues:
        return await self._run(partial(self._pooled.all_values, *_prepare(sql, params)))

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        return await self._run(partial(self._pooled.first, *_prepare(sql, params)))

    async def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else next(iter(row.values()), None)

    async def lock_key(self, key: str) -> None:
        """Nothing to do: a write transaction already excludes every other writer."""

    async def lock_keys(self, keys: Sequence[str]) -> None:
        """Nothing to do (see :meth:`lock_key`)."""


class _SqlitePool:
    """Up to ``pool_max_size`` connections to one file, most recently used first."""

    def __init__(self, path: Path, settings: DatabaseSettings, counters: PoolCounters) -> None:
        self._path = path
        self._settings = settings
        self._counters = counters
        self._idle: list[_Pooled] = []
        self._size = 0
        self._permits = asyncio.Semaphore(settings.pool_max_size)

    @property
    def size(self) -> int:
        return self._size

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def _open(self) -> _Pooled:
        settings = self._settings
        conn = aiosqlite.connect(
            self._path,
            timeout=settings.sqlite_busy_timeout,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            detect_types=sqlite3.PARSE_DECLTYPES,
        )
        try:
            await conn
            conn.row_factory = sqlite3.Row
            pooled = _Pooled(conn)
            deadline = time.monotonic() + settings.busy_retry_seconds
            for pragma in (
                f"PRAGMA busy_timeout = {int(settings.sqlite_busy_timeout * 1000)}",
                "PRAGMA journal_mode = WAL",  # switching needs the lock once per file
                "PRAGMA synchronous = NORMAL",
                "PRAGMA foreign_keys = ON",
            ):
                await _retry_while_busy(partial(pooled.run, pragma), deadline)
        except sqlite3.Error as error:
            await conn.close()
            raise translate_sqlite_error(error) from error
        except BaseException:
            await conn.close()
            raise
        self._size += 1
        return pooled

    async def acquire(self) -> _Pooled:
        """A connection; PoolExhausted if none is free within ``acquire_timeout``."""
        started = time.monotonic()
        self._counters.waiting += 1
        try:
            async with asyncio.timeout(self._settings.acquire_timeout):
                await self._permits.acquire()
        except TimeoutError:
            self._counters.exhausted_total += 1
            raise PoolExhausted(
                f"no SQLite connection free within {self._settings.acquire_timeout}s",
                details={"pool_max_size": self._settings.pool_max_size},
            ) from None
        finally:
            self._counters.waiting -= 1
        try:
            pooled = await self._reuse_or_open()
        except BaseException:
            self._permits.release()
            raise
        self._counters.record_acquire(time.monotonic() - started)
        return pooled

    async def _reuse_or_open(self) -> _Pooled:
        limit = self._settings.max_idle_seconds
        while self._idle:
            pooled = self._idle.pop()
            stale = limit > 0 and time.monotonic() - pooled.idle_since > limit
            if not stale or self._size <= self._settings.pool_min_size:
                return pooled
            await self._discard(pooled)
        return await self._open()

    async def release(self, pooled: _Pooled) -> None:
        """Give ``pooled`` back (closing it if it is broken)."""
        self._counters.in_use -= 1
        try:
            if pooled.broken:
                await self._discard(pooled)
            else:
                pooled.idle_since = time.monotonic()
                self._idle.append(pooled)
        finally:
            self._permits.release()

    async def _discard(self, pooled: _Pooled) -> None:
        self._size -= 1
        self._counters.recycled_total += 1
        with suppress(sqlite3.Error):  # it is gone either way
            await pooled.conn.close()

    async def open_initial(self) -> None:
        """Open ``pool_min_size`` connections (at least one, to check the file) now."""
        opened: list[_Pooled] = []
        try:
            for _ in range(max(1, self._settings.pool_min_size)):
                opened.append(await self.acquire())
        finally:
            for pooled in opened:
                await self.release(pooled)
            if len(opened) < max(1, self._settings.pool_min_size):
                await self.close()

    async def close(self) -> None:
        """Wait for every connection to come back, then close them all."""
        for _ in range(self._settings.pool_max_size):
            await self._permits.acquire()
        while self._idle:
            pooled = self._idle.pop()
            self._size -= 1
            await pooled.conn.close()
        for _ in range(self._settings.pool_max_size):
            self._permits.release()


class SqliteDatabase(Database):
    """A SQLite file in WAL mode behind a small pool; see the module docstring."""

    dialect = "sqlite"

    def __init__(self, settings: DatabaseSettings) -> None:
        self.url = settings.url
        self._settings = settings
        self._path = sqlite_path(settings.url)
        self._counters = PoolCounters()
        self._pool: _SqlitePool | None = None
        self._connecting = asyncio.Lock()
        # Writers of this process take turns here rather than in SQLite's busy loop.
        self._writer = asyncio.Lock()

    @property
    def default_retry_seconds(self) -> float:
        return self._settings.busy_retry_seconds

    async def connect(self) -> None:
        async with self._connecting:
            if self._pool is not None:
                return
            try:
                await asyncio.to_thread(self._path.parent.mkdir, parents=True, exist_ok=True)
            except OSError as error:
                raise DatabaseUnavailable(
                    f"cannot create the directory of {self._path}: {error}"
                ) from error
            pool = _SqlitePool(self._path, self._settings, self._counters)
            await pool.open_initial()
            self._pool = pool

    async def close(self) -> None:
        async with self._connecting:
            pool, self._pool = self._pool, None
            if pool is not None:
                await pool.close()

    async def _ready_pool(self) -> _SqlitePool:
        if self._pool is None:
            await self.connect()
        assert self._pool is not None
        return self._pool

    @asynccontextmanager
    async def _checkout(self) -> AsyncIterator[_Pooled]:
        pool = await self._ready_pool()
        pooled = await pool.acquire()
        try:
            yield pooled
        finally:
            await pool.release(pooled)

    @asynccontextmanager
    async def _writer_turn(self, deadline: float) -> AsyncIterator[None]:
        # Wait at least as long as SQLite itself would for another process.
        patience = max(deadline - time.monotonic(), self._settings.sqlite_busy_timeout)
        try:
            async with asyncio.timeout(patience):
                await self._writer.acquire()
        except TimeoutError:
            raise DatabaseBusy(
                f"another writer of this process held the write lock for {patience:.1f}s"
            ) from None
        try:
            yield
        finally:
            self._writer.release()

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[Connection]:
        deadline = time.monotonic() + self._settings.busy_retry_seconds
        if not write:
            async with self._checkout() as pooled, self._begun(pooled, "DEFERRED", deadline) as tx:
                yield tx
            return
        async with (
            self._writer_turn(deadline),
            self._checkout() as pooled,
            self._begun(pooled, "IMMEDIATE", deadline) as tx,
        ):
            yield tx

    @asynccontextmanager
    async def _begun(
        self, pooled: _Pooled, mode: str, deadline: float
    ) -> AsyncIterator[Connection]:
        """BEGIN; then commit when the body ends normally, roll back when it raises."""
        # A BEGIN cancelled while it waits still completes in aiosqlite's
        # thread: rolling back on any error keeps the pooled connection clean.
        async with pooled.rolled_back_on_error():
            pooled.begin, pooled.begin_deadline = f"BEGIN {mode}", deadline
            yield SqliteConnection(
                pooled, autocommit=False, busy_retry_seconds=self._settings.busy_retry_seconds
            )
            await pooled.commit()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        async with self._checkout() as pooled:
            yield SqliteConnection(
                pooled, autocommit=True, busy_retry_seconds=self._settings.busy_retry_seconds
            )

    def stats(self) -> PoolStats:
        pool = self._pool
        return self._counters.snapshot(
            size=pool.size if pool else 0,
            max_size=self._settings.pool_max_size,
            idle=pool.idle if pool else 0,
        )
