"""A group's rows in one statement per table (``ManyRows``), on both databases,
and its look-ups by a list of values (``ValuesIn``, the claim).

PostgreSQL binds each column or list as an array (``unnest``, ``= ANY``);
SQLite runs the one-row statement per row and reads lists in padded chunks.
Both must write exactly what the one-row statements write, and on
PostgreSQL the arrays statements must stay prepared and find their rows by
key in a plan made without the values.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.clock import utc_now
from pipeline.db import Database, ManyRows
from pipeline.db.sql import compile_sql
from pipeline.ingest.parse import ParsedFile, parse_file
from pipeline.models import Outcome
from pipeline.repositories import jobs, products
from pipeline.repositories.batching import unnest_insert
from pipeline.samples import SampleKind
from pipeline.settings import ReaderSettings
from tests.support.catalogue import write_fits
from tests.support.databases import ONLY_POSTGRESQL, opened_database

PROBE_INSERT = ManyRows(
    each="INSERT INTO probe (id, label, stamp) VALUES (:id, :label, :stamp)",
    arrays=unnest_insert("probe", {"id": "bigint", "label": "text"}, {"stamp": ":stamp"}),
    shared=frozenset({"stamp"}),
)
PROBE_RELABEL = ManyRows(
    each="UPDATE probe SET label = :label WHERE id = :id",
    arrays="UPDATE probe SET label = v.label FROM unnest(:id::bigint[], :label::text[])"
    " AS v(id, label) WHERE probe.id = v.id",
)


class _Undo(Exception):
    """Raised to roll a transaction back once its rows have been read."""


def _parsed(tmp_path: Path) -> list[ParsedFile]:
    kinds = (SampleKind.IMAGE, SampleKind.MEF, SampleKind.TILE_COMPRESSED)
    return [
        parse_file(write_fits(tmp_path / f"{kind.value}.fits", index, kind), ReaderSettings(), None)
        for index, kind in enumerate(kinds)
    ]


async def test_every_row_is_written_once_with_the_shared_values(database: Database) -> None:
    async with database.transaction() as tx:
        await tx.execute("CREATE TABLE probe (id BIGINT PRIMARY KEY, label TEXT, stamp TEXT)")
        await tx.execute_rows(PROBE_INSERT, [])  # nothing to do is not an error
        rows = [{"id": i, "label": None if i == 2 else f"l{i}", "stamp": "s"} for i in (1, 2, 3)]
        await tx.execute_rows(PROBE_INSERT, rows)
        await tx.execute_rows(PROBE_RELABEL, [{"id": 3, "label": "x"}, {"id": 1, "label": None}])
        found = await tx.fetch_all("SELECT id, label, stamp FROM probe ORDER BY id")
        await tx.execute("DROP TABLE probe")
    assert [dict(row) for row in found] == [
        {"id": 1, "label": None, "stamp": "s"},
        {"id": 2, "label": None, "stamp": "s"},
        {"id": 3, "label": "x", "stamp": "s"},
    ]


async def _written(
    database: Database, parsed: ParsedFile, now: datetime, *, grouped: bool
) -> dict[str, Any]:
    """The product and HDU rows one file leaves, inserted one way or the other
    (then rolled back: both ways insert the same content)."""
    found: dict[str, Any] = {}
    with pytest.raises(_Undo):
        async with database.transaction() as tx:
            if grouped:
                product_id = (await products.insert_products(tx, [parsed.product], now))[
                    parsed.product.sha256
                ]
                await products.insert_hdus_of(tx, [(product_id, parsed.hdus)])
            else:
                product_id = await products.insert_product(tx, parsed.product, now)
                await tx.execute_many(
                    products.INSERT_HDU_SQL,
                    [products._hdu_params(product_id, hdu) for hdu in parsed.hdus],
                )
            product = await tx.fetch_one(
                "SELECT * FROM products WHERE id = :id", {"id": product_id}
            )
            hdus = await tx.fetch_all(
                "SELECT * FROM hdus WHERE product_id = :id ORDER BY hdu_index", {"id": product_id}
            )
            assert product is not None
            found["product"] = {k: v for k, v in product.items() if k != "id"}
            found["hdus"] = [{k: v for k, v in h.items() if k != "product_id"} for h in hdus]
            raise _Undo
    return found


async def test_grouped_inserts_write_what_the_one_row_inserts_write(
    database: Database, tmp_path: Path
) -> None:
    now = utc_now()
    for parsed in _parsed(tmp_path):
        one = await _written(database, parsed, now, grouped=False)
        grouped = await _written(database, parsed, now, grouped=True)
        assert grouped == one
        assert len(grouped["hdus"]) == len(parsed.hdus) >= 1


@ONLY_POSTGRESQL
async def test_a_groups_statements_stay_prepared(
    migrated_database_url: str, tmp_path: Path
) -> None:
    # A statement longer than asyncpg keeps prepared would be parsed and
    # planned at every group (unnest_insert writes them short for this).
    parsed = _parsed(tmp_path)
    async with opened_database(migrated_database_url, pool_max_size=1) as database:
        async with database.transaction() as tx:
            now = utc_now()
            job_ids = [
                await jobs.insert_job(tx, jobs.NewJob(p.product.path, 1, 1, "test"), now)
                for p in parsed
            ]
            await jobs.mark_enqueued_many(tx, [(j, f"m{j}") for j in job_ids], now)
            await jobs.insert_attempts(tx, [(j, 1) for j in job_ids], "w", now)
            ids = await products.insert_products(tx, [p.product for p in parsed], now)
            product_ids = [ids[p.product.sha256] for p in parsed]
            await products.insert_hdus_of(
                tx, list(zip(product_ids, [p.hdus for p in parsed], strict=True))
            )
            done = [(j, p, Outcome.CREATED) for j, p in zip(job_ids, product_ids, strict=True)]
            await jobs.mark_succeeded_many(tx, done, now)
            await jobs.finish_attempts_succeeded(tx, [(j, 1) for j in job_ids], now)
            paths = [p.product.path for p in parsed]
            assert await products.ids_by_sha256(tx, [p.product.sha256 for p in parsed]) == ids
            assert set(await products.current_states(tx, paths)) == set(paths)
            assert set(await jobs.jobs_by_id(tx, job_ids)) == set(job_ids)
            assert await jobs.pending_states(tx, paths) == set()
            again = await jobs.insert_job(tx, jobs.NewJob("/data/again.fits", 1, 1, "test"), now)
            (claimed,) = await jobs.claim_jobs(tx, [(again, "m")], "w", now, None)
            assert claimed is not None and claimed.state == "running" and claimed.attempts == 1
            kept = await tx.fetch_all("SELECT statement FROM pg_prepared_statements")
        async with database.transaction(write=False) as tx:
            for job_id, product_id in zip(job_ids, product_ids, strict=True):
                job = await jobs.get_job(tx, job_id)
                assert job is not None and job.message_id == f"m{job_id}"
                assert (job.state, job.product_id) == ("succeeded", product_id)
                (attempt,) = await jobs.list_attempts(tx, job_id)
                assert attempt.outcome == "succeeded" and attempt.finished_at is not None
    prepared = {row["statement"] for row in kept}
    for statement in (
        jobs.MARK_ENQUEUED,
        jobs.INSERT_ATTEMPTS,
        products.INSERT_PRODUCTS,
        products.INSERT_HDUS,
        jobs.MARK_SUCCEEDED,
        jobs.FINISH_ATTEMPTS_SUCCEEDED,
    ):
        assert compile_sql(statement.arrays, "postgresql").text in prepared, statement.each[:40]
    for read in (
        products.SELECT_IDS_BY_SHA256.arrays,
        products.CURRENT_STATES.arrays,
        jobs.SELECT_JOBS_BY_ID.arrays,
        jobs.PENDING_STATES.arrays,
        jobs.CLAIM_ARRAYS_SQL,
    ):
        assert compile_sql(read, "postgresql").text in prepared, read[:40]


#: Each statement whose plan is made without its arrays, and the index (or
#: one of the indexes) it must use.
_BY_KEY = {
    "enqueued": (jobs.MARK_ENQUEUED.arrays, "pk_jobs"),
    "succeeded": (jobs.MARK_SUCCEEDED.arrays, "pk_jobs"),
    "claim": (jobs.CLAIM_ARRAYS_SQL, "pk_jobs"),
    "jobs by id": (jobs.SELECT_JOBS_BY_ID.arrays, "pk_jobs"),
    "pending at paths": (jobs.PENDING_STATES.arrays, "ix_jobs_path_id"),
    "contents known": (products.SELECT_IDS_BY_SHA256.arrays, "uq_products_sha256"),
    "current at paths": (
        products.CURRENT_STATES.arrays,
        ("ux_products_current_path", "ix_products_path"),
    ),
}


@ONLY_POSTGRESQL
async def test_a_plan_made_without_the_arrays_finds_rows_by_key(database: Database) -> None:
    # A kept statement's plan is made without its arrays: it must still look
    # rows up by key in large tables, not scan them.
    async with database.transaction() as tx:
        await tx.execute(
            "INSERT INTO jobs (path, size, mtime_ns, state, source, attempts, created_at,"
            " updated_at) SELECT '/data/' || g, 1, 1, 'queued', 'test', 0, now(), now()"
            " FROM generate_series(1, 20000) AS g"
        )
        await tx.execute(
            "INSERT INTO products (sha256, path, size, mtime_ns, version, is_current, compression,"
            " hdu_count, checksum_status, warnings, created_at, updated_at) SELECT md5(g::text),"
            " '/data/' || g, 1, 1, 1, TRUE, 'none', 1, 'absent', '[]', now(), now()"
            " FROM generate_series(1, 20000) AS g"
        )
    for table in ("jobs", "products"):
        await database.execute(f"ANALYZE {table}")
    plans = {}
    async with database.transaction() as tx:
        await tx.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        for name, (sql, _) in _BY_KEY.items():
            compiled = compile_sql(sql, "postgresql")
            await tx.execute(f"PREPARE probe AS {compiled.text}")
            nulls = ", ".join(["NULL"] * len(compiled.names))
            rows = await tx.fetch_all(f"EXPLAIN EXECUTE probe({nulls})")
            plans[name] = "\n".join(str(row["QUERY PLAN"]) for row in rows)
            await tx.execute("DEALLOCATE probe")
    for name, (_, index) in _BY_KEY.items():
        indexes = (index,) if isinstance(index, str) else index
        assert any(f" {i} " in plans[name] for i in indexes), (name, plans[name])
        assert "Seq Scan" not in plans[name], (name, plans[name])


@pytest.mark.parametrize(
    "statement",
    [
        jobs.MARK_ENQUEUED,
        jobs.INSERT_ATTEMPTS,
        jobs.MARK_SUCCEEDED,
        jobs.FINISH_ATTEMPTS_SUCCEEDED,
        products.INSERT_PRODUCTS,
        products.INSERT_HDUS,
    ],
    ids=["enqueued", "attempts", "succeeded", "attempts finished", "products", "hdus"],
)
def test_the_arrays_take_only_what_a_row_gives(statement: ManyRows) -> None:
    each = set(compile_sql(statement.each, "postgresql").names)
    arrays = set(compile_sql(statement.arrays, "postgresql").names)
    assert arrays <= each and statement.shared <= arrays
    if statement.each.startswith("INSERT"):
        assert arrays == each  # every column the one-row insert writes


@pytest.mark.parametrize(
    ("table", "types"),
    [("products", products.PRODUCT_COLUMN_TYPES), ("hdus", products.HDU_COLUMN_TYPES)],
)
def test_the_arrays_types_are_the_schemas(table: str, types: dict[str, str]) -> None:
    # The repositories spell the types out (they do not import SQLAlchemy);
    # they must be what the declared schema makes on PostgreSQL.
    from sqlalchemy.dialects import postgresql

    from pipeline.db.schema import metadata

    spelled = {
        "text": "TEXT",
        "bigint": "BIGINT",
        "integer": "INTEGER",
        "float8": "FLOAT",
        "timestamptz": "TIMESTAMP WITH TIME ZONE",
        "jsonb": "JSONB",
        "json": "JSON",
    }
    columns = metadata.tables[table].c
    declared = {name: columns[name].type.compile(dialect=postgresql.dialect()) for name in types}
    assert declared == {name: spelled[kind] for name, kind in types.items()}
