"""Worker heartbeats: a worker appears when it boots, shows what it is processing,
goes away when it stops cleanly, and is reported dead when it stops beating
(SIGKILL) — in-process worker threads (as in ``fitsflow run``) and a real
``fitsflow worker`` process (``dramatiq workers`` underneath)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from pipeline.api.queue_schemas import Workers
from pipeline.api.queues import build_workers
from pipeline.db import Database
from pipeline.models import JobState
from tests.integration.test_queues_support import (
    BrokerUnderTest,
    FailingFirst,
    any_broker,
    redis_server,
    running_worker,
)
from tests.support.databases import ONLY_SQLITE
from tests.support.processes import FitsflowProcess, fitsflow_env
from tests.support.servers import PrivateRedis

__all__ = ["any_broker", "redis_server"]  # fixtures, imported to be found

DEADLINE_SECONDS = 20.0


async def wait_workers(
    database: Database, done: object, seconds: float = DEADLINE_SECONDS
) -> Workers:
    """``build_workers`` until ``done(document)`` holds; fail at the deadline."""
    assert callable(done)
    deadline = time.monotonic() + seconds
    while True:
        document = await build_workers(database)
        if done(document):
            return document
        assert time.monotonic() < deadline, f"workers never matched: {document}"
        await asyncio.sleep(0.05)


@ONLY_SQLITE
@pytest.mark.parametrize("any_broker", ["memory", "redis"], indirect=True)
async def test_a_worker_beats_shows_its_job_and_leaves(
    any_broker: BrokerUnderTest, migrated_database_url: str, database: Database, tmp_path: Path
) -> None:
    gate = threading.Event()
    parser = FailingFirst(failures=0, gate=gate)
    running = running_worker(any_broker, database, migrated_database_url, tmp_path, parser, 3)
    async with running as run:
        seen = await wait_workers(database, lambda d: d.alive == 1)
        [worker] = seen.workers
        assert worker.id == f"{socket.gethostname()}:{os.getpid()}"
        assert (worker.pid, worker.threads, worker.queues) == (os.getpid(), 3, [any_broker.queue])
        assert worker.heartbeat_seconds == 0.2 and worker.processing == []
        [job_id] = await run.admit(tmp_path / "held.fits")
        await run.wait_job(job_id, JobState.RUNNING)
        busy = await wait_workers(database, lambda d: d.workers[0].processing)
        [job] = busy.workers[0].processing
        assert (job.job_id, job.path, job.attempt) == (job_id, str(tmp_path / "held.fits"), 1)
        # The heartbeat keeps coming while the job runs.
        first = busy.workers[0].heartbeat_at
        await wait_workers(database, lambda d: d.workers[0].heartbeat_at > first)
        gate.set()
        await run.wait_job(job_id, JobState.SUCCEEDED)
        await wait_workers(database, lambda d: d.workers[0].processing == [])
    # A clean stop deletes the row at once: a stopped worker is not a dead one.
    assert (await build_workers(database)).workers == []


@pytest.mark.redis
@ONLY_SQLITE
async def test_a_killed_worker_process_is_reported_dead(
    redis_server: PrivateRedis, migrated_database_url: str, database: Database, tmp_path: Path
) -> None:
    env = fitsflow_env(
        migrated_database_url,
        redis_server.url,
        FITSFLOW_WORKER_HEARTBEAT_SECONDS="0.3",
        FITSFLOW_BROKER_QUEUE=f"fitsflow-test-{os.getpid()}-{time.monotonic_ns()}",
    )
    worker = FitsflowProcess(
        ["worker", "--processes", "1", "--threads", "2"], env, tmp_path / "worker.log"
    ).start()
    try:
        alive = await wait_workers(database, lambda d: d.alive == 1, seconds=60)
        [record] = alive.workers
        assert record.pid in worker.children()  # dramatiq's worker process, not its parent
        assert (record.threads, record.heartbeat_seconds) == (2, 0.3)
    finally:
        worker.kill()
    dead = await wait_workers(database, lambda d: d.alive == 0)
    [gone] = dead.workers
    assert gone.id == record.id and not gone.alive
    assert gone.seconds_since_heartbeat >= 3 * 0.3
