"""Empty databases on every backend, for tests that need a real one.

Fixtures (this module is a pytest plugin, registered in ``tests/conftest.py``):

``empty_database_url``
    Parametrised over ``sqlite`` and ``postgresql`` (those are the test ids);
    the value is the URL of an empty database. SQLite: a new file in
    ``tmp_path``. PostgreSQL: one database per test session, named
    ``fitsflow_test_<random>`` and created through
    :data:`~tests.support.services.POSTGRES_ADMIN_URL`; before each test every
    session on it is ended and every schema dropped, leaving an empty
    ``public`` (about 3 ms, where creating and dropping a database per test
    costs about 70 ms). The database is dropped when the session ends. The
    PostgreSQL case carries ``pytest.mark.postgres`` and fails in CI, skips
    elsewhere, when the server is unreachable.

A fixture built on this one (a migrated database, say) only has to request
``empty_database_url`` to run on both backends. A test or fixture for one
backend narrows it with the ready-made marks::

    @ONLY_POSTGRESQL
    async def test_advisory_locks(empty_database_url: str) -> None: ...

:func:`database_settings` gives settings with timeouts sized for tests, and
:func:`opened_database` a connected adapter for them.

Disturbances, for tests of what happens when things go wrong:
:func:`write_lock_held_elsewhere` (another session holds the write lock),
:func:`terminate_backends` (PostgreSQL ends sessions) and
:class:`SilencingProxy` (the network drops a connection without a word).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from pipeline.db import Database, open_database
from pipeline.errors import DatabaseUnavailable
from pipeline.settings import DatabaseSettings
from tests.support.services import POSTGRES_ADMIN_URL, service_missing

__all__ = [
    "ONLY_POSTGRESQL",
    "ONLY_SQLITE",
    "POSTGRESQL",
    "SQLITE",
    "SilencingProxy",
    "database_settings",
    "empty_database_url",
    "opened_database",
    "postgres_test_database",
    "postgres_url_for",
    "terminate_backends",
    "write_lock_held_elsewhere",
]

T = TypeVar("T")

SQLITE = pytest.param("sqlite", id="sqlite")
POSTGRESQL = pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)
#: Narrow ``empty_database_url`` (and fixtures built on it) to one backend.
ONLY_SQLITE = pytest.mark.parametrize("empty_database_url", [SQLITE], indirect=True)
ONLY_POSTGRESQL = pytest.mark.parametrize("empty_database_url", [POSTGRESQL], indirect=True)

#: Settings for tests: small pools, and timeouts that fail in seconds, not minutes.
TEST_DATABASE_DEFAULTS: dict[str, Any] = {
    "pool_min_size": 1,
    "pool_max_size": 4,
    "acquire_timeout": 5.0,
    "connect_timeout": 5.0,
    "statement_timeout": 30.0,
    "sqlite_busy_timeout": 1.0,
    "busy_retry_seconds": 5.0,
}


def database_settings(url: str, **overrides: Any) -> DatabaseSettings:
    """:class:`DatabaseSettings` for ``url`` with test-sized defaults, then ``overrides``."""
    return DatabaseSettings(**{**TEST_DATABASE_DEFAULTS, "url": url, **overrides})


@contextlib.asynccontextmanager
async def opened_database(url: str, **overrides: Any) -> AsyncIterator[Database]:
    """A connected adapter for ``url`` (see :func:`database_settings`), closed on exit."""
    async with open_database(database_settings(url, **overrides)) as database:
        yield database


def postgres_url_for(database: str) -> str:
    """The admin URL pointed at another database on the same server."""
    return urlsplit(POSTGRES_ADMIN_URL)._replace(path="/" + database).geturl()


def _run_isolated(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` on a private event loop in its own thread.

    Keeps set-up and tear-down off the loop pytest-asyncio gives the test.
    """
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, work).result()


async def _execute(url: str, sql: str) -> None:
    database = open_database(database_settings(url, pool_min_size=0, pool_max_size=1))
    async with database:
        await database.execute(sql)


# Sessions left behind by an earlier test would hold locks that block the
# drop; then every schema goes, with whatever types, functions, extensions
# and sequences lived in it.
_RESET_SQL = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid();
DO $$
DECLARE schema_name text;
BEGIN
  FOR schema_name IN
    SELECT nspname FROM pg_namespace
     WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
  LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', schema_name);
  END LOOP;
END
$$;
CREATE SCHEMA public;
"""


@pytest.fixture(scope="session")
def postgres_test_database() -> Iterator[str]:
    """URL of this session's PostgreSQL test database (see the module docstring)."""
    name = f"fitsflow_test_{secrets.token_hex(6)}"
    try:
        _run_isolated(_execute(POSTGRES_ADMIN_URL, f'CREATE DATABASE "{name}"'))
    except DatabaseUnavailable as error:
        service_missing("PostgreSQL", f"{POSTGRES_ADMIN_URL}: {error}")
    yield postgres_url_for(name)
    _run_isolated(_execute(POSTGRES_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=[SQLITE, POSTGRESQL])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, once per backend (see the module docstring)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fitsflow.db'}"
    url: str = request.getfixturevalue("postgres_test_database")
    _run_isolated(_execute(url, _RESET_SQL))
    return url


# --- disturbances -------------------------------------------------------------------

# A plain sqlite3 connection in another process, holding the write lock until
# it reads a line: what several fitsflow processes on one file do to each other.
_SQLITE_LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


@contextlib.asynccontextmanager
async def write_lock_held_elsewhere(url: str, table: str) -> AsyncIterator[None]:
    """Another session holds the write lock on ``table`` while the block runs.

    SQLite: another process's ``BEGIN IMMEDIATE`` (the whole file). PostgreSQL:
    another connection's ``LOCK TABLE ... IN EXCLUSIVE MODE``. Readers pass.
    """
    if not url.startswith("sqlite"):
        async with opened_database(url) as other, other.transaction() as tx:
            await tx.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            yield
        return
    pipe = asyncio.subprocess.PIPE
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _SQLITE_LOCK_HOLDER, url.removeprefix("sqlite:///"),
        stdin=pipe, stdout=pipe,
    )  # fmt: skip
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert await holder.stdout.readline() == b"locked\n", "the lock holder failed"
        yield
    finally:
        holder.stdin.write(b"\n")
        await holder.stdin.drain()
        assert await holder.wait() == 0


async def terminate_backends(url: str, pids: list[int]) -> None:
    """``pg_terminate_backend`` each of ``pids`` and wait until they are gone."""
    async with opened_database(url) as admin, asyncio.timeout(10):
        for pid in pids:
            await admin.fetch_value("SELECT pg_terminate_backend(:pid)", {"pid": pid})
        for pid in pids:
            sql = "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"
            while await admin.fetch_value(sql, {"pid": pid}):
                await asyncio.sleep(0.01)


class SilencingProxy:
    """A TCP relay in front of PostgreSQL that can make connections go silent.

    ``async with SilencingProxy(url) as proxy``: connect to ``proxy.url``;
    after :meth:`silence` the connections open so far get no more bytes in
    either direction but stay open, as when a peer vanishes from the network
    (new connections work).
    """

    def __init__(self, url: str) -> None:
        self._target = urlsplit(url)
        self._silenced: set[asyncio.StreamWriter] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.url = url

    async def __aenter__(self) -> SilencingProxy:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        user = f"{self._target.username}@" if self._target.username else ""
        self.url = self._target._replace(netloc=f"{user}127.0.0.1:{port}").geturl()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def silence(self) -> None:
        """Stop relaying on every connection open now."""
        self._silenced.update(self._writers)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target = (self._target.hostname or "127.0.0.1", self._target.port or 5432)
        upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        self._writers += [writer, upstream_writer]
        await asyncio.gather(
            self._pump(reader, upstream_writer), self._pump(upstream_reader, writer)
        )

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                if sink not in self._silenced:
                    sink.write(data)
                    await sink.drain()
        sink.close()
