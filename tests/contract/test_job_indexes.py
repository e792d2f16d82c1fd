"""The partial job indexes (migration 0009): only the jobs their queries ask for.

A job that succeeds has no error code, a watched file's job no batch, and a
job has no product nor end until it ends, so most of a job's row versions
are written into none of these indexes — yet every query that reads them
must still be answered from them, on both databases, with a plan made
before the values are known.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.clock import utc_now
from pipeline.db import Database
from pipeline.ingest.service import IngestService
from pipeline.repositories import batches, jobs
from pipeline.repositories.batches import COUNT_STATES_SQL
from pipeline.repositories.status import JobQuery, job_conditions
from pipeline.samples import SampleKind, rng_for, write_sample
from pipeline.settings import ReaderSettings
from tests.support.databases import ONLY_POSTGRESQL

#: Index name -> what a row must hold to be in it.
PARTIAL = {
    "ix_jobs_error_code": "error_code IS NOT NULL",
    "ix_jobs_batch_id_state": "batch_id IS NOT NULL",
    "ix_jobs_finished_at": "finished_at IS NOT NULL",
    "ix_jobs_product_id": "product_id IS NOT NULL",
}
#: How a database checks the foreign key when a product is deleted.
_REFERENCING_JOBS_SQL = "SELECT 1 FROM jobs WHERE product_id = :id"
#: A listing's range on finished_at, without the listing's order (which a
#: planner may take from the primary key instead on a table this small).
_FINISHED_SINCE_SQL = "SELECT COUNT(*) FROM jobs WHERE " + " AND ".join(
    job_conditions(JobQuery(finished_after=utc_now()))[0]
)


def _listing(query: JobQuery) -> tuple[str, dict[str, object]]:
    clauses, params = job_conditions(query)
    sql = f"SELECT * FROM jobs WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT :limit"
    return sql, {**params, "limit": 50}


async def _plan(database: Database, sql: str, params: dict[str, object]) -> str:
    async with database.transaction() as tx:
        if database.dialect == "postgresql":
            # A generic plan (made without the values, as a kept statement's
            # may be) on tables too small for an index to pay otherwise.
            for setting in ("plan_cache_mode = force_generic_plan", "enable_seqscan = off"):
                await tx.execute(f"SET LOCAL {setting}")
            rows = await tx.fetch_all("EXPLAIN " + sql, params)
        else:
            rows = await tx.fetch_all("EXPLAIN QUERY PLAN " + sql, params)
    return "\n".join(str(list(row.values())[-1]) for row in rows)


async def test_the_partial_indexes_are_declared_with_their_rows(database: Database) -> None:
    async with database.transaction() as tx:
        for name, rows in PARTIAL.items():
            if database.dialect == "postgresql":
                sql = "SELECT indexdef AS definition FROM pg_indexes WHERE indexname = :name"
            else:
                sql = "SELECT sql AS definition FROM sqlite_master WHERE name = :name"
            definition = await tx.fetch_value(sql, {"name": name})
            assert definition is not None and rows in definition.replace("(", "").replace(
                ")", ""
            ), definition


@pytest.mark.parametrize(
    ("index", "statement"),
    [
        ("ix_jobs_error_code", _listing(JobQuery(error_code="not_fits"))),
        ("ix_jobs_batch_id_state", (COUNT_STATES_SQL, {"id": 7})),
        ("ix_jobs_finished_at", (_FINISHED_SINCE_SQL, {"finished_after": utc_now()})),
        ("ix_jobs_product_id", (_REFERENCING_JOBS_SQL, {"id": 7})),
    ],
    ids=[
        "jobs listed by error code",
        "a batch's jobs counted by state",
        "jobs finished since",
        "the jobs of a product",
    ],
)
async def test_queries_naming_a_code_or_a_batch_read_the_partial_index(
    database: Database, index: str, statement: tuple[str, dict[str, object]]
) -> None:
    sql, params = statement
    plan = await _plan(database, sql, params)
    if database.dialect == "postgresql" and index == "ix_jobs_batch_id_state":
        # PostgreSQL may answer from the other index on a batch's jobs, also partial.
        assert "ix_jobs_batch_id_" in plan, plan
    else:
        assert index in plan, plan


@ONLY_POSTGRESQL
async def test_jobs_without_a_code_or_a_batch_leave_no_entry(
    database: Database, tmp_path: Path
) -> None:
    good = write_sample(tmp_path, 0, SampleKind.IMAGE, rng_for(0, 0))
    bad = tmp_path / "not-fits.fits"
    bad.write_bytes(b"SIMPLE  = nonsense" + b" " * 2862)
    service = IngestService(database, ReaderSettings())
    assert (await service.ingest_path(good)).status == "succeeded"
    assert (await service.ingest_path(bad)).status == "failed"
    async with database.transaction() as tx:
        batch_id = await batches.create_batch(tx, "ingest", "test", utc_now())
        await jobs.insert_job(tx, jobs.NewJob("/batch/a.fits", 1, 1, "test", batch_id), utc_now())
        counts = await tx.fetch_one(
            "SELECT COUNT(*) AS total, COUNT(error_code) AS coded, COUNT(batch_id) AS batched,"
            " COUNT(finished_at) AS finished, COUNT(product_id) AS recorded FROM jobs"
        )
    assert counts is not None
    # The test tells the indexes apart only if some jobs are in none of them.
    for kind in ("coded", "batched", "finished", "recorded"):
        assert counts["total"] > counts[kind] >= 1, counts
    # VACUUM counts each index's entries for live rows into pg_class.reltuples.
    await database.execute("VACUUM (INDEX_CLEANUP ON) jobs")
    async with database.transaction() as tx:
        rows = await tx.fetch_all(
            "SELECT relname, reltuples FROM pg_class WHERE relname IN"
            " ('ix_jobs_path_id', 'ix_jobs_error_code', 'ix_jobs_batch_id_state',"
            " 'ix_jobs_finished_at', 'ix_jobs_product_id')"
        )
    entries = {row["relname"]: int(row["reltuples"]) for row in rows}
    assert entries == {
        "ix_jobs_path_id": counts["total"],
        "ix_jobs_error_code": counts["coded"],
        "ix_jobs_batch_id_state": counts["batched"],
        "ix_jobs_finished_at": counts["finished"],
        "ix_jobs_product_id": counts["recorded"],
    }
