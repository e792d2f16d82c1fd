"""What ``GET /files?path=`` reads in two statements
(:func:`pipeline.repositories.status.path_records`, then the products' HDUs)
and ``GET /jobs/{id}`` in one (:func:`pipeline.repositories.jobs.job_with_attempts`)
is what the records say read one by one, on SQLite and PostgreSQL alike: for
every kind of path the catalogue holds, for a job tried or not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.clock import utc_now
from pipeline.db import Database
from pipeline.db.sql import compile_sql
from pipeline.ingest.service import IngestService
from pipeline.models import Product
from pipeline.repositories import jobs, products, status
from pipeline.repositories.jobs import SELECT_JOB_WITH_ATTEMPTS_SQL
from pipeline.samples import SampleKind
from pipeline.settings import ReaderSettings
from tests.support.catalogue import write_fits
from tests.support.databases import ONLY_POSTGRESQL, opened_database

_HDU_SUMMARY = ("hdu_index", "name", "kind", "naxis", "bitpix", "data_size", "checksum_status")


async def _catalogue(database: Database, root: Path) -> dict[str, Path]:
    """One path of each kind, ingested for real."""
    service = IngestService(database, ReaderSettings())
    paths = {
        "created": write_fits(root / "mef.fits", 1, SampleKind.MEF),
        "rewritten": write_fits(root / "rewritten.fits", 2),
        "moved_from": write_fits(root / "from.fits", 3),
        "moved_to": root / "to.fits",
        "duplicate": root / "copy.fits",
        "failed": root / "page.fits",
        "both": write_fits(root / "both.fits", 4),
        "never": root / "never.fits",
    }
    for name in ("created", "rewritten", "moved_from", "both"):
        await service.ingest_path(paths[name])
    write_fits(paths["rewritten"], 5)
    await service.ingest_path(paths["rewritten"])
    paths["moved_from"].rename(paths["moved_to"])
    await service.ingest_path(paths["moved_to"])
    shutil.copyfile(paths["created"], paths["duplicate"])
    await service.ingest_path(paths["duplicate"])
    paths["failed"].write_bytes(b"<html>404</html>\n")
    await service.ingest_path(paths["failed"])
    # A latest job that recorded another product than the one current at its
    # path: the one case with both products, made directly.
    await database.execute(
        "UPDATE jobs SET product_id = (SELECT id FROM products WHERE path = :other)"
        " WHERE path = :path",
        {"other": str(paths["created"]), "path": str(paths["both"])},
    )
    return paths


async def test_path_records_are_the_records_read_one_by_one(
    database: Database, tmp_path: Path
) -> None:
    paths = await _catalogue(database, tmp_path)
    shapes: dict[str, tuple[bool, bool, bool]] = {}
    hdu_counts: dict[str, list[int]] = {}
    for name, path in paths.items():
        async with database.transaction(write=False) as tx:
            found = await status.path_records(tx, str(path))
            latest = await jobs.latest_for_path(tx, str(path))
            current = await products.current_at_path(tx, str(path))
            recorded = latest.product_id if latest is not None else None
            other = None
            if recorded is not None and (current is None or current.id != recorded):
                other = await products.get_product(tx, recorded)
            held = {values["id"] for values in found.products}
            hdus = await status.hdu_summaries(tx, *held) if held else {}
            expected_hdus = {
                product_id: [
                    {field: getattr(hdu, field) for field in _HDU_SUMMARY}
                    for hdu in await products.hdus_of(tx, product_id)
                ]
                for product_id in held
            }
        assert found.latest_job == latest, name
        assert (Product(**found.current) if found.current else None) == current, name
        assert (Product(**found.recorded) if found.recorded else None) == other, name
        assert hdus == expected_hdus, name
        shapes[name] = (latest is not None, current is not None, other is not None)
        hdu_counts[name] = sorted(len(summaries) for summaries in hdus.values())
    # Every shape a path can have was there to compare.
    assert shapes["never"] == (False, False, False)
    assert shapes["failed"] == (True, False, False)
    assert shapes["created"] == (True, True, False)
    assert shapes["moved_from"] == (True, False, True)
    assert shapes["both"] == (True, True, True)
    image, mef = hdu_counts["both"]  # its own image and the MEF it points at
    assert image == 1 and mef >= 4


async def test_a_job_with_its_attempts_in_one_statement(database: Database) -> None:
    now = utc_now()
    async with database.transaction() as tx:
        untried = await jobs.insert_job(tx, jobs.NewJob("/data/untried.fits", 1, 1, "scan"), now)
        tried = await jobs.insert_job(tx, jobs.NewJob("/data/tried.fits", 1, 1, "scan"), now)
        # Attempts out of order: the statement orders them, not the insertion.
        await jobs.insert_attempts(tx, [(tried, 3), (tried, 1), (tried, 2)], "w", now)
    async with database.transaction(write=False) as tx:
        for job_id in (untried, tried):
            found = await jobs.job_with_attempts(tx, job_id)
            assert found == (await jobs.get_job(tx, job_id), await jobs.list_attempts(tx, job_id))
        assert await jobs.job_with_attempts(tx, tried + 1000) is None
        assert found is not None and [a.attempt for a in found[1]] == [1, 2, 3]


@ONLY_POSTGRESQL
async def test_the_status_reads_stay_prepared(migrated_database_url: str) -> None:
    # A statement longer than asyncpg keeps prepared is parsed and planned
    # again at every request: ~0.8 ms of the server's CPU for path_records.
    statements = (status.PATH_RECORDS_SQL, status.HDU_SUMMARIES_SQL, SELECT_JOB_WITH_ATTEMPTS_SQL)
    opened = opened_database(migrated_database_url, pool_max_size=1)
    async with opened as database, database.connection() as conn:
        for _ in range(3):
            await status.path_records(conn, "/data/a.fits")
            await status.hdu_summaries(conn, 1, 2)
            await jobs.job_with_attempts(conn, 1)
        kept = await conn.fetch_all("SELECT statement FROM pg_prepared_statements")
    prepared = {row["statement"] for row in kept}
    for sql in statements:
        assert compile_sql(sql, "postgresql").text in prepared, sql[:40]


async def test_hdu_summaries_refuse_more_products_than_one_statement_reads(
    database: Database,
) -> None:
    # The statement names two products; a third would be answered with no HDUs.
    async with database.transaction() as tx:
        assert await status.hdu_summaries(tx, 1, 2) == {1: [], 2: []}
        with pytest.raises(ValueError, match="one or two products"):
            await status.hdu_summaries(tx, 1, 2, 3)
