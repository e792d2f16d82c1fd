"""The PostgreSQL adapter, over asyncpg (the only module that imports it).

asyncpg's pool already replaces a connection it *knows* is closed: when the
server ends a session (``pg_terminate_backend``, a restart) the socket's EOF
marks the idle connection closed and the next acquire opens a new one. What
it cannot know about is a connection whose peer vanished without a word (a
dropped NAT entry, a failed-over host): such a connection looks healthy until
a query hangs. So a connection that sat idle longer than
``health_check_after_idle_seconds`` is pinged before it is handed out, and a
silent one is terminated (asyncpg then reconnects that slot) and another one
taken. A connection that dies *while in use* fails that one call with the
transient :class:`~pipeline.errors.DatabaseUnavailable`; asyncpg returns the
dead slot to the pool and the next call gets a fresh connection.

Statements are bounded twice: the server's ``statement_timeout`` cancels a
slow statement cleanly (SQLSTATE 57014, :class:`~pipeline.errors.DatabaseBusy`);
asyncpg's ``command_timeout``, a little longer, only fires when the server
cannot answer at all (:class:`~pipeline.errors.DatabaseUnavailable`).

Plans. A statement about one row (an ``INSERT`` of one product, an
``UPDATE`` of one job by its id — every per-file write) is kept prepared and
planned as PostgreSQL plans by default (``auto``: its first five executions
are planned for their parameters, then one generic plan is kept if it is no
dearer), which spares replanning them — and the foreign keys' own checks —
at every row. A statement whose text grows with its rows (a multi-row
``INSERT`` of admitted jobs, a search with many filters, SQLite's padded
``IN`` lists) is longer than :data:`KEPT_STATEMENT_MAX_CHARS`: asyncpg
sends it unnamed, so it is planned for its values every time, the planning
shared by its rows. A group's writes (:class:`~pipeline.db.base.ManyRows`),
its claim and the look-ups by a list of values
(:class:`~pipeline.repositories.batching.ValuesIn`) bind their lists as
arrays instead, one parameter a column: short statements, kept; their
generic plans reckon ten rows from ``unnest`` or ``= ANY`` and find them by
key (``tests/contract/test_many_rows.py``).

A generic plan is made for the tables as they are at that moment, and
PostgreSQL makes it again only when their statistics change: a plan made
while a table was small (a sequential scan) would be kept while a backfill
grows it to millions of rows if nothing analyses it (autovacuum off or
behind). So a connection's plans are discarded (``DISCARD PLANS``) at its
first checkout after ``plans_max_age_seconds``, and made again for the
tables as they have become.

JSON and JSONB travel as ``str`` both ways: asyncpg's default codecs for them
are text codecs, and none is replaced here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

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
    SerializationFailure,
)
from pipeline.settings import DatabaseSettings

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy
    from asyncpg.transaction import Transaction

__all__ = ["PostgresConnection", "PostgresDatabase", "translate_postgres_error"]

#: How long a health-check ``SELECT 1`` may take before the connection is
#: declared dead (capped further by ``connect_timeout``).
HEALTH_CHECK_TIMEOUT_SECONDS = 2.0
#: How much longer than the server's statement_timeout asyncpg waits for an
#: answer before it gives up on the connection.
CLIENT_TIMEOUT_MARGIN_SECONDS = 5.0
#: PostgreSQL's own default, said out loud: a server or role configured
#: otherwise (``force_custom_plan`` replans every statement at every
#: execution, ~0.3 ms of server CPU a file here) does not apply to fitsflow's
#: sessions. Plans kept too long are handled by ``plans_max_age_seconds``.
PLAN_CACHE_MODE = "auto"
#: The longest statement asyncpg keeps prepared (its
#: ``max_cacheable_statement_size``). fitsflow's statements about one row are
#: at most ~600 characters, those over arrays at most ~900 (products' insert);
#: a list written out (``batching.CHUNK`` values) at least ~1,100.
KEPT_STATEMENT_MAX_CHARS = 1_000
#: What a connection runs at checkout once its plans are older than
#: ``plans_max_age_seconds``. It also answers as the health check would.
RENEW_PLANS_SQL = "DISCARD PLANS"

# asyncpg's classes are generic only in its stubs, so these aliases are for
# the type checker alone.
_Proxy: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"
_Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"

# Everything asyncpg raises from a call: server errors, client-side interface
# errors, and socket errors (TimeoutError is an OSError).
_DRIVER_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)

_STALE_CACHE = (
    asyncpg.exceptions.InvalidCachedStatementError,
    asyncpg.exceptions.OutdatedSchemaCacheError,
)
_GONE = {"57P01", "57P02", "57P03"}  # admin/crash shutdown, cannot connect now
_SERIALIZATION = {"40001", "40P01"}  # serialization failure, deadlock
_BUSY = {"55P03", "57014"}  # lock not available, query canceled (statement timeout)


def translate_postgres_error(
    error: BaseException, *, connection_lost: bool = False
) -> FitsflowError:
    """The :mod:`pipeline.errors` counterpart of an asyncpg or socket error.

    Server errors are classified by SQLSTATE. asyncpg's ``InterfaceError``
    carries none, so ``connection_lost`` (the connection's state when it was
    raised) tells a dropped connection from a misuse.
    """
    message = f"PostgreSQL: {type(error).__name__}: {error}"
    if isinstance(error, _STALE_CACHE):
        # A schema change (a migration) invalidated a prepared statement inside
        # a transaction; asyncpg has dropped its cache, so a re-run succeeds.
        return SerializationFailure(message)
    if isinstance(error, asyncpg.PostgresError):
        return _by_sqlstate(error)
    if isinstance(error, OSError) or connection_lost:
        return DatabaseUnavailable(message)
    return DatabaseError(message)


def _by_sqlstate(error: asyncpg.PostgresError) -> FitsflowError:
    state = error.sqlstate or ""
    details: dict[str, Any] = {"sqlstate": state}
    message = f"PostgreSQL {state}: {error}"
    if state.startswith("08") or state in _GONE:
        return DatabaseUnavailable(message, details=details)
    if state in _SERIALIZATION:
        return SerializationFailure(message, details=details)
    if state in _BUSY or state.startswith("53"):
        return DatabaseBusy(message, details=details)
    if state.startswith("23"):
        for key in ("constraint_name", "table_name", "column_name"):
            if getattr(error, key, None):
                details[key] = getattr(error, key)
        return IntegrityViolation(message, details=details)
    return DatabaseError(message, details=details)


def _rowcount(status: str) -> int:
    """Rows changed according to a command tag: ``UPDATE 3``, ``INSERT 0 1``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


# unnest yields the (sorted) array in order and the lock call runs row by row
# as it is scanned: the same order in every transaction, so no deadlock.
LOCK_KEYS_SQL = (
    "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(CAST(:keys AS text[])) AS k"
)


class PostgresConnection(Connection):
    """A pooled asyncpg connection, inside a transaction or in autocommit mode."""

    binds_arrays = True

    def __init__(self, proxy: _Proxy) -> None:
        self._proxy = proxy
        self._open = True

    def _connection_lost(self) -> bool:
        try:
            return self._proxy.is_closed()
        except asyncpg.InterfaceError:
            # asyncpg detaches the proxy when the connection closes under it.
            return True

    @contextmanager
    def _translated(self) -> Iterator[None]:
        if not self._open:
            raise DatabaseError("connection used after its transaction or block ended")
        try:
            yield
        except _DRIVER_ERRORS as error:
            raise translate_postgres_error(
                error, connection_lost=self._connection_lost()
            ) from error

    def _prepare(self, sql: str, params: Params | None) -> tuple[str, tuple[Any, ...]]:
        compiled = compile_sql(sql, "postgresql")
        return compiled.text, bind(compiled, params)

    async def execute(self, sql: str, params: Params | None = None) -> int:
        text, args = self._prepare(sql, params)
        with self._translated():
            return _rowcount(await self._proxy.execute(text, *args))

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        compiled = compile_sql(sql, "postgresql")
        arg_rows = [bind(compiled, row) for row in rows]
        with self._translated():
            await self._proxy.executemany(compiled.text, arg_rows)

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        return (await self.fetch_all_values(sql, params)).dicts()

    async def fetch_all_values(self, sql: str, params: Params | None = None) -> RowValues:
        text, args = self._prepare(sql, params)
        with self._translated():
            return RowValues.of(await self._proxy.fetch(text, *args))

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        text, args = self._prepare(sql, params)
        with self._translated():
            record = await self._proxy.fetchrow(text, *args)
        return None if record is None else dict(record)

    async def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        text, args = self._prepare(sql, params)
        with self._translated():
            return await self._proxy.fetchval(text, *args)

    async def lock_key(self, key: str) -> None:
        """Take a transaction-scoped advisory lock on ``key`` (waits for it)."""
        await self.execute("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))", {"key": key})

    async def lock_keys(self, keys: Sequence[str]) -> None:
        """All the locks in one round trip, taken in the order of the sorted keys."""
        if keys:
            await self.execute(LOCK_KEYS_SQL, {"keys": sorted(set(keys))})

    def _close_handle(self) -> None:
        self._open = False

    async def _begin(self) -> Transaction:
        transaction = self._proxy.transaction()
        with self._translated():
            await transaction.start()
        return transaction

    async def _commit(self, transaction: Transaction) -> None:
        with self._translated():
            await transaction.commit()

    async def _rollback(self, transaction: Transaction) -> None:
        # Called while another error propagates: a rollback that fails because
        # the connection is gone must not hide that error (the server has
        # rolled back anyway), and the dead connection is not reused.
        if self._connection_lost():
            return
        try:
            await transaction.rollback()
        except _DRIVER_ERRORS:
            self._proxy.terminate()


async def _keep_session(connection: asyncpg.Connection) -> None:
    """What a connection needs before it goes back to the pool: nothing more.

    asyncpg always rolls back a transaction left open; its default reset then
    runs ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``
    — one more round trip on every checkout, for session state fitsflow never
    creates (no SET, LISTEN, advisory locks or cursors outside a transaction;
    the session settings are the pool's ``server_settings``).
    """


class _Stamps:
    """A moment for each server process (a connection's pid), the most recent last.

    Bounded: connections asyncpg closed on its own (``max_queries``, idle
    lifetime) leave their pid behind, and only the most recent are kept.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._moments: dict[int, float] = {}

    def get(self, pid: int) -> float | None:
        return self._moments.get(pid)

    def pop(self, pid: int) -> float | None:
        return self._moments.pop(pid, None)

    def stamp(self, pid: int, moment: float) -> None:
        self._moments.pop(pid, None)
        self._moments[pid] = moment
        while len(self._moments) > self._limit:
            del self._moments[next(iter(self._moments))]

    def clear(self) -> None:
        self._moments.clear()


class PostgresDatabase(Database):
    """A PostgreSQL database behind an asyncpg pool; see the module docstring."""

    dialect = "postgresql"

    def __init__(self, settings: DatabaseSettings) -> None:
        self.url = settings.url
        self._settings = settings
        self._pool: _Pool | None = None
        self._counters = PoolCounters()
        self._connecting = asyncio.Lock()
        # Server pid -> when its connection was last given back (the health
        # check), and when its plans were last made anew.
        self._idle_since = _Stamps(4 * settings.pool_max_size)
        self._planned_since = _Stamps(4 * settings.pool_max_size)

    @property
    def default_retry_seconds(self) -> float:
        return self._settings.busy_retry_seconds

    async def connect(self) -> None:
        async with self._connecting:
            if self._pool is None:
                self._pool = await self._create_pool()

    async def _create_pool(self) -> _Pool:
        settings = self._settings
        try:
            pool: _Pool = await asyncpg.create_pool(
                settings.url,
                min_size=settings.pool_min_size,
                max_size=settings.pool_max_size,
                max_queries=settings.max_queries_per_connection,
                max_inactive_connection_lifetime=settings.max_idle_seconds,
                timeout=settings.connect_timeout,
                reset=_keep_session,
                max_cacheable_statement_size=KEPT_STATEMENT_MAX_CHARS,
                command_timeout=settings.statement_timeout + CLIENT_TIMEOUT_MARGIN_SECONDS,
                server_settings={
                    "application_name": "fitsflow",
                    "statement_timeout": str(int(settings.statement_timeout * 1000)),
                    "plan_cache_mode": PLAN_CACHE_MODE,
                },
            )
        except _DRIVER_ERRORS as error:
            raise self._unreachable(error) from error
        try:
            # With pool_min_size 0 nothing has connected yet: check reachability now.
            async with pool.acquire(timeout=settings.connect_timeout) as probe:
                await probe.fetchval("SELECT 1")
        except _DRIVER_ERRORS as error:
            pool.terminate()
            raise self._unreachable(error) from error
        return pool

    def _unreachable(self, error: BaseException) -> FitsflowError:
        translated = translate_postgres_error(error, connection_lost=True)
        if isinstance(translated, DatabaseUnavailable):
            return translated
        return DatabaseUnavailable(f"cannot connect to PostgreSQL: {translated.message}")

    async def close(self) -> None:
        async with self._connecting:
            pool, self._pool = self._pool, None
            if pool is not None:
                await pool.close()
            self._idle_since.clear()
            self._planned_since.clear()

    async def _ready_pool(self) -> _Pool:
        if self._pool is None:
            await self.connect()
        assert self._pool is not None
        return self._pool

    @asynccontextmanager
    async def _checkout(self) -> AsyncIterator[PostgresConnection]:
        pool = await self._ready_pool()
        proxy = await self._acquire(pool)
        conn = PostgresConnection(proxy)
        try:
            yield conn
        finally:
            conn._close_handle()
            await self._release(pool, proxy)

    async def _acquire(self, pool: _Pool) -> _Proxy:
        """A healthy connection within ``acquire_timeout``, counted in the statistics."""
        started = time.monotonic()
        deadline = started + self._settings.acquire_timeout
        self._counters.waiting += 1
        try:
            while True:
                proxy = await self._acquire_one(pool, deadline)
                try:
                    if await self._ready(proxy):
                        break
                except BaseException:
                    proxy.terminate()  # cancelled mid-ping: the connection's state is unknown
                    raise
        finally:
            self._counters.waiting -= 1
        self._counters.record_acquire(time.monotonic() - started)
        return proxy

    async def _acquire_one(self, pool: _Pool, deadline: float) -> _Proxy:
        timeout = max(deadline - time.monotonic(), 0.0)
        started = time.monotonic()
        try:
            return await pool.acquire(timeout=timeout)
        except TimeoutError as error:
            if time.monotonic() - started < timeout:
                # Not our wait running out: opening a new connection timed out.
                raise self._unreachable(error) from error
            self._counters.exhausted_total += 1
            raise PoolExhausted(
                f"no PostgreSQL connection free within {self._settings.acquire_timeout}s",
                details={"pool_max_size": self._settings.pool_max_size},
            ) from None
        except _DRIVER_ERRORS as error:  # opening a replacement connection failed
            raise self._unreachable(error) from error

    async def _ready(self, proxy: _Proxy) -> bool:
        """Ping a long-idle connection and renew old plans; terminate it (False)
        if it does not answer."""
        pid = proxy.get_server_pid()
        now = time.monotonic()
        released = self._idle_since.pop(pid)
        planned = self._planned_since.get(pid)
        if planned is None:  # a connection new to this pool: its plans are new too
            self._planned_since.stamp(pid, now)
            planned = now
        renew = now - planned >= self._settings.plans_max_age_seconds
        idle = released is not None and (
            now - released >= self._settings.health_check_after_idle_seconds
        )
        if not (renew or idle):
            return True
        timeout = min(HEALTH_CHECK_TIMEOUT_SECONDS, self._settings.connect_timeout)
        try:
            await proxy.execute(RENEW_PLANS_SQL if renew else "SELECT 1", timeout=timeout)
        except _DRIVER_ERRORS:
            # terminate() hands the slot back to asyncpg, which reconnects it.
            proxy.terminate()
            self._counters.recycled_total += 1
            return False
        if renew:
            self._planned_since.stamp(pid, now)
        return True

    async def _release(self, pool: _Pool, proxy: _Proxy) -> None:
        self._counters.in_use -= 1
        try:
            closed = proxy.is_closed()
        except asyncpg.InterfaceError:
            closed = True  # already handed back by asyncpg when it closed
        if closed:
            self._counters.recycled_total += 1
        else:
            self._idle_since.stamp(proxy.get_server_pid(), time.monotonic())
        try:
            await pool.release(proxy)
        except _DRIVER_ERRORS:
            # Resetting the connection failed: asyncpg has terminated it and
            # will reconnect the slot; the caller's work is already done.
            self._counters.recycled_total += 1

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[Connection]:
        if not write:
            # A read needs no BEGIN and COMMIT here: at READ COMMITTED each
            # statement of a transaction takes its own snapshot anyway, so they
            # bought nothing but two round trips a read (a third of the status
            # API's statements), and readers never block writers.
            async with self._checkout() as conn:
                yield conn
            return
        async with self._checkout() as conn:
            transaction = await conn._begin()
            try:
                yield conn
            except BaseException:
                await conn._rollback(transaction)
                raise
            await conn._commit(transaction)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        async with self._checkout() as conn:
            yield conn

    def stats(self) -> PoolStats:
        pool = self._pool
        return self._counters.snapshot(
            size=pool.get_size() if pool else 0,
            max_size=self._settings.pool_max_size,
            idle=pool.get_idle_size() if pool else 0,
        )
