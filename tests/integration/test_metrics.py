"""Prometheus metrics: what `/metrics` says, and that it moves as files are ingested.

In-process tests check the exposition itself (it parses with prometheus_client's
own parser; pool gauges and queue depths are there; a broker that is down or
silent costs the scrape at most its deadline). One test drives a real
``fitsflow run`` and watches the counters move file by file.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

import pytest

from pipeline import metrics
from pipeline.api import QueueDepth, create_app
from pipeline.api.metrics import QueueDepthCache
from pipeline.db import Database
from pipeline.settings import Settings
from tests.acceptance.conftest import (
    QUEUES,
    DownBrokerProbe,
    FixedBrokerProbe,
    SilentBrokerProbe,
    asgi_client,
)
from tests.support.catalogue import write_fits
from tests.support.processes import FitsflowProcess, fitsflow_env
from tests.support.prometheus import Samples, parse, scrape, wait_for_samples
from tests.support.servers import free_port

QUEUE = "fitsflow-ingest"


async def _metrics_of(database: Database, broker: object) -> Samples:
    app = create_app(database, broker, settings=Settings())  # type: ignore[arg-type]
    async with asgi_client(app) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


async def test_metrics_parse_with_pools_queues_and_every_family(database: Database) -> None:
    pool = f"test-{secrets.token_hex(3)}"
    metrics.track_pool(pool, database)
    async with database.transaction() as tx:
        await tx.fetch_value("SELECT 1")
    found = await _metrics_of(database, FixedBrokerProbe())
    # Pool statistics, as the adapter counts them.
    stats = database.stats()
    assert found.get("fitsflow_db_pool_max_connections", pool=pool) == stats.max_size
    assert found.get("fitsflow_db_pool_connections", pool=pool) == stats.size
    assert found.get("fitsflow_db_pool_in_use_connections", pool=pool) == 0
    assert found.get("fitsflow_db_pool_waiting_callers", pool=pool) == 0
    assert found.get("fitsflow_db_pool_acquires_total", pool=pool) == stats.acquired_total
    assert found.get("fitsflow_db_pool_acquire_wait_seconds_total", pool=pool) is not None
    assert found.get("fitsflow_db_pool_exhausted_total", pool=pool) == 0
    # The broker's queues, as the probe reported them; unknown figures left out.
    depth = QUEUES[QUEUE]
    assert found.get("fitsflow_broker_up") == 1
    for state in ("ready", "delayed", "in_flight"):
        assert found.get("fitsflow_queue_messages", queue=QUEUE, state=state) == getattr(
            depth, state
        )
    assert found.get("fitsflow_queue_dead_letter_messages", queue=QUEUE) == depth.dead
    assert found.get("fitsflow_queue_dead_letter_messages", queue=f"{QUEUE}.DQ") == 4
    assert found.labelled("fitsflow_queue_messages", "queue") == {QUEUE}
    # Every family is declared with its type, so dashboards can rely on it.
    assert found.types["fitsflow_ingest_duration_seconds"] == "histogram"
    for counter in (
        "fitsflow_jobs_finished",
        "fitsflow_job_retries",
        "fitsflow_files_admitted",
        "fitsflow_files_refused",
        "fitsflow_files_detected",
        "fitsflow_reconciler_resent",
        "fitsflow_reconciler_requeued",
        "fitsflow_db_pool_exhausted",
    ):
        assert found.types[counter] == "counter", counter
    assert all(name.startswith("fitsflow_") or "_" in name for name in found.types)


async def test_a_broker_that_is_down_reports_zero_and_no_queues(database: Database) -> None:
    found = await _metrics_of(database, DownBrokerProbe())
    assert found.get("fitsflow_broker_up") == 0
    assert found.total("fitsflow_queue_messages") == 0
    assert not found.labelled("fitsflow_queue_messages", "queue")


async def test_a_silent_broker_costs_a_scrape_its_deadline_only() -> None:
    cache = QueueDepthCache(SilentBrokerProbe(), max_age=0.0, timeout=0.2)
    async with asyncio.timeout(5):
        await cache.refresh()
    assert cache.up is False and cache.depths == {}


class _CountingProbe:
    def __init__(self) -> None:
        self.asked = 0

    async def ping(self) -> None:
        return None

    async def queue_depths(self) -> dict[str, QueueDepth]:
        self.asked += 1
        await asyncio.sleep(0.01)
        return {QUEUE: QueueDepth(ready=self.asked, delayed=0, in_flight=0, dead=0)}


async def test_queue_depths_are_cached_and_asked_once_for_concurrent_scrapes() -> None:
    probe = _CountingProbe()
    cache = QueueDepthCache(probe, max_age=60.0)
    await asyncio.gather(*(cache.refresh() for _ in range(10)))
    await cache.refresh()
    assert probe.asked == 1 and cache.up
    expired = QueueDepthCache(probe, max_age=0.0)
    await expired.refresh()
    await expired.refresh()
    assert probe.asked == 3
    assert expired.depths[QUEUE].ready == 3


async def test_pool_counters_follow_the_adapter_without_counting_twice(database: Database) -> None:
    pool = f"test-{secrets.token_hex(3)}"
    metrics.track_pool(pool, database)
    for _ in range(5):
        await database.fetch_value("SELECT 1")
    metrics.sync_pools()
    metrics.sync_pools()  # a second sync adds nothing
    found = parse(metrics_text())
    stats = database.stats()
    assert found.get("fitsflow_db_pool_acquires_total", pool=pool) == stats.acquired_total
    waited = found.get("fitsflow_db_pool_acquire_wait_seconds_total", pool=pool)
    assert waited == pytest.approx(stats.acquire_wait_seconds_total)


def test_a_forked_child_sets_every_pool_gauge_anew() -> None:
    metrics._gauges_shown["forked"] = {"size": 1.0}
    child = os.fork()
    if child == 0:  # what the parent showed is not in the child's metric files
        os._exit(1 if metrics._gauges_shown else 0)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert metrics._gauges_shown.pop("forked") == {"size": 1.0}  # the parent's stay


async def test_pool_gauges_follow_each_change_between_syncs(database: Database) -> None:
    # sync_pools skips values unchanged since it last set them: a change,
    # and the change back, must still show.
    pool = f"test-{secrets.token_hex(3)}"
    metrics.track_pool(pool, database)
    shown: list[float | None] = []
    for _ in range(2):
        async with database.transaction() as tx:
            await tx.fetch_value("SELECT 1")
            metrics.sync_pools()
            shown.append(
                parse(metrics_text()).get("fitsflow_db_pool_in_use_connections", pool=pool)
            )
        metrics.sync_pools()
        shown.append(parse(metrics_text()).get("fitsflow_db_pool_in_use_connections", pool=pool))
    assert shown == [1, 0, 1, 0]
    found = parse(metrics_text())
    assert found.get("fitsflow_db_pool_max_connections", pool=pool) == database.stats().max_size


def metrics_text() -> str:
    from prometheus_client import REGISTRY, generate_latest

    return generate_latest(REGISTRY).decode()


# --- a real `fitsflow run` ----------------------------------------------------------------


@pytest.mark.slow
def test_embedded_metrics_move_as_files_are_ingested(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    port = free_port()
    env = fitsflow_env(f"sqlite:///{tmp_path / 'fitsflow.db'}")
    run = FitsflowProcess(["run", "--watch", str(root), "--port", str(port)], env, tmp_path / "log")
    run.start()
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        run.wait_http(f"http://127.0.0.1:{port}/health")
        before = scrape(url)
        assert before.total("fitsflow_jobs_finished_total") == 0
        for index in range(4):
            write_fits(root / f"good{index}.fits", index)
        (root / "page.fits").write_bytes(b"<!DOCTYPE html><html>404</html>\n")
        os.mkfifo(root / "pipe.fits")

        def finished(count: int) -> object:
            return lambda s: s.total("fitsflow_jobs_finished_total") >= count

        first = wait_for_samples(url, finished(5), alive=run.require_alive)
        _check_first_round(first)
        for index in range(4, 6):
            write_fits(root / f"good{index}.fits", index)
        second = wait_for_samples(url, finished(7), alive=run.require_alive)
    finally:
        run.stop()
    _check_second_round(first, second)


def _check_first_round(found: Samples) -> None:
    succeeded = {"state": "succeeded", "outcome": "created", "error_code": ""}
    assert found.value("fitsflow_jobs_finished_total", **succeeded) == 4
    failed = {"state": "failed", "outcome": "", "error_code": "not_fits"}
    assert found.value("fitsflow_jobs_finished_total", **failed) == 1
    assert found.value("fitsflow_files_admitted_total", source="watch") == 5
    assert found.value("fitsflow_files_refused_total", code="not_regular_file") == 1
    assert found.total("fitsflow_files_detected_total") >= 5
    # Every file was read; only the FITS ones were extracted and committed.
    assert found.value("fitsflow_ingest_duration_seconds_count", phase="read") == 5
    assert found.value("fitsflow_ingest_duration_seconds_count", phase="extract") == 4
    assert found.value("fitsflow_ingest_duration_seconds_count", phase="commit") == 4
    assert found.value("fitsflow_ingest_duration_seconds_bucket", phase="read", le="+Inf") == 5
    assert found.total("fitsflow_job_retries_total") == 0
    # The embedded process has one pool: watcher, API and worker threads share it.
    assert "service" in found.labelled("fitsflow_db_pool_max_connections", "pool")
    assert found.value("fitsflow_db_pool_acquires_total", pool="service") > 0
    assert found.get("fitsflow_broker_up") == 1
    assert found.get("fitsflow_queue_messages", queue=QUEUE, state="ready") == 0
    assert found.get("fitsflow_queue_dead_letter_messages", queue=QUEUE) == 0


def _check_second_round(first: Samples, second: Samples) -> None:
    created = {"state": "succeeded", "outcome": "created", "error_code": ""}
    assert second.value("fitsflow_jobs_finished_total", **created) == 6
    assert second.value("fitsflow_files_admitted_total", source="watch") == 7
    for phase, moved in (("read", 2), ("extract", 2), ("commit", 2)):
        name = "fitsflow_ingest_duration_seconds_count"
        assert second.value(name, phase=phase) - first.value(name, phase=phase) == moved
    acquired = "fitsflow_db_pool_acquires_total"
    assert second.value(acquired, pool="service") > first.value(acquired, pool="service")
