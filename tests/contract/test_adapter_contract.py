"""One contract for both database adapters: every test runs on SQLite and PostgreSQL.

A few behaviours exist on one backend only (the server dropping a connection,
a silent network peer); those tests are narrowed to it with ONLY_POSTGRESQL.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pipeline.db import Connection, Database
from pipeline.db.postgres import KEPT_STATEMENT_MAX_CHARS
from pipeline.db.sql import compile_sql
from pipeline.errors import (
    DatabaseBusy,
    DatabaseError,
    DatabaseUnavailable,
    IntegrityViolation,
    PoolExhausted,
    SerializationFailure,
)
from pipeline.repositories.batching import in_list
from tests.support.databases import (
    ONLY_POSTGRESQL,
    SilencingProxy,
    opened_database,
    terminate_backends,
    write_lock_held_elsewhere,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def db(empty_database_url: str) -> AsyncIterator[Database]:
    async with opened_database(empty_database_url) as database:
        await create_tables(database)
        yield database


async def create_tables(database: Database) -> None:
    postgres = database.dialect == "postgresql"
    # The types the migrations use: JSON is JSONB on PostgreSQL and TEXT on
    # SQLite; SQLAlchemy's DateTime(timezone=True) renders as DATETIME there.
    json_type, time_type = ("JSONB", "TIMESTAMPTZ") if postgres else ("JSON", "DATETIME")
    async with database.transaction() as tx:
        await tx.execute(
            f"""CREATE TABLE items (
                id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, note TEXT,
                doc {json_type}, seen_at {time_type}, flag BOOLEAN)"""
        )
        await tx.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        await tx.execute("INSERT INTO counter (id, n) VALUES (1, 0)")


async def insert_item(conn: Connection | Database, item_id: int, name: str) -> int:
    sql = "INSERT INTO items (id, name) VALUES (:id, :name)"
    return await conn.execute(sql, {"id": item_id, "name": name})


async def item_names(database: Database) -> list[str]:
    return [row["name"] for row in await database.fetch_all("SELECT name FROM items ORDER BY id")]


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (pool statistics announce no changes) for up to 10 s."""
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.005)


def driver_module(error: BaseException) -> str:
    return type(error.__cause__).__module__.split(".")[0]


# --- transactions --------------------------------------------------------------


async def test_commit_makes_rows_visible_to_other_connections(db: Database) -> None:
    async with db.transaction() as tx:
        await insert_item(tx, 1, "first")
        assert await tx.fetch_value("SELECT count(*) FROM items") == 1
    async with db.transaction(write=False) as reader:
        assert await reader.fetch_value("SELECT name FROM items WHERE id = 1") == "first"


async def test_an_exception_in_the_block_rolls_back(db: Database) -> None:
    with pytest.raises(LookupError):
        async with db.transaction() as tx:
            await insert_item(tx, 1, "doomed")
            raise LookupError("the body failed")
    assert await item_names(db) == []
    await insert_item(db, 2, "after")  # the connection went back to the pool clean
    assert await item_names(db) == ["after"]


async def test_a_failed_statement_rolls_back_the_whole_transaction(db: Database) -> None:
    with pytest.raises(IntegrityViolation):
        async with db.transaction() as tx:
            await insert_item(tx, 1, "kept?")
            await insert_item(tx, 2, "kept?")
    assert await item_names(db) == []


@ONLY_POSTGRESQL
@pytest.mark.parametrize(
    ("write", "between_statements"), [(False, "idle"), (True, "idle in transaction")]
)
async def test_a_read_holds_no_transaction_open_between_its_statements(
    db: Database, write: bool, between_statements: str
) -> None:
    # What the server sees of a status request waiting for the CPU between two
    # of its statements: a read is plain statements (no BEGIN/COMMIT trips),
    # a write its transaction (the control that shows the probe can tell).
    async with db.transaction(write=write) as tx:
        pid = await tx.fetch_value("SELECT pg_backend_pid()")
        async with db.connection() as probe:
            state = await probe.fetch_value(
                "SELECT state FROM pg_stat_activity WHERE pid = :pid", {"pid": pid}
            )
        assert await tx.fetch_value("SELECT count(*) FROM items") == 0
    assert state == between_statements


# --- statements and placeholders ---------------------------------------------------


async def test_execute_returns_the_number_of_changed_rows(db: Database) -> None:
    for item_id in (1, 2, 3):
        assert await insert_item(db, item_id, f"n{item_id}") == 1
    update = "UPDATE items SET note = :note WHERE id > :id"
    assert await db.execute(update, {"note": "x", "id": 1}) == 2
    assert await db.execute("DELETE FROM items WHERE id = :id", {"id": 42}) == 0


async def test_execute_many_inserts_every_row(db: Database) -> None:
    rows = [{"id": i, "name": f"n{i}"} for i in range(1, 6)]
    async with db.connection() as conn:
        await conn.execute_many("INSERT INTO items (id, name) VALUES (:id, :name)", rows)
    assert await item_names(db) == [f"n{i}" for i in range(1, 6)]


async def test_execute_many_outside_a_transaction_is_all_or_nothing(db: Database) -> None:
    rows = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "a"}]
    async with db.connection() as conn:
        with pytest.raises(IntegrityViolation):
            await conn.execute_many("INSERT INTO items (id, name) VALUES (:id, :name)", rows)
    assert await item_names(db) == []


async def test_fetch_verbs_return_plain_rows(db: Database) -> None:
    await insert_item(db, 1, "one")
    await insert_item(db, 2, "two")
    rows = await db.fetch_all("SELECT id, name FROM items ORDER BY id")
    assert rows == [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}]
    assert all(type(row) is dict for row in rows)
    assert await db.fetch_one("SELECT name FROM items WHERE id = :id", {"id": 2}) == {"name": "two"}
    assert await db.fetch_one("SELECT name FROM items WHERE id = :id", {"id": 9}) is None
    assert await db.fetch_value("SELECT count(*) FROM items") == 2
    assert await db.fetch_value("SELECT name FROM items WHERE id = 9") is None


async def test_fetch_all_values_gives_the_columns_once_and_each_rows_values(
    db: Database,
) -> None:
    await insert_item(db, 1, "one")
    await insert_item(db, 2, "two")
    async with db.connection() as conn:
        found = await conn.fetch_all_values(
            "SELECT name, id, note FROM items WHERE id >= :low ORDER BY id", {"low": 1}
        )
        none = await conn.fetch_all_values("SELECT id FROM items WHERE id > 9")
    assert found.columns == ("name", "id", "note")
    # By position, and unpacked in the columns' order: what a reader of them relies on.
    assert [(row[0], row[1], row[2]) for row in found.rows] == [("one", 1, None), ("two", 2, None)]
    assert [tuple(row) for row in found.rows] == [("one", 1, None), ("two", 2, None)]
    assert (none.columns, list(none.rows)) == ((), [])


async def test_a_name_used_twice_binds_the_same_value(db: Database) -> None:
    sql = "INSERT INTO items (id, name, note) VALUES (:id, :name, :name)"
    await db.execute(sql, {"id": 1, "name": "twice"})
    assert await db.fetch_one("SELECT name, note FROM items") == {"name": "twice", "note": "twice"}


async def test_a_colon_name_inside_a_literal_stays_text(db: Database) -> None:
    value = await db.fetch_value("SELECT ':not_a_param' || :suffix", {"suffix": "!"})
    assert value == ":not_a_param!"


async def test_casts_next_to_placeholders(db: Database) -> None:
    if db.dialect == "postgresql":
        sql = "SELECT :doc::jsonb ->> 'band'"  # PostgreSQL's :: cast right after a placeholder
    else:
        sql = "SELECT json_extract(:doc, '$.band')"
    assert await db.fetch_value(sql, {"doc": '{"band": "K"}'}) == "K"


async def test_a_missing_parameter_is_a_key_error(db: Database) -> None:
    with pytest.raises(KeyError, match="name"):
        await db.execute("INSERT INTO items (id, name) VALUES (:id, :name)", {"id": 1})


# --- values ------------------------------------------------------------------------


async def test_json_goes_in_and_comes_back_as_text(db: Database) -> None:
    document = '{"instrument": "WFC3", "filters": ["F606W", "F814W"], "exptime": 350.5}'
    sql = "INSERT INTO items (id, name, doc) VALUES (1, 'j', :doc)"
    await db.execute(sql, {"doc": document})
    stored = await db.fetch_value("SELECT doc FROM items WHERE id = 1")
    assert isinstance(stored, str)
    assert json.loads(stored) == json.loads(document)


async def test_datetimes_come_back_as_the_same_aware_instant(db: Database) -> None:
    utc = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    elsewhere = datetime(2024, 5, 1, 14, 0, 0, tzinfo=timezone(timedelta(hours=5)))  # 09:00Z
    sql = "INSERT INTO items (id, name, seen_at) VALUES (:id, :name, :at)"
    await db.execute(sql, {"id": 1, "name": "utc", "at": utc})
    await db.execute(sql, {"id": 2, "name": "elsewhere", "at": elsewhere})
    rows = await db.fetch_all("SELECT name, seen_at FROM items ORDER BY seen_at")
    assert [row["name"] for row in rows] == ["elsewhere", "utc"]  # ordered by instant
    assert [row["seen_at"] for row in rows] == [elsewhere, utc]
    assert all(row["seen_at"].utcoffset() == timedelta(0) for row in rows)
    later = {"at": utc - timedelta(microseconds=1)}
    assert await db.fetch_value("SELECT count(*) FROM items WHERE seen_at > :at", later) == 1


async def test_booleans_round_trip(db: Database) -> None:
    sql = "INSERT INTO items (id, name, flag) VALUES (:id, :name, :flag)"
    await db.execute(sql, {"id": 1, "name": "yes", "flag": True})
    await db.execute(sql, {"id": 2, "name": "no", "flag": False})
    rows = await db.fetch_all("SELECT flag FROM items ORDER BY id")
    assert [row["flag"] for row in rows] == [True, False]
    assert await db.fetch_value("SELECT name FROM items WHERE flag = :f", {"f": False}) == "no"


# --- errors --------------------------------------------------------------------------


async def test_unique_violation_is_an_integrity_violation_caused_by_the_driver(
    db: Database,
) -> None:
    await insert_item(db, 1, "only")
    with pytest.raises(IntegrityViolation) as caught:
        await insert_item(db, 2, "only")
    assert not caught.value.transient
    assert driver_module(caught.value) in {"sqlite3", "asyncpg"}


async def test_bad_sql_is_a_permanent_database_error(db: Database) -> None:
    with pytest.raises(DatabaseError) as caught:
        await db.execute("SELEC nothing")
    assert type(caught.value) is DatabaseError
    assert not caught.value.transient
    assert caught.value.__cause__ is not None


async def test_an_unreachable_database_is_unavailable(
    empty_database_url: str, tmp_path: Path
) -> None:
    if empty_database_url.startswith("sqlite"):
        (tmp_path / "a-file").write_text("")
        url = f"sqlite:///{tmp_path / 'a-file' / 'db.sqlite'}"  # its directory is a file
    else:
        url = urlsplit(empty_database_url)._replace(netloc="postgres@127.0.0.1:1").geturl()
    with pytest.raises(DatabaseUnavailable) as caught:
        async with opened_database(url, connect_timeout=2.0):
            pass
    assert caught.value.transient


# --- contention: another session holding the write lock ------------------------------


async def test_a_writer_waits_for_another_sessions_lock_then_succeeds(db: Database) -> None:
    async with write_lock_held_elsewhere(db.url, "items"):
        insert_a = partial(insert_item, item_id=1, name="a")
        in_transaction = asyncio.create_task(db.run_in_transaction(insert_a))
        autocommit = asyncio.create_task(insert_item(db, 2, "b"))
        # Readers are not blocked meanwhile.
        assert await db.fetch_value("SELECT count(*) FROM items") == 0
        done, _ = await asyncio.wait({in_transaction, autocommit}, timeout=0.3)
        assert not done, "writers must wait while another session holds the lock"
    await asyncio.wait_for(asyncio.gather(in_transaction, autocommit), timeout=10)
    assert await item_names(db) == ["a", "b"]


async def test_a_lock_held_past_the_budget_is_database_busy(empty_database_url: str) -> None:
    # SQLite gives up after busy_retry_seconds, PostgreSQL at statement_timeout.
    async with opened_database(
        empty_database_url, sqlite_busy_timeout=0.05, busy_retry_seconds=0.3, statement_timeout=0.3
    ) as database:
        await create_tables(database)
        async with write_lock_held_elsewhere(database.url, "items"):
            started = time.monotonic()
            with pytest.raises(DatabaseBusy) as in_transaction:
                async with database.transaction() as tx:
                    await insert_item(tx, 1, "a")
            with pytest.raises(DatabaseBusy) as autocommit:
                await insert_item(database, 2, "b")
            assert time.monotonic() - started < 5
        for caught in (in_transaction, autocommit):
            assert caught.value.transient
            assert driver_module(caught.value) in {"sqlite3", "asyncpg"}
        assert await item_names(database) == []


# Read, then write back: only correct if the writers are serialised.
COUNTING_WRITER = """
import asyncio, sys
from pipeline.db import open_database
from tests.support.databases import database_settings

async def count(url, times):
    # A busy_timeout this short makes SQLite refuse often: the adapter must retry.
    async with open_database(database_settings(url, sqlite_busy_timeout=0.001)) as db:
        for _ in range(times):
            async with db.transaction() as tx:
                await tx.lock_key("counter")
                n = await tx.fetch_value("SELECT n FROM counter WHERE id = 1")
                await tx.execute("UPDATE counter SET n = :n WHERE id = 1", {"n": n + 1})

asyncio.run(count(sys.argv[1], int(sys.argv[2])))
"""


async def test_writers_in_several_processes_never_fail_or_lose_updates(db: Database) -> None:
    processes, times = 3, 30
    pipe = asyncio.subprocess.PIPE
    command = [sys.executable, "-c", COUNTING_WRITER, db.url, str(times)]
    writers = [
        await asyncio.create_subprocess_exec(*command, cwd=REPO_ROOT, stderr=pipe)
        for _ in range(processes)
    ]
    results = await asyncio.wait_for(
        asyncio.gather(*(writer.communicate() for writer in writers)), timeout=60
    )
    outcomes = zip(results, writers, strict=True)
    failures = [stderr.decode() for (_, stderr), writer in outcomes if writer.returncode]
    assert failures == []
    assert await db.fetch_value("SELECT n FROM counter WHERE id = 1") == processes * times


async def test_concurrent_tasks_serialise_on_lock_key(db: Database) -> None:
    async def increment(tx: Connection) -> None:
        await tx.lock_key("counter")
        n = await tx.fetch_value("SELECT n FROM counter WHERE id = 1")
        await asyncio.sleep(0)  # let the other tasks run into the lock
        await tx.execute("UPDATE counter SET n = :n WHERE id = 1", {"n": n + 1})

    await asyncio.gather(*(db.run_in_transaction(increment) for _ in range(20)))
    assert await db.fetch_value("SELECT n FROM counter WHERE id = 1") == 20


# --- the pool ----------------------------------------------------------------------------


async def test_an_exhausted_pool_raises_pool_exhausted_after_the_timeout(
    empty_database_url: str,
) -> None:
    async with opened_database(
        empty_database_url, pool_max_size=1, acquire_timeout=0.2
    ) as database:
        async with database.connection():
            started = time.monotonic()
            with pytest.raises(PoolExhausted) as caught:
                async with database.connection():
                    pass
            assert time.monotonic() - started >= 0.2
            assert caught.value.transient
            assert database.stats().in_use == 1
        stats = database.stats()
    assert stats.exhausted_total == 1
    assert (stats.in_use, stats.waiting, stats.max_size) == (0, 0, 1)


async def test_statistics_follow_waiting_and_acquiring(empty_database_url: str) -> None:
    async with opened_database(empty_database_url, pool_max_size=1) as database:
        before = database.stats()
        async with database.connection():
            waiter = asyncio.create_task(database.fetch_value("SELECT 1"))
            await wait_until(lambda: database.stats().waiting == 1)
            assert (database.stats().in_use, database.stats().idle) == (1, 0)
            await asyncio.sleep(0.05)  # the wait being measured
        assert await waiter == 1
        after = database.stats()
    assert after.acquired_total == before.acquired_total + 2
    assert (after.in_use, after.waiting, after.size, after.idle) == (0, 0, 1, 1)
    assert after.acquire_wait_seconds_max >= 0.05
    assert after.acquire_wait_seconds_total >= after.acquire_wait_seconds_max


# --- run_in_transaction ---------------------------------------------------------------------


@pytest.mark.parametrize("transient", [SerializationFailure, DatabaseBusy])
async def test_run_in_transaction_reruns_transient_failures(
    db: Database, transient: type[Exception]
) -> None:
    attempts = 0

    async def work(tx: Connection) -> str:
        nonlocal attempts
        attempts += 1
        await insert_item(tx, attempts, f"attempt {attempts}")
        if attempts < 3:
            raise transient("lost a race")
        return "done"

    assert await db.run_in_transaction(work, retry_for=5) == "done"
    assert attempts == 3
    assert await item_names(db) == ["attempt 3"]  # the failed attempts rolled back


async def test_run_in_transaction_gives_up_after_its_budget(db: Database) -> None:
    attempts = 0

    async def always_busy(tx: Connection) -> None:
        nonlocal attempts
        attempts += 1
        raise DatabaseBusy("still locked")

    started = time.monotonic()
    with pytest.raises(DatabaseBusy):
        await db.run_in_transaction(always_busy, retry_for=0.2)
    assert attempts > 1
    assert time.monotonic() - started < 2


async def test_run_in_transaction_does_not_rerun_permanent_errors(db: Database) -> None:
    attempts = 0

    async def duplicate(tx: Connection) -> None:
        nonlocal attempts
        attempts += 1
        await insert_item(tx, 1, "same")
        await insert_item(tx, 2, "same")

    with pytest.raises(IntegrityViolation):
        await db.run_in_transaction(duplicate, retry_for=5)
    assert attempts == 1


# --- PostgreSQL only: connections the server or the network drops -----------------------------


@ONLY_POSTGRESQL
async def test_a_connection_killed_in_use_fails_once_then_the_pool_recovers(db: Database) -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        async with db.transaction() as tx:
            await insert_item(tx, 1, "lost")
            await terminate_backends(db.url, [await tx.fetch_value("SELECT pg_backend_pid()")])
            await tx.fetch_value("SELECT 1")
    assert caught.value.transient
    assert driver_module(caught.value) == "asyncpg"
    assert await insert_item(db, 2, "next") == 1
    assert await item_names(db) == ["next"]
    assert db.stats().in_use == 0


@ONLY_POSTGRESQL
async def test_idle_connections_killed_by_the_server_are_replaced(empty_database_url: str) -> None:
    async with opened_database(empty_database_url, pool_min_size=3, pool_max_size=3) as database:
        async with database.connection() as a, database.connection() as b:
            pids = [await conn.fetch_value("SELECT pg_backend_pid()") for conn in (a, b)]
        await terminate_backends(database.url, pids)
        # The next call may still meet a dead connection (DatabaseUnavailable);
        # a retry must not.
        assert await database.run_in_transaction(lambda tx: tx.fetch_value("SELECT 7")) == 7
        assert await database.fetch_value("SELECT 8") == 8


@ONLY_POSTGRESQL
async def test_a_silent_idle_connection_is_pinged_and_recycled(empty_database_url: str) -> None:
    async with (
        SilencingProxy(empty_database_url) as proxy,
        opened_database(
            proxy.url, pool_max_size=1, health_check_after_idle_seconds=0.05, connect_timeout=0.5
        ) as database,
    ):
        assert await database.fetch_value("SELECT 1") == 1
        proxy.silence()
        await asyncio.sleep(0.1)  # stay idle longer than the health-check threshold
        # Without the ping this would hang on the silent connection.
        assert await asyncio.wait_for(database.fetch_value("SELECT 2"), timeout=5) == 2
        assert database.stats().recycled_total == 1


async def test_a_schema_change_by_another_session_is_survived(empty_database_url: str) -> None:
    # PostgreSQL: asyncpg's cached prepared statement goes stale inside a
    # transaction (a transient error); SQLite re-prepares by itself.
    async with opened_database(empty_database_url, pool_max_size=1) as database:
        await create_tables(database)
        await insert_item(database, 1, "before")
        assert len(await database.fetch_all("SELECT * FROM items")) == 1  # cached now
        async with opened_database(empty_database_url) as other:
            await other.execute("ALTER TABLE items ADD COLUMN extra INTEGER")
        rows = await database.run_in_transaction(lambda tx: tx.fetch_all("SELECT * FROM items"))
        assert rows[0]["extra"] is None


@ONLY_POSTGRESQL
async def test_a_list_over_many_rows_is_planned_for_its_values_every_time(
    empty_database_url: str,
) -> None:
    # A generic plan for `name IN ($1 … $200)` would assume every value
    # matches and scan the table whole; so a list is never kept prepared
    # (an unnamed statement is planned for the values it is sent with),
    # while a statement about one row is.
    placeholders, params = in_list("p", [f"name{i}" for i in range(1, 4)])
    in_names = f"SELECT id FROM items WHERE name IN ({placeholders}) ORDER BY id"
    assert len(compile_sql(in_names, "postgresql").text) > KEPT_STATEMENT_MAX_CHARS
    async with opened_database(empty_database_url, pool_max_size=1) as database:
        await create_tables(database)
        for item_id in range(1, 6):
            await insert_item(database, item_id, f"name{item_id}")
        async with database.connection() as conn:
            for _ in range(10):
                assert [r["id"] for r in await conn.fetch_all(in_names, params)] == [1, 2, 3]
                assert await conn.fetch_value(LOOKUP_BY_ID, {"id": 1}) == "name1"
            kept = await conn.fetch_all("SELECT statement FROM pg_prepared_statements")
    statements = [row["statement"] for row in kept]
    assert LOOKUP_BY_ID.replace(":id", "$1") in statements
    assert not any("IN (" in statement for statement in statements)


LOOKUP_BY_ID = "SELECT name FROM items WHERE id = :id"


async def lookup_plan(conn: Connection) -> str:
    """The plan this session's prepared :data:`LOOKUP_BY_ID` now runs, after ten
    executions (enough for PostgreSQL to settle on a generic plan)."""
    for _ in range(10):
        await conn.fetch_one(LOOKUP_BY_ID, {"id": 1})
    name = await conn.fetch_value(
        "SELECT name FROM pg_prepared_statements WHERE statement = :text",
        {"text": LOOKUP_BY_ID.replace(":id", "$1")},
    )
    lines = await conn.fetch_all(f"EXPLAIN EXECUTE {name}(1)")
    return " ".join(line["QUERY PLAN"] for line in lines)


@ONLY_POSTGRESQL
async def test_a_plan_made_for_a_small_table_is_made_anew_once_it_has_grown(
    empty_database_url: str,
) -> None:
    # PostgreSQL keeps a generic plan until the table's statistics change; a
    # plan made while the table was small (a sequential scan) would go on
    # scanning it whole through a backfill nothing analyses (autovacuum off
    # or behind; off for this table here). The pool renews a connection's
    # plans once they are older than plans_max_age_seconds.
    async with opened_database(
        empty_database_url, pool_max_size=1, plans_max_age_seconds=0.5
    ) as database:
        await create_tables(database)
        await database.execute("ALTER TABLE items SET (autovacuum_enabled = false)")
        for item_id in range(1, 21):
            await insert_item(database, item_id, f"name{item_id}")
        await database.execute("VACUUM items")
        async with database.connection() as conn:
            assert await conn.fetch_value("SHOW plan_cache_mode") == "auto"
            assert "Seq Scan" in await lookup_plan(conn)
        await database.execute(
            "INSERT INTO items (id, name) SELECT n, 'grown' || n FROM generate_series(21, 20000) n"
        )
        async with database.connection() as conn:
            assert "Seq Scan" in await lookup_plan(conn)  # still the small table's plan
        await asyncio.sleep(0.6)
        async with database.connection() as conn:
            assert "Index Scan" in await lookup_plan(conn)
