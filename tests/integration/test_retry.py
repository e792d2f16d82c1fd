"""Retrying failed jobs on a real Dramatiq worker (memory broker, worker threads),
on SQLite and PostgreSQL: files fail, are fixed on disk, are retried in bulk by
error code and by path prefix and succeed; the history keeps every job and
every attempt as it happened."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline.api.jobs_views import failure_report, file_history
from pipeline.clock import utc_now
from pipeline.db import Database
from pipeline.errors import Conflict, NotFound
from pipeline.outbox import Admission
from pipeline.reconciler import Reconciler
from pipeline.repositories import jobs
from pipeline.repositories.status import JobQuery
from pipeline.retry import Retrier, RetrySelection
from pipeline.settings import ReconcilerSettings
from tests.support.catalogue import write_fits
from tests.support.inprocess import (
    BAD_BYTES,
    running_worker,
    seen,
    wait_for_batch,
    wait_until_finished,
)
from workers.runtime import WorkerRuntime


@pytest.fixture
def worker(migrated_database_url: str) -> Iterator[WorkerRuntime]:
    with running_worker(migrated_database_url) as runtime:
        yield runtime


@dataclass
class Failed:
    """A directory ingested once: some files good, some failed."""

    root: Path
    not_fits: list[Path]  # night1: HTML pages saved as .fits
    empty: list[Path]  # night2: zero bytes
    good: list[Path]


async def ingest_with_failures(database: Database, sender: WorkerRuntime, root: Path) -> Failed:
    not_fits = [root / "night1" / f"page{i}.fits" for i in range(3)]
    empty = [root / "night2" / f"empty{i}.fits" for i in range(2)]
    for path in not_fits:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(BAD_BYTES)
    for path in empty:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    good = [
        write_fits(root / "night1" / "good.fits", 0),
        write_fits(root / "night2" / "ok.fits", 1),
    ]
    files = [seen(path) for path in [*not_fits, *empty, *good]]
    await Admission(database, sender, [root]).admit(files)
    await wait_until_finished(database)
    return Failed(root, not_fits, empty, good)


async def test_bulk_retry_by_code_after_fixing_the_files(
    worker: WorkerRuntime, database: Database, tmp_path: Path
) -> None:
    failed = await ingest_with_failures(database, worker, tmp_path / "in")
    for index, path in enumerate(failed.not_fits):
        write_fits(path, 10 + index)  # the operator puts the right bytes in place
    retrier = Retrier(database, worker, [failed.root])

    batch_id = await retrier.retry_all(RetrySelection(error_code="not_fits"))
    progress = await wait_for_batch(database, batch_id)

    assert (progress.kind, progress.total, progress.closed) == ("retry", 3, True)
    assert progress.counts.succeeded == 3 and progress.counts.failed == 0
    assert progress.finished_at is not None
    async with database.transaction(write=False) as tx:
        report = await failure_report(tx, JobQuery())
        history = await file_history(tx, str(failed.not_fits[0]), 100)
    groups = {group.error_code: group for group in report.groups}
    assert (groups["not_fits"].failed, groups["not_fits"].unresolved) == (3, 0)
    assert groups["not_fits"].fixed == 3
    # The empty files were not selected: still unresolved, never retried.
    assert (groups["empty_file"].failed, groups["empty_file"].unresolved) == (2, 2)
    # Both jobs, newest first, each with its own attempt; the failure as it was.
    retried, original = history.jobs
    assert retried.job.retry_of == original.job.id and retried.job.source == "retry"
    assert retried.job.batch_id == batch_id and retried.job.state.value == "succeeded"
    assert original.job.state.value == "failed" and original.job.error_code == "not_fits"
    assert [a.outcome for a in original.attempts] == ["failed"]
    assert [a.error_code for a in original.attempts] == ["not_fits"]
    assert [a.outcome for a in retried.attempts] == ["succeeded"]
    ended = original.attempts[0].finished_at
    assert ended is not None and ended <= retried.attempts[0].started_at
    # The retry recorded the file as it is now, not as it was.
    assert retried.job.size == failed.not_fits[0].stat().st_size != original.job.size
    assert [product.is_current for product in history.products] == [True]


async def test_bulk_retry_by_path_prefix_after_fixing_the_files(
    worker: WorkerRuntime, database: Database, tmp_path: Path
) -> None:
    failed = await ingest_with_failures(database, worker, tmp_path / "in")
    write_fits(failed.empty[0], 20)  # one fixed, one still empty
    prefix = str(failed.root / "night2") + "/"

    batch_id = await Retrier(database, worker, [failed.root]).retry_all(
        RetrySelection(path_prefix=prefix)
    )
    progress = await wait_for_batch(database, batch_id)

    assert progress.total == 2  # only the failures under night2/
    assert (progress.counts.succeeded, progress.counts.failed) == (1, 1)
    async with database.transaction(write=False) as tx:
        fixed = await file_history(tx, str(failed.empty[0]), 100)
        still = await file_history(tx, str(failed.empty[1]), 100)
        report = await failure_report(tx, JobQuery(path_prefix=prefix))
    assert [d.job.state.value for d in fixed.jobs] == ["succeeded", "failed"]
    assert [d.job.error_code for d in still.jobs] == ["empty_file", "empty_file"]
    assert still.jobs[0].job.retry_of == still.jobs[1].job.id
    [group] = report.groups
    # Two failures of the first round plus the one retry that failed again.
    assert (group.error_code, group.failed, group.unresolved, group.fixed) == (
        "empty_file",
        3,
        1,
        1,
    )
    assert group.examples[0].job_id == still.jobs[0].job.id and group.examples[0].unresolved


async def test_retrying_one_job_and_what_cannot_be_retried(
    worker: WorkerRuntime, database: Database, tmp_path: Path
) -> None:
    failed = await ingest_with_failures(database, worker, tmp_path / "in")
    retrier = Retrier(database, worker, [failed.root])
    async with database.transaction(write=False) as tx:
        [page] = await jobs.jobs_for_path(tx, str(failed.not_fits[1]))
        [good] = await jobs.jobs_for_path(tx, str(failed.good[0]))
    write_fits(failed.not_fits[1], 30)

    new_id = await retrier.retry_job(page.id)
    await wait_until_finished(database)

    async with database.transaction(write=False) as tx:
        retried = await jobs.get_job(tx, new_id)
        original = await jobs.get_job(tx, page.id)
    assert retried is not None and retried.state.value == "succeeded"
    assert retried.retry_of == page.id and retried.batch_id is None
    assert original == page  # a finished job is never re-opened
    with pytest.raises(Conflict) as not_newest:
        await retrier.retry_job(page.id)
    assert not_newest.value.details["newest_job_id"] == new_id
    with pytest.raises(Conflict) as succeeded:
        await retrier.retry_job(good.id)
    assert succeeded.value.details["state"] == "succeeded"
    with pytest.raises(NotFound):
        await retrier.retry_job(10**9)


async def test_concurrent_bulk_retries_make_one_retry_per_failure(
    worker: WorkerRuntime, database: Database, tmp_path: Path
) -> None:
    failed = await ingest_with_failures(database, worker, tmp_path / "in")
    # No sender: the retries stay queued, so nothing resolves them meanwhile.
    retriers = [Retrier(database, None, [failed.root], chunk_size=2) for _ in range(3)]
    selection = RetrySelection(path_prefix=str(failed.root) + "/")

    batch_ids = await asyncio.gather(*(r.retry_all(selection) for r in retriers))

    rows = await database.fetch_all("SELECT retry_of, batch_id FROM jobs WHERE source = 'retry'")
    retried = sorted(int(row["retry_of"]) for row in rows)
    assert len(retried) == len(set(retried)) == len(failed.not_fits) + len(failed.empty)
    totals = await database.fetch_all("SELECT id, total, closed FROM batches WHERE kind = 'retry'")
    assert {int(row["id"]) for row in totals} == set(batch_ids)
    assert sum(int(row["total"]) for row in totals) == len(retried)
    assert all(row["closed"] for row in totals)


async def test_retries_committed_without_a_sender_are_sent_by_the_reconciler(
    worker: WorkerRuntime, database: Database, tmp_path: Path
) -> None:
    failed = await ingest_with_failures(database, worker, tmp_path / "in")
    for index, path in enumerate(failed.not_fits):
        write_fits(path, 40 + index)
    # What `fitsflow jobs retry` does against the memory:// queue of a `fitsflow run`.
    batch_id = await Retrier(database, None, [failed.root]).retry_all(
        RetrySelection(error_code="not_fits")
    )
    unsent = await database.fetch_value(
        "SELECT COUNT(*) FROM jobs WHERE batch_id = :b AND state = 'queued'"
        " AND enqueued_at IS NULL",
        {"b": batch_id},
    )
    assert int(unsent) == 3

    reconciler = Reconciler(database, worker, worker, ReconcilerSettings(), [failed.root])
    resent = await reconciler.run_once(now=utc_now() + timedelta(minutes=1))
    progress = await wait_for_batch(database, batch_id)

    assert resent == 3
    assert (progress.total, progress.counts.succeeded) == (3, 3)


async def test_a_retry_of_a_file_now_gone_fails_as_missing(
    worker: WorkerRuntime, database: Database, tmp_path: Path
) -> None:
    failed = await ingest_with_failures(database, worker, tmp_path / "in")
    failed.not_fits[2].unlink()
    async with database.transaction(write=False) as tx:
        [page] = await jobs.jobs_for_path(tx, str(failed.not_fits[2]))

    new_id = await Retrier(database, worker, [failed.root]).retry_job(page.id)
    await wait_until_finished(database)

    async with database.transaction(write=False) as tx:
        retried = await jobs.get_job(tx, new_id)
    assert retried is not None and (retried.size, retried.mtime_ns) == (None, None)
    assert (retried.state.value, retried.error_code) == ("failed", "file_missing")
