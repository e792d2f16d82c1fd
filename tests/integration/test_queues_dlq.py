"""Dead letters on every broker, with the job rows checked: listed with their
job's path, error and attempts; requeued (one and all) as fresh deliveries of
the same job, which returns to ``queued`` and runs again; purged (one and
all), the job staying as it ended."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import dramatiq

from pipeline.api.deadletters import dead_letter_page, purge_dead_letters, requeue_dead_letters
from pipeline.api.queue_schemas import DeadLetterSelection
from pipeline.clock import utc_now
from pipeline.db import Connection, Database
from pipeline.errors import FileNotComplete
from pipeline.models import Job, JobState
from pipeline.repositories import jobs
from pipeline.repositories.jobs import NewJob
from tests.integration.test_queues_support import (
    BrokerUnderTest,
    FailingFirst,
    any_broker,
    redis_server,
    running_worker,
    wait_for,
)
from tests.support.databases import ONLY_SQLITE

__all__ = ["any_broker", "redis_server"]  # fixtures, imported to be found

GAVE_UP = FileNotComplete("still being written after every retry")


async def _failed_job(database: Database, index: int) -> int:
    """A job as the actor leaves it when transient failures are exhausted."""

    async def write(tx: Connection) -> int:
        now = utc_now()
        job_id = await jobs.insert_job(tx, NewJob(f"/data/job-{index}.fits", 2880, 1, "watch"), now)
        attempt = await jobs.start_attempt(tx, job_id, "host:1", now, message_id=f"m{index}")
        assert attempt is not None
        await jobs.mark_failed(tx, job_id, GAVE_UP, now)
        await jobs.finish_attempt(tx, job_id, attempt, "failed", now, GAVE_UP)
        return job_id

    return await database.run_in_transaction(write)


async def dead_jobs(database: Database, under_test: BrokerUnderTest, count: int) -> list[int]:
    """``count`` failed jobs whose messages a worker dead-lettered, in this order."""
    job_ids = [await _failed_job(database, index) for index in range(count)]
    for job_id in job_ids:
        await asyncio.to_thread(under_test.send, job_id)
    consumer, held = await asyncio.to_thread(under_test.take, count)
    by_job = {message.args[0]: message for message in held}
    for job_id in job_ids:  # the order of death is the order listed
        consumer.nack(by_job[job_id])
    consumer.close()
    under_test.consumers.remove(consumer)
    await asyncio.to_thread(wait_for, under_test.figures, lambda f: f.dead == count)
    return job_ids


async def _job(database: Database, job_id: int) -> Job:
    async with database.transaction(write=False) as tx:
        found = await jobs.get_job(tx, job_id)
    assert found is not None
    return found


def _ids(*message_ids: str) -> DeadLetterSelection:
    return DeadLetterSelection(message_ids=list(message_ids))


EVERY = DeadLetterSelection(all=True)


async def test_listed_with_their_jobs_page_by_page(
    any_broker: BrokerUnderTest, database: Database
) -> None:
    job_ids = await dead_jobs(database, any_broker, 3)
    first = await dead_letter_page(database, any_broker.probe, 2, None)
    assert first.broker_error is None and first.dead_letters is not None
    assert first.next_cursor == "o2"
    second = await dead_letter_page(database, any_broker.probe, 2, first.next_cursor)
    assert second.dead_letters is not None and second.next_cursor is None
    letters = [*first.dead_letters, *second.dead_letters]
    # In the order of death (Redis orders deaths within one millisecond by id).
    assert sorted(letter.job_id for letter in letters if letter.job_id) == job_ids
    died = [letter.died_at for letter in letters]
    assert None not in died and died == sorted(died)  # type: ignore[type-var]
    for letter in letters:
        assert letter.queue == any_broker.queue and letter.actor == "ingest_file"
        assert letter.path == f"/data/job-{job_ids.index(letter.job_id)}.fits"
        assert letter.job_state is JobState.FAILED and letter.attempts == 1
        assert (letter.error_code, letter.error_message) == (GAVE_UP.code, GAVE_UP.message)
        assert letter.created_at is not None


async def test_requeue_one_then_all(any_broker: BrokerUnderTest, database: Database) -> None:
    job_ids = await dead_jobs(database, any_broker, 3)
    letters = (await dead_letter_page(database, any_broker.probe, 10, None)).dead_letters
    assert letters is not None
    first = letters[0].job_id
    assert first is not None
    one = await requeue_dead_letters(database, any_broker.probe, _ids(letters[0].message_id))
    [requeued] = one.requeued
    assert (requeued.job_id, requeued.job_state, one.not_found) == (first, JobState.QUEUED, [])
    job = await _job(database, first)
    assert job.state is JobState.QUEUED and job.message_id == requeued.new_message_id
    assert job.finished_at is None and job.enqueued_at is not None
    assert job.attempts == 1 and job.error_code == GAVE_UP.code  # history kept
    figures = any_broker.figures()
    assert (figures.ready, figures.dead) == (1, 2)
    _, [fresh] = await asyncio.to_thread(any_broker.take, 1)
    assert fresh.args[0] == first and "retries" not in fresh.options
    assert _delivery(fresh) == requeued.new_message_id != letters[0].message_id
    rest = await requeue_dead_letters(database, any_broker.probe, EVERY)
    assert sorted(item.job_id for item in rest.requeued if item.job_id) == sorted(
        job_id for job_id in job_ids if job_id != first
    )
    assert any_broker.figures().dead == 0
    for job_id in job_ids:
        assert (await _job(database, job_id)).state is JobState.QUEUED


async def test_purge_one_then_all(any_broker: BrokerUnderTest, database: Database) -> None:
    job_ids = await dead_jobs(database, any_broker, 3)
    letters = (await dead_letter_page(database, any_broker.probe, 10, None)).dead_letters
    assert letters is not None
    one = await purge_dead_letters(any_broker.probe, _ids(letters[1].message_id, "no-such-id"))
    assert [(p.message_id, p.job_id) for p in one.purged] == [
        (letters[1].message_id, letters[1].job_id)
    ]
    assert one.not_found == ["no-such-id"]
    assert any_broker.figures().dead == 2
    rest = await purge_dead_letters(any_broker.probe, EVERY)
    assert sorted(p.job_id for p in rest.purged if p.job_id) == sorted(
        job_id for job_id in job_ids if job_id != letters[1].job_id
    )
    figures = any_broker.figures()
    assert (figures.ready, figures.dead) == (0, 0)
    for job_id in job_ids:  # a purge leaves the jobs as they ended
        job = await _job(database, job_id)
        assert job.state is JobState.FAILED and job.error_code == GAVE_UP.code
    again = await purge_dead_letters(any_broker.probe, _ids(letters[0].message_id))
    assert (again.purged, again.not_found) == ([], [letters[0].message_id])


async def test_requeueing_what_is_gone_changes_no_job(
    any_broker: BrokerUnderTest, database: Database
) -> None:
    [job_id] = await dead_jobs(database, any_broker, 1)
    result = await requeue_dead_letters(database, any_broker.probe, _ids("no-such-id"))
    assert (result.requeued, result.not_found) == ([], ["no-such-id"])
    assert (await _job(database, job_id)).state is JobState.FAILED
    assert any_broker.figures().dead == 1


def _never_run_bundle(jobs: list[list[Any]]) -> None:
    raise AssertionError("no worker runs in these tests")


async def _running_job(database: Database, index: int) -> int:
    """A job another worker is running now."""

    async def write(tx: Connection) -> int:
        now = utc_now()
        job_id = await jobs.insert_job(tx, NewJob(f"/data/job-{index}.fits", 2880, 1, "watch"), now)
        await jobs.start_attempt(tx, job_id, "host:2", now, message_id="elsewhere")
        return job_id

    return await database.run_in_transaction(write)


async def dead_bundle(
    database: Database, under_test: BrokerUnderTest
) -> tuple[list[int], int, list[list[Any]]]:
    """A dead bundle message (two failed jobs, one another worker runs): the
    failed ids, the running id and the files it carries.

    Several small files travel in one ``ingest_files`` message; it dies only
    when sending its files on failed until Dramatiq's retries ran out.
    """
    failed = [await _failed_job(database, index) for index in range(2)]
    running = await _running_job(database, 2)
    bundle = dramatiq.actor(
        _never_run_bundle, broker=under_test.broker, actor_name="ingest_files",
        queue_name=under_test.queue,
    )  # fmt: skip
    files = [[job_id, f"/data/job-{job_id}.fits", 2880, 1, "/data"] for job_id in failed]
    files.append([running, f"/data/job-{running}.fits", 2880, 1, "/data"])
    await asyncio.to_thread(bundle.send, files)
    consumer, [held] = await asyncio.to_thread(under_test.take, 1)
    consumer.nack(held)
    consumer.close()  # RabbitMQ's consumer settles its nacks as it closes
    under_test.consumers.remove(consumer)
    await asyncio.to_thread(wait_for, under_test.figures, lambda f: f.dead == 1)
    return failed, running, files


async def test_a_dead_bundle_names_its_jobs_and_requeues_the_failed_ones(
    any_broker: BrokerUnderTest, database: Database
) -> None:
    failed, running, files = await dead_bundle(database, any_broker)
    carried = [*failed, running]
    [letter] = (await dead_letter_page(database, any_broker.probe, 10, None)).dead_letters or []
    assert (letter.actor, letter.job_ids, letter.job_id, letter.path) == (
        "ingest_files",
        carried,
        None,
        None,
    )
    result = await requeue_dead_letters(database, any_broker.probe, _ids(letter.message_id))
    [requeued] = result.requeued
    assert (requeued.job_ids, requeued.job_id) == (carried, None)
    for job_id in failed:  # back to queued, waiting for the fresh bundle
        job = await _job(database, job_id)
        assert job.state is JobState.QUEUED and job.message_id == requeued.new_message_id
    other = await _job(database, running)  # another worker's: left to it
    assert other.state is JobState.RUNNING and other.message_id == "elsewhere"
    _, [fresh] = await asyncio.to_thread(any_broker.take, 1)
    assert fresh.actor_name == "ingest_files" and fresh.args[0] == files


def _delivery(message: Any) -> str:
    return str(message.options.get("redis_message_id") or message.message_id)


# --- a requeued job really runs again, on a real worker ------------------------------


@ONLY_SQLITE  # the statements were checked on both databases above
async def test_a_requeued_job_runs_again_and_succeeds(
    any_broker: BrokerUnderTest, migrated_database_url: str, database: Database, tmp_path: Path
) -> None:
    parser = FailingFirst(failures=1)
    running = running_worker(any_broker, database, migrated_database_url, tmp_path, parser)
    async with running as run:
        [job_id] = await run.admit(tmp_path / "late.fits")
        await run.wait_job(job_id, JobState.FAILED)  # gave up at once: max_retries is 0
        await asyncio.to_thread(wait_for, run.figures, lambda f: f.dead == 1)
        result = await requeue_dead_letters(database, run.probe, EVERY)
        assert [item.job_id for item in result.requeued] == [job_id]
        job = await run.wait_job(job_id, JobState.SUCCEEDED)
        assert run.figures().dead == 0
    async with database.transaction(write=False) as tx:
        attempts = await jobs.list_attempts(tx, job_id)
    assert job.attempts == 2 and job.product_id is not None
    assert [a.outcome for a in attempts] == ["failed", "succeeded"]
