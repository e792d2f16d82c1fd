"""SQLite only: a transaction's BEGIN travels with its first statement.

Each trip to aiosqlite's thread costs the loop a wake-up (about a millisecond
under load, against SQLite's tens of microseconds for a BEGIN), and every
write transaction of the process waits behind the one in progress. The trips
are counted by wrapping aiosqlite's own hand-off, which still does the work.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from pipeline.db import Database
from tests.support.databases import opened_database


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    made: list[Any] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(fn)
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield made


async def _table(database: Database) -> None:
    await database.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")


async def test_begin_goes_with_the_first_statement(tmp_path: Path, trips: list[Any]) -> None:
    async with opened_database(f"sqlite:///{tmp_path / 'trips.db'}") as database:
        await _table(database)
        trips.clear()
        async with database.transaction() as tx:
            await tx.execute("INSERT INTO items (id, name) VALUES (1, 'a')")
            assert await tx.fetch_value("SELECT name FROM items WHERE id = 1") == "a"
        # BEGIN + INSERT, SELECT, COMMIT.
        assert len(trips) == 3
        assert await database.fetch_value("SELECT count(*) FROM items") == 1


async def test_a_transaction_without_statements_makes_no_trip(
    tmp_path: Path, trips: list[Any]
) -> None:
    async with opened_database(f"sqlite:///{tmp_path / 'trips.db'}") as database:
        await _table(database)
        trips.clear()
        async with database.transaction():
            pass
        async with database.transaction(write=False):
            pass
        assert trips == []
        # The connection is clean: the next transaction begins and commits.
        async with database.transaction() as tx:
            await tx.execute("INSERT INTO items (id, name) VALUES (1, 'a')")
        assert await database.fetch_value("SELECT name FROM items") == "a"


async def test_a_failed_first_statement_rolls_back_and_the_connection_is_reused(
    tmp_path: Path,
) -> None:
    async with opened_database(f"sqlite:///{tmp_path / 'trips.db'}", pool_max_size=1) as database:
        await _table(database)
        with pytest.raises(Exception, match="no such table"):
            async with database.transaction() as tx:
                await tx.execute("INSERT INTO missing VALUES (1)")
        with pytest.raises(RuntimeError):
            async with database.transaction() as tx:
                await tx.execute("INSERT INTO items (id, name) VALUES (1, 'a')")
                raise RuntimeError("the body fails after its first statement")
        async with database.transaction() as tx:
            await tx.execute("INSERT INTO items (id, name) VALUES (2, 'b')")
        assert await database.fetch_all("SELECT id, name FROM items") == [{"id": 2, "name": "b"}]
