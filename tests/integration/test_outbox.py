"""The outbox: a job is committed before its message is sent, and the
reconciler sends again what the broker lost (real Redis, private instances)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from pipeline.clock import utc_now
from pipeline.db import Database
from pipeline.models import JobState
from pipeline.outbox import Admission
from pipeline.reconciler import Reconciler
from pipeline.repositories import jobs
from pipeline.settings import ReconcilerSettings, Settings
from tests.support.catalogue import seen, write_fits
from tests.support.servers import private_redis
from workers.runtime import WorkerRuntime

pytestmark = pytest.mark.redis


def _runtime(database: Database, broker_url: str) -> WorkerRuntime:
    settings = Settings.model_validate(
        {"database": {"url": database.url}, "broker": {"url": broker_url}}
    )
    return WorkerRuntime(settings)


async def _job_states(database: Database) -> list[tuple[str, bool]]:
    rows = await database.fetch_all("SELECT state, enqueued_at FROM jobs ORDER BY id")
    return [(str(row["state"]), row["enqueued_at"] is not None) for row in rows]


async def test_admission_commits_jobs_then_sends_one_message_each(
    database: Database, tmp_path: Path
) -> None:
    runtime = _runtime(database, "memory://")
    files = [write_fits(tmp_path / f"{i}.fits", i) for i in range(3)]
    admission = Admission(database, runtime, [tmp_path])
    job_ids = await admission.admit([seen(path) for path in files])
    assert len(job_ids) == 3
    assert await _job_states(database) == [("queued", True)] * 3
    assert runtime.adapter.depth(runtime.broker, runtime.queue).ready == 3
    # The same files seen again (a rescan, a second event) admit nothing new.
    assert await admission.admit([seen(path) for path in files]) == []
    async with database.transaction(write=False) as tx:
        job = await jobs.get_job(tx, job_ids[0])
    assert job is not None and job.message_id is not None and job.size == files[0].stat().st_size


async def test_jobs_admitted_while_the_broker_is_down_are_sent_when_it_returns(
    database: Database, tmp_path: Path
) -> None:
    with private_redis() as redis_server:
        runtime = _runtime(database, redis_server.url)
        admission = Admission(database, runtime, [tmp_path])
        redis_server.stop()
        files = [write_fits(tmp_path / f"{i}.fits", i) for i in range(4)]
        job_ids = await admission.admit([seen(path) for path in files])
        # Committed first: the jobs exist even though no message could be sent.
        assert len(job_ids) == 4
        assert await _job_states(database) == [("queued", False)] * 4
        redis_server.start()
        reconciler = Reconciler(database, runtime, runtime, ReconcilerSettings(), [tmp_path])
        later = utc_now() + timedelta(seconds=30)
        assert await reconciler.run_once(later) == 4
        assert await _job_states(database) == [("queued", True)] * 4
        depth = runtime.adapter.depth(runtime.broker, runtime.queue)
        assert depth.ready == 4
        # Nothing lost now: another round sends nothing more.
        assert await reconciler.run_once(later) == 0


async def test_messages_lost_by_a_broker_restart_are_sent_again(
    database: Database, tmp_path: Path
) -> None:
    with private_redis() as redis_server:
        runtime = _runtime(database, redis_server.url)
        admission = Admission(database, runtime, [tmp_path])
        files = [write_fits(tmp_path / f"{i}.fits", i) for i in range(3)]
        await admission.admit([seen(path) for path in files])
        settings = ReconcilerSettings(stale_after_seconds=1)
        reconciler = Reconciler(database, runtime, runtime, settings, [tmp_path])
        soon = utc_now() + timedelta(seconds=5)
        assert await reconciler.run_once(soon) == 0  # the messages are still in Redis
        redis_server.restart()  # no persistence: every message is gone
        assert runtime.adapter.depth(runtime.broker, runtime.queue).ready == 0
        assert await reconciler.run_once(soon) == 3
        assert runtime.adapter.depth(runtime.broker, runtime.queue).ready == 3


async def test_refusals_are_recorded_once(database: Database, tmp_path: Path) -> None:
    from pipeline.errors import NotRegularFile

    runtime = _runtime(database, "memory://")
    admission = Admission(database, runtime, [tmp_path])
    error = NotRegularFile("x.fits is a directory")
    first = await admission.refuse(str(tmp_path / "x.fits"), error)
    again = await admission.refuse(str(tmp_path / "x.fits"), error)
    assert first is not None and again is None
    async with database.transaction(write=False) as tx:
        job = await jobs.get_job(tx, first)
    assert job is not None and job.state is JobState.FAILED and job.error_code == "not_regular_file"
