"""The catalogue's identity rules, on SQLite and PostgreSQL alike.

A redelivered file, a rescan, a rename or a second drop of identical bytes
never creates a duplicate; new bytes at an old path make a new version and
keep the old record.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from pipeline.db import Database
from pipeline.ingest.service import IngestService
from pipeline.models import JobState, Outcome
from pipeline.repositories import jobs, products
from pipeline.samples import SampleKind
from pipeline.settings import ReaderSettings
from tests.support.catalogue import write_fits


def _service(database: Database) -> IngestService:
    return IngestService(database, ReaderSettings())


async def _count(database: Database, table: str) -> int:
    return int(await database.fetch_value(f"SELECT COUNT(*) FROM {table}"))


async def test_new_file_becomes_one_product_with_every_hdu(
    database: Database, tmp_path: Path
) -> None:
    path = write_fits(tmp_path / "mef.fits", 1, SampleKind.MEF)
    result = await _service(database).ingest_path(path)
    assert (result.status, result.outcome) == ("succeeded", Outcome.CREATED)
    async with database.transaction(write=False) as tx:
        product = await products.get_product(tx, result.product_id or 0)
        hdus = await products.hdus_of(tx, result.product_id or 0)
        job = await jobs.get_job(tx, result.job_id or 0)
        attempts = await jobs.list_attempts(tx, result.job_id or 0)
    assert product is not None and product.path == str(path) and product.is_current
    assert product.hdu_count == len(hdus) == result.hdus and len(hdus) >= 4
    assert [hdu.hdu_index for hdu in hdus] == list(range(len(hdus)))
    assert hdus[0].header["SIMPLE"] is True and hdus[0].cards[0][:2] == ["SIMPLE", True]
    assert job is not None and job.state is JobState.SUCCEEDED and job.attempts == 1
    assert job.product_id == product.id and job.outcome is Outcome.CREATED
    assert [a.outcome for a in attempts] == ["succeeded"]


async def test_same_file_again_is_unchanged_without_a_new_job(
    database: Database, tmp_path: Path
) -> None:
    path = write_fits(tmp_path / "a.fits")
    service = _service(database)
    first = await service.ingest_path(path)
    again = await service.ingest_path(path)
    assert again.status == "unchanged" and again.product_id == first.product_id
    assert again.job_id is None
    assert await _count(database, "jobs") == 1
    # A touched file is re-read; the same bytes are still the same product.
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    touched = await service.ingest_path(path)
    assert (touched.status, touched.outcome) == ("unchanged", Outcome.UNCHANGED)
    assert touched.product_id == first.product_id and touched.job_id is not None
    assert await _count(database, "products") == 1
    async with database.transaction(write=False) as tx:
        product = await products.get_product(tx, first.product_id or 0)
    assert product is not None and product.mtime_ns == 1_700_000_000_000_000_000


async def test_rename_moves_the_product(database: Database, tmp_path: Path) -> None:
    old = write_fits(tmp_path / "incoming" / "a.fits")
    service = _service(database)
    first = await service.ingest_path(old)
    new = tmp_path / "archive" / "a.fits"
    new.parent.mkdir()
    old.rename(new)
    moved = await service.ingest_path(new)
    assert (moved.outcome, moved.product_id) == (Outcome.MOVED, first.product_id)
    assert await _count(database, "products") == 1
    async with database.transaction(write=False) as tx:
        product = await products.get_product(tx, first.product_id or 0)
    assert product is not None and product.path == str(new) and product.is_current


async def test_second_copy_of_identical_bytes_is_the_same_product(
    database: Database, tmp_path: Path
) -> None:
    original = write_fits(tmp_path / "a.fits")
    copy = tmp_path / "copy-of-a.fits"
    shutil.copyfile(original, copy)
    service = _service(database)
    first = await service.ingest_path(original)
    second = await service.ingest_path(copy)
    assert (second.outcome, second.product_id) == (Outcome.DUPLICATE, first.product_id)
    assert await _count(database, "products") == 1
    async with database.transaction(write=False) as tx:
        product = await products.get_product(tx, first.product_id or 0)
    assert product is not None and product.path == str(original)


async def test_new_bytes_at_a_recorded_path_make_a_new_version(
    database: Database, tmp_path: Path
) -> None:
    path = write_fits(tmp_path / "a.fits", index=1)
    service = _service(database)
    first = await service.ingest_path(path)
    write_fits(path, index=2)
    second = await service.ingest_path(path)
    assert (second.status, second.outcome) == ("succeeded", Outcome.NEW_VERSION)
    assert second.product_id != first.product_id
    async with database.transaction(write=False) as tx:
        old = await products.get_product(tx, first.product_id or 0)
        new = await products.get_product(tx, second.product_id or 0)
        current = await products.current_at_path(tx, str(path))
    assert old is not None and new is not None and current is not None
    assert not old.is_current and old.superseded_by == new.id and old.superseded_at is not None
    assert new.is_current and new.version == 2 and current.id == new.id
    # The old bytes coming back make the old record current again.
    write_fits(path, index=1)
    third = await service.ingest_path(path)
    assert (third.outcome, third.product_id) == (Outcome.NEW_VERSION, first.product_id)
    async with database.transaction(write=False) as tx:
        current = await products.current_at_path(tx, str(path))
        replaced = await products.get_product(tx, second.product_id or 0)
    assert current is not None and current.id == first.product_id and current.version == 3
    assert replaced is not None and replaced.superseded_by == first.product_id
    assert await _count(database, "products") == 2


async def test_bad_file_fails_with_its_code_and_is_left_untouched(
    database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "page.fits"
    path.write_bytes(b"<!DOCTYPE html><html><body>404</body></html>\n")
    before = path.read_bytes(), path.stat().st_mtime_ns
    result = await _service(database).ingest_path(path)
    assert result.status == "failed" and result.error is not None
    assert result.error.code == "not_fits"
    async with database.transaction(write=False) as tx:
        job = await jobs.get_job(tx, result.job_id or 0)
    assert job is not None and job.state is JobState.FAILED
    assert job.error_code == "not_fits" and job.product_id is None
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert await _count(database, "products") == 0


async def test_concurrent_drops_of_the_same_bytes_make_one_product(
    database: Database, tmp_path: Path
) -> None:
    original = write_fits(tmp_path / "0.fits", index=5)
    paths = [original]
    for number in range(1, 8):
        paths.append(tmp_path / f"{number}.fits")
        shutil.copyfile(original, paths[-1])
    service = _service(database)
    results = await asyncio.gather(*(service.ingest_path(path) for path in paths))
    assert {result.status for result in results} <= {"succeeded", "unchanged"}
    assert len({result.product_id for result in results}) == 1
    assert await _count(database, "products") == 1
    outcomes = sorted(result.outcome.value for result in results if result.outcome)
    assert outcomes.count("created") == 1 and outcomes.count("duplicate") == 7


async def test_integers_beyond_64_bits_are_recorded_exactly(
    database: Database, tmp_path: Path
) -> None:
    from pipeline.samples.cards import card, header_bytes

    cards = [card("SIMPLE", True), card("BITPIX", 8), card("NAXIS", 0)]
    cards.append(b"BIGINT  = 123456789012345678901234567890 / more than 64 bits".ljust(80))
    path = tmp_path / "big.fits"
    path.write_bytes(header_bytes(cards))
    result = await _service(database).ingest_path(path)
    assert result.status == "succeeded", result.error
    async with database.transaction(write=False) as tx:
        [hdu] = await products.hdus_of(tx, result.product_id or 0)
    assert hdu.header["BIGINT"] == 123456789012345678901234567890
