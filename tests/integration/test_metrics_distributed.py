"""Metrics in the distributed mode: `fitsflow worker --processes 2` and `fitsflow watch`.

The two worker processes write their metrics to files in one directory
(prometheus_client's multiprocess mode); the endpoint Dramatiq forks beside
them must report the sum, so the totals are checked against what each
process did according to the database. The watch node serves its own
counters. Both endpoints ask for the API token when reads are protected.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.catalogue import write_fits
from tests.support.databases import ONLY_POSTGRESQL, opened_database
from tests.support.processes import (
    FitsflowProcess,
    fitsflow_env,
    wait_for_catalogue,
    wait_for_workers,
)
from tests.support.prometheus import Samples, status_of, wait_for_samples
from tests.support.servers import free_port, private_redis_url

__all__ = ["private_redis_url"]  # a fixture, imported to be found

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, ONLY_POSTGRESQL]

FILES = 60
TOKEN = "metrics-token-0123456789abcdef"
POOL_MAX_SIZE = 3


async def _jobs_per_worker(database_url: str) -> dict[str, int]:
    async with opened_database(database_url) as database:
        rows = await database.fetch_all("SELECT worker, COUNT(*) AS n FROM jobs GROUP BY worker")
    return {str(row["worker"]): int(row["n"]) for row in rows}


def test_worker_processes_are_added_up_and_the_watch_node_reports(
    migrated_database_url: str, private_redis_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    shared = tmp_path / "metrics"
    worker_port, watch_port = free_port(), free_port()
    env = fitsflow_env(
        migrated_database_url,
        private_redis_url,
        FITSFLOW_METRICS_WORKER_PORT=str(worker_port),
        FITSFLOW_METRICS_WATCH_PORT=str(watch_port),
        FITSFLOW_METRICS_MULTIPROCESS_DIR=str(shared),
        FITSFLOW_DATABASE_POOL_MAX_SIZE=str(POOL_MAX_SIZE),
        FITSFLOW_API_TOKEN=TOKEN,
        FITSFLOW_API_PROTECT_READS="true",
        # A file a message: the test needs both processes to take some, and
        # 60 files in a few bundles can all go to whichever looks first.
        FITSFLOW_BROKER_BUNDLE_SIZE="1",
    )
    worker = FitsflowProcess(
        ["worker", "--processes", "2", "--threads", "1"], env, tmp_path / "worker.log"
    ).start()
    watch = FitsflowProcess(["watch", "--watch", str(root)], env, tmp_path / "watch.log").start()
    workers_url = f"http://127.0.0.1:{worker_port}/metrics"
    watch_url = f"http://127.0.0.1:{watch_port}/metrics"
    try:
        for url, process in ((workers_url, worker), (watch_url, watch)):
            wait_for_samples(url, lambda _: True, token=TOKEN, alive=process.require_alive)
            assert status_of(url) == 403 and status_of(url, "wrong" + TOKEN) == 403
        watch.wait_log('"watching"')
        wait_for_workers(migrated_database_url, 2, worker)
        for index in range(FILES):
            write_fits(root / f"image{index:03d}.fits", index)
        wait_for_catalogue(migrated_database_url, FILES, 120, watch=[worker, watch])
        done = wait_for_samples(
            workers_url,
            lambda s: s.total("fitsflow_jobs_finished_total") >= FILES,
            token=TOKEN,
            alive=worker.require_alive,
        )
        per_worker = asyncio.run(_jobs_per_worker(migrated_database_url))
        admitted = wait_for_samples(
            watch_url,
            lambda s: s.value("fitsflow_files_admitted_total", source="watch") >= FILES,
            token=TOKEN,
        )
    finally:
        watch.stop()
        assert worker.stop() == 0
    _check_workers(done, per_worker)
    _check_watch_node(admitted)
    # A clean shutdown marks each process dead: its live gauges leave the sum.
    assert not list(shared.glob("gauge_live*.db"))
    assert len(list(shared.glob("counter_*.db"))) == 2


def _check_workers(found: Samples, per_worker: dict[str, int]) -> None:
    assert len(per_worker) == 2 and all(per_worker.values()), per_worker
    created = {"state": "succeeded", "outcome": "created", "error_code": ""}
    # The sum of both processes, not either one's share.
    assert found.value("fitsflow_jobs_finished_total", **created) == FILES
    assert sum(per_worker.values()) == FILES
    for phase in ("read", "extract", "commit"):
        assert found.value("fitsflow_ingest_duration_seconds_count", phase=phase) == FILES
    # Live gauges add up across the processes: two pools of POOL_MAX_SIZE.
    assert found.value("fitsflow_db_pool_max_connections", pool="worker") == 2 * POOL_MAX_SIZE
    # Checkouts add up too: each of the two processes at least one for its
    # start group and one for its success group (files in flight share them).
    assert found.value("fitsflow_db_pool_acquires_total", pool="worker") >= 2 * 2
    assert found.value("fitsflow_db_pool_exhausted_total", pool="worker") == 0


def _check_watch_node(found: Samples) -> None:
    assert found.value("fitsflow_files_admitted_total", source="watch") == FILES
    assert found.total("fitsflow_files_detected_total") >= FILES
    assert found.value("fitsflow_db_pool_max_connections", pool="watch") == POOL_MAX_SIZE
    assert found.value("fitsflow_watcher_overflows_total") == 0
