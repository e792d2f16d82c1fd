"""The outbox: a job is committed before its message is sent, and the
reconciler sends again what the broker lost (real Redis, private instances)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from pipeline.clock import utc_now
from pipeline.db import Database
from pipeline.errors import BrokerUnavailable
from pipeline.models import JobState
from pipeline.outbox import Admission, IngestMessage, send_all
from pipeline.reconciler import Reconciler
from pipeline.repositories import jobs
from pipeline.settings import ReconcilerSettings, Settings
from tests.support.catalogue import seen, write_fits
from tests.support.servers import private_redis
from workers.brokers.letters import decode
from workers.runtime import WorkerRuntime

pytestmark = pytest.mark.redis


def _runtime(database: Database, broker_url: str, bundle_size: int = 1) -> WorkerRuntime:
    """A runtime sending a message a file unless told otherwise: these tests
    count what the broker holds per job."""
    settings = Settings.model_validate(
        {
            "database": {"url": database.url},
            "broker": {"url": broker_url, "bundle_size": bundle_size},
        }
    )
    return WorkerRuntime(settings)


async def _job_states(database: Database) -> list[tuple[str, bool]]:
    rows = await database.fetch_all("SELECT state, enqueued_at FROM jobs ORDER BY id")
    return [(str(row["state"]), row["enqueued_at"] is not None) for row in rows]


@pytest.mark.parametrize(("bundle_size", "messages"), [(1, 3), (2, 2), (8, 1)])
async def test_admission_commits_jobs_then_sends_their_messages(
    database: Database, tmp_path: Path, bundle_size: int, messages: int
) -> None:
    runtime = _runtime(database, "memory://", bundle_size)
    files = [write_fits(tmp_path / f"{i}.fits", i) for i in range(3)]
    admission = Admission(database, runtime, [tmp_path])
    job_ids = await admission.admit([seen(path) for path in files])
    assert len(job_ids) == 3
    assert await _job_states(database) == [("queued", True)] * 3
    # Up to bundle_size files a message; every job names the message it is in.
    assert runtime.adapter.depth(runtime.broker, runtime.queue).ready == messages
    named = await database.fetch_value("SELECT COUNT(DISTINCT message_id) FROM jobs")
    assert int(named) == messages
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


@pytest.mark.parametrize(("bundle_size", "resent_as"), [(1, 3), (8, 1)])
async def test_messages_lost_by_a_broker_restart_are_sent_again(
    database: Database, tmp_path: Path, bundle_size: int, resent_as: int
) -> None:
    with private_redis() as redis_server:
        runtime = _runtime(database, redis_server.url, bundle_size)
        admission = Admission(database, runtime, [tmp_path])
        files = [write_fits(tmp_path / f"{i}.fits", i) for i in range(3)]
        await admission.admit([seen(path) for path in files])
        settings = ReconcilerSettings(stale_after_seconds=1)
        reconciler = Reconciler(database, runtime, runtime, settings, [tmp_path])
        soon = utc_now() + timedelta(seconds=5)
        assert await reconciler.run_once(soon) == 0  # the messages are still in Redis
        redis_server.restart()  # no persistence: every message is gone
        assert runtime.adapter.depth(runtime.broker, runtime.queue).ready == 0
        assert await reconciler.run_once(soon) == 3  # every job, in as many messages as fit
        assert runtime.adapter.depth(runtime.broker, runtime.queue).ready == resent_as
        assert await reconciler.run_once(soon) == 0  # and now they are there


async def test_messages_a_dead_worker_had_fetched_go_back_on_the_queue(
    database: Database, tmp_path: Path
) -> None:
    """A SIGKILLed worker's fetched messages still exist, in its name: the
    reconciler cannot resend them, and Dramatiq puts them back only in a
    random 1 in 1,000 of its commands. Each round puts them back once the
    worker's heartbeat is older than the timeout, and leaves live workers'."""
    from workers.brokers.redis_acks import AckBatchingRedisBroker

    with private_redis() as redis_server:
        runtime = _runtime(database, redis_server.url)
        admission = Admission(database, runtime, [tmp_path])
        files = [write_fits(tmp_path / f"{i}.fits", i) for i in range(6)]
        await admission.admit([seen(path) for path in files])
        delayed = await send_all(database, runtime, [_message(99, delay_seconds=0.01)])
        assert delayed == 1
        dead, live = (AckBatchingRedisBroker(url=redis_server.url) for _ in range(2))
        queue = runtime.queue
        for worker, fetch in ((dead, 4), (live, 2)):
            assert next(worker.consume(queue, prefetch=fetch, timeout=100)) is not None
        assert next(dead.consume(f"{queue}.DQ", prefetch=1, timeout=100)) is not None
        client = redis.Redis.from_url(redis_server.url)
        assert client.llen(f"dramatiq:{queue}") == 0
        reconciler = Reconciler(database, runtime, runtime, ReconcilerSettings(), [tmp_path])
        assert await reconciler.run_once() == 0
        assert reconciler.requeued_total == 0  # every worker beats: nothing taken
        # The dead worker's last beat is older than the heartbeat timeout.
        client.zadd("dramatiq:__heartbeats__", {dead.broker_id: 0})
        assert await reconciler.run_once() == 0  # put back, not sent again
        assert reconciler.requeued_total == 5
        assert client.llen(f"dramatiq:{queue}") == 4
        assert client.llen(f"dramatiq:{queue}.DQ") == 1
        assert client.keys(f"dramatiq:__acks__.{dead.broker_id}*") == []
        assert client.zscore("dramatiq:__heartbeats__", dead.broker_id) is None
        assert client.scard(f"dramatiq:__acks__.{live.broker_id}.{queue}") == 2
        assert await reconciler.run_once() == 0
        assert reconciler.requeued_total == 5  # once


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


# --- batches: Redis takes a round's messages in one call ---------------------------


def _message(job_id: int, delay_seconds: float = 0.0) -> IngestMessage:
    return IngestMessage(job_id, f"/data/{job_id}.fits", 2880, 1, "/data", delay_seconds)


def test_a_batch_is_enqueued_in_redis_as_dramatiq_enqueues_one(database: Database) -> None:
    with private_redis() as redis_server:
        runtime = _runtime(database, redis_server.url)
        one = runtime.send(_message(1))
        batch = runtime.send_batch([_message(2), _message(3), _message(4)])
        client = redis.Redis.from_url(redis_server.url)
        ready = [key.decode() for key in client.lrange(f"dramatiq:{runtime.queue}", 0, -1)]
        assert ready == [one, *batch] and len(set(ready)) == 4
        stored = client.hmget(f"dramatiq:{runtime.queue}.msgs", ready)
        single, *batched = [decode(data) for data in stored]
        assert single is not None
        for job_id, message in enumerate(batched, start=2):
            # The same message Dramatiq's own enqueue stores, but for its ids
            # and times: actor, queue, arguments, and the options the enqueue
            # middleware stamps (QueueStamps' enqueued_at).
            assert message is not None
            assert message.actor_name == single.actor_name and message.queue_name == runtime.queue
            assert list(message.args) == [job_id, f"/data/{job_id}.fits", 2880, 1, "/data"]
            assert message.options.keys() == single.options.keys()
            assert message.options["redis_message_id"] == batch[job_id - 2]
            assert runtime.message_exists(batch[job_id - 2]) is True
        with pytest.raises(ValueError, match="undelayed"):
            runtime.send_batch([_message(5), _message(6, delay_seconds=2.0)])
        redis_server.stop()
        with pytest.raises(BrokerUnavailable):
            runtime.send_batch([_message(7), _message(8)])


class _FailingSecondBatch:
    """A queue of batches of two that goes down after the first batch."""

    batch_size = 2

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.single: list[int] = []

    def send(self, message: IngestMessage) -> str:
        self.single.append(message.job_id)
        return f"single-{message.job_id}"

    def send_batch(self, messages: Sequence[IngestMessage]) -> list[str]:
        if self.batches:
            raise BrokerUnavailable("down after the first batch")
        self.batches.append([message.job_id for message in messages])
        return [f"batch-{message.job_id}" for message in messages]


async def test_a_round_records_the_batches_sent_before_the_broker_went_down(
    database: Database, tmp_path: Path
) -> None:
    files = [write_fits(tmp_path / f"{i}.fits", i) for i in range(5)]
    sender = _FailingSecondBatch()
    admission = Admission(database, sender, [tmp_path])
    await admission.admit([seen(path) for path in files])
    # The first batch is recorded as enqueued; the rest stay queued, unsent,
    # for the reconciler.
    assert len(sender.batches) == 1 and sender.single == []
    assert await _job_states(database) == [("queued", True)] * 2 + [("queued", False)] * 3


async def test_delayed_messages_are_sent_one_by_one(database: Database) -> None:
    sender = _FailingSecondBatch()
    sent = await send_all(database, sender, [_message(1, 5.0), _message(2), _message(3, 1.0)])
    assert sent == 3 and sender.batches == [[2]] and sorted(sender.single) == [1, 3]


def test_a_full_batch_of_files_too_large_to_share_a_message_is_sent_whole(
    database: Database,
) -> None:
    """As many files as the runtime takes at once, each over the size that
    travels alone: as many messages as files, more than one Redis call takes."""
    with private_redis() as redis_server:
        runtime = _runtime(database, redis_server.url, bundle_size=8)
        large = 5 * 1024 * 1024
        messages = [
            IngestMessage(i, f"/data/{i}.fits", large, 1, "/data")
            for i in range(runtime.batch_size)
        ]
        assert len(messages) > runtime.adapter.batch_size
        ids = runtime.send_batch(messages)
        assert len(set(ids)) == len(messages)
        assert runtime.adapter.depth(runtime.broker, runtime.queue).ready == len(messages)
