"""Backfill scans: everything under a root not yet recorded, as one batch.

In process on a real Dramatiq worker (memory broker), on SQLite and
PostgreSQL; then ``fitsflow scan`` and ``fitsflow batches watch`` as real
processes beside a ``fitsflow worker`` over a private Redis.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.backfill import Backfill
from pipeline.db import Database
from pipeline.ingest.service import IngestService
from pipeline.settings import FilesSettings, ReaderSettings
from tests.support.catalogue import write_fits
from tests.support.inprocess import BAD_BYTES, running_worker, wait_for_batch
from tests.support.processes import FITSFLOW, FitsflowProcess, fitsflow_env
from tests.support.servers import private_redis
from workers.runtime import WorkerRuntime


@pytest.fixture
def worker(migrated_database_url: str) -> Iterator[WorkerRuntime]:
    with running_worker(migrated_database_url) as runtime:
        yield runtime


async def _half_recorded(database: Database, root: Path) -> dict[str, list[Path]]:
    """A tree where some files are recorded already and some are new."""
    recorded = [write_fits(root / "2024" / f"old{i}.fits", i) for i in range(4)]
    service = IngestService(database, ReaderSettings())
    for path in recorded:
        assert (await service.ingest_path(path)).status == "succeeded"
    changed = recorded[0]
    write_fits(changed, 50)  # new bytes at a recorded path: not recorded as it is now
    new = [write_fits(root / "2025" / "deep" / f"new{i}.fits", 10 + i) for i in range(5)]
    bad = root / "2025" / "page.fits"
    bad.write_bytes(BAD_BYTES)
    write_fits(root / ".hidden" / "skip.fits", 90)  # hidden directories are not walked
    (root / "2025" / "notes.txt").write_text("not a candidate")
    fifo = root / "2025" / "pipe.fits"
    os.mkfifo(fifo)
    return {"admitted": [changed, *new, bad], "unchanged": recorded[1:], "refused": [fifo]}


async def test_a_scan_admits_only_what_is_not_recorded(
    worker: WorkerRuntime, database: Database, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    tree = await _half_recorded(database, root)
    backfill = Backfill(database, worker, FilesSettings(), [root], chunk_size=3)

    result = await backfill.scan(root)
    progress = await wait_for_batch(database, result.batch_id)

    admitted = len(tree["admitted"])
    assert (result.admitted, result.refused) == (admitted, 1)
    assert result.already_recorded == len(tree["unchanged"])
    assert (progress.kind, progress.total, progress.closed) == ("scan", admitted, True)
    assert (progress.counts.succeeded, progress.counts.failed) == (admitted - 1, 1)
    assert progress.remaining == 0 and progress.finished_at is not None
    rows = await database.fetch_all(
        "SELECT path, source, error_code FROM jobs WHERE batch_id = :b", {"b": result.batch_id}
    )
    assert {row["path"] for row in rows} == {str(path) for path in tree["admitted"]}
    assert {row["source"] for row in rows} == {"scan"}
    refusal = await database.fetch_one(
        "SELECT state, error_code, batch_id FROM jobs WHERE path = :p",
        {"p": str(tree["refused"][0])},
    )
    assert refusal is not None
    assert (refusal["state"], refusal["error_code"], refusal["batch_id"]) == (
        "failed",
        "not_regular_file",
        None,
    )


async def test_scanning_again_finds_nothing_new_and_the_empty_batch_is_done(
    worker: WorkerRuntime, database: Database, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    for index in range(3):
        write_fits(root / f"image{index}.fits", index)
    backfill = Backfill(database, worker, FilesSettings(), [root])
    first = await backfill.scan(root)
    await wait_for_batch(database, first.batch_id)

    again = await backfill.scan(root)
    progress = await wait_for_batch(database, again.batch_id)

    assert (again.found, again.admitted, again.already_recorded) == (3, 0, 3)
    assert (progress.total, progress.closed, progress.remaining) == (0, True, 0)
    assert progress.finished_at is not None


async def test_files_are_confined_to_the_scanned_root(
    worker: WorkerRuntime, database: Database, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    outside = write_fits(tmp_path / "elsewhere" / "secret.fits", 7)
    root.mkdir()
    (root / "link.fits").symlink_to(outside)

    result = await Backfill(database, worker, FilesSettings()).scan(root)
    await wait_for_batch(database, result.batch_id)

    assert (result.found, result.admitted, result.refused) == (1, 0, 1)
    row = await database.fetch_one(
        "SELECT error_code FROM jobs WHERE path = :p", {"p": str(root / "link.fits")}
    )
    assert row is not None and row["error_code"] == "outside_root"
    assert int(await database.fetch_value("SELECT COUNT(*) FROM products")) == 0


# --- as an operator runs it: separate processes, a real broker ------------------------


def _fitsflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FITSFLOW, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.redis
def test_fitsflow_scan_and_batches_watch_beside_a_worker(
    migrated_database_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    for index in range(30):
        write_fits(root / f"night{index % 3}" / f"image{index:02d}.fits", index)
    (root / "night0" / "page.fits").write_bytes(BAD_BYTES)
    with private_redis() as redis:
        env = fitsflow_env(migrated_database_url, redis.url)
        worker = FitsflowProcess(
            ["worker", "--processes", "1", "--threads", "4"], env, tmp_path / "worker.log"
        ).start()
        try:
            scanned = _fitsflow(env, "scan", str(root), "--json", "--interval", "0.1")
            assert scanned.returncode == 0, scanned.stderr
            snapshots = _lines(scanned.stdout)
            watched = _fitsflow(env, "batches", "watch", str(snapshots[-1]["id"]), "--json")
            again = _fitsflow(env, "scan", str(root), "--no-wait")
        finally:
            worker.kill()
    final = snapshots[-1]
    assert final["kind"] == "scan" and final["closed"] and final["remaining"] == 0
    assert (final["total"], final["counts"]["succeeded"], final["counts"]["failed"]) == (31, 30, 1)
    assert all(s["id"] == final["id"] for s in snapshots)
    assert [s["done"] for s in snapshots] == sorted(s["done"] for s in snapshots)
    [seen] = _lines(watched.stdout)
    assert watched.returncode == 0 and _steady(seen) == _steady(final)
    assert "scan of" in scanned.stderr and "31 enqueued" in scanned.stderr
    # The second time only the failed file (it has no product) is tried again.
    assert again.returncode == 0, again.stderr
    assert int(again.stdout.split()[-1]) == final["id"] + 1
    assert "1 enqueued" in again.stdout and "30 already recorded" in again.stdout


def _steady(progress: dict[str, Any]) -> dict[str, Any]:
    """A finished batch's progress without the figures that follow the clock."""
    return {
        k: v for k, v in progress.items() if k not in ("rate_per_second", "rate_window_seconds")
    }
