"""The ingest actor on a real Dramatiq worker (memory broker, worker threads):
outcomes recorded, permanent errors never retried, transient ones retried
with the job showing it, redelivery a no-op; a bundle's files each ending as
they would have alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest

from pipeline.db import Database
from pipeline.errors import FileNotComplete
from pipeline.ingest.parse import ParsedFile, parse_file
from pipeline.outbox import Admission, IngestMessage
from pipeline.repositories import jobs
from pipeline.settings import Settings
from tests.support.catalogue import seen, write_fits
from workers.runtime import WorkerRuntime, install


def _settings(url: str, **worker: Any) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": url, "busy_retry_seconds": 5.0},
            "broker": {"url": "memory://"},
            "worker": {"min_backoff_seconds": 0.05, "max_backoff_seconds": 0.2, **worker},
        }
    )


@pytest.fixture
def running(migrated_database_url: str) -> Iterator[WorkerRuntime]:
    runtime = install(_settings(migrated_database_url))
    yield from _run_worker(runtime)


def _run_worker(runtime: WorkerRuntime) -> Iterator[WorkerRuntime]:
    worker = dramatiq.Worker(runtime.broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        yield runtime
    finally:
        worker.stop(timeout=10_000)


async def _wait_until_finished(database: Database, count: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done = await database.fetch_value(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('succeeded', 'failed')"
        )
        if int(done) >= count:
            return
        await asyncio.sleep(0.05)
    rows = await database.fetch_all("SELECT id, state, error_code FROM jobs")
    raise AssertionError(f"jobs did not finish: {rows}")


async def test_good_and_bad_files_end_with_their_outcomes(
    running: WorkerRuntime, database: Database, tmp_path: Path
) -> None:
    good = [write_fits(tmp_path / f"good-{i}.fits", i) for i in range(12)]
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n")
    empty = tmp_path / "empty.fits"
    empty.write_bytes(b"")
    await Admission(database, running, [tmp_path]).admit([seen(p) for p in [*good, bad, empty]])
    await _wait_until_finished(database, 14)
    rows = await database.fetch_all("SELECT path, state, attempts, error_code FROM jobs")
    by_path = {row["path"]: row for row in rows}
    assert {by_path[str(p)]["state"] for p in good} == {"succeeded"}
    assert (by_path[str(bad)]["state"], by_path[str(bad)]["error_code"]) == ("failed", "not_fits")
    assert by_path[str(empty)]["error_code"] == "empty_file"
    # Permanent errors are never retried.
    assert {row["attempts"] for row in rows} == {1}
    assert int(await database.fetch_value("SELECT COUNT(*) FROM products")) == 12
    assert running.broker.dead_letters == []  # type: ignore[attr-defined]


async def test_redelivered_message_for_a_finished_job_is_a_no_op(
    running: WorkerRuntime, database: Database, tmp_path: Path
) -> None:
    path = write_fits(tmp_path / "once.fits")
    [job_id] = await Admission(database, running, [tmp_path]).admit([seen(path)])
    await _wait_until_finished(database, 1)
    again = seen(path)
    running.send(IngestMessage(job_id, again.path, again.size, again.mtime_ns, str(tmp_path)))
    running.broker.join(running.queue)  # type: ignore[attr-defined]
    async with database.transaction(write=False) as tx:
        job = await jobs.get_job(tx, job_id)
        attempts = await jobs.list_attempts(tx, job_id)
    assert job is not None and job.state.value == "succeeded" and job.attempts == 1
    assert len(attempts) == 1
    assert int(await database.fetch_value("SELECT COUNT(*) FROM products")) == 1


class FlakyParser:
    """Reads files for real, but the first ``failures`` reads of each path (of
    those in ``only``, if given) find it still being written (the transient
    fault a slow writer causes)."""

    def __init__(self, failures: int, only: set[Path] | None = None) -> None:
        self.failures = failures
        self.only = {str(path) for path in only} if only is not None else None
        self.calls: dict[str, int] = {}

    def __call__(self, path: str, limits: Any, roots: Any) -> ParsedFile:
        self.calls[path] = self.calls.get(path, 0) + 1
        if self.calls[path] <= self.failures and (self.only is None or path in self.only):
            raise FileNotComplete(f"{path} changed while it was read")
        return parse_file(path, limits, roots)


async def test_transient_failures_are_retried_then_succeed(
    migrated_database_url: str, database: Database, tmp_path: Path
) -> None:
    parser = FlakyParser(failures=2)
    runtime = install(_settings(migrated_database_url), parser=parser)
    for _ in _run_worker(runtime):
        path = write_fits(tmp_path / "slow.fits")
        [job_id] = await Admission(database, runtime, [tmp_path]).admit([seen(path)])
        await _wait_until_finished(database, 1)
    async with database.transaction(write=False) as tx:
        job = await jobs.get_job(tx, job_id)
        attempts = await jobs.list_attempts(tx, job_id)
    assert job is not None and job.state.value == "succeeded" and job.attempts == 3
    assert [a.outcome for a in attempts] == ["retrying", "retrying", "succeeded"]
    assert [a.error_code for a in attempts] == ["file_not_complete", "file_not_complete", None]


async def test_exhausted_retries_fail_with_the_last_code_and_dead_letter(
    migrated_database_url: str, database: Database, tmp_path: Path
) -> None:
    runtime = install(_settings(migrated_database_url, max_retries=2), parser=FlakyParser(99))
    for _ in _run_worker(runtime):
        path = write_fits(tmp_path / "never.fits")
        [job_id] = await Admission(database, runtime, [tmp_path]).admit([seen(path)])
        await _wait_until_finished(database, 1)
        deadline = time.monotonic() + 10
        while not runtime.broker.dead_letters and time.monotonic() < deadline:  # type: ignore[attr-defined]
            await asyncio.sleep(0.05)
        assert len(runtime.broker.dead_letters) == 1  # type: ignore[attr-defined]
    async with database.transaction(write=False) as tx:
        job = await jobs.get_job(tx, job_id)
    assert job is not None and job.state.value == "failed"
    assert job.error_code == "file_not_complete" and job.attempts == 3


async def test_a_file_truncated_and_staying_truncated_fails_after_the_grace(
    migrated_database_url: str, database: Database, tmp_path: Path
) -> None:
    settings = _settings(migrated_database_url, incomplete_grace_seconds=1.0)
    runtime = install(settings)
    for _ in _run_worker(runtime):
        cut = write_fits(tmp_path / "cut.fits")
        cut.write_bytes(cut.read_bytes()[:4000])  # a writer that never finished
        completed = write_fits(tmp_path / "late.fits", index=3)
        whole = completed.read_bytes()
        completed.write_bytes(whole[:3000])  # ... and one that finishes in time
        admission = Admission(database, runtime, [tmp_path])
        [cut_job, late_job] = await admission.admit([seen(cut), seen(completed)])
        # The writer finishes (appending the rest: the file never shrinks, as
        # rewriting it from zero could be read, honestly, as an empty file).
        with completed.open("ab") as rest:
            rest.write(whole[3000:])
        await _wait_until_finished(database, 2)
    async with database.transaction(write=False) as tx:
        cut_record = await jobs.get_job(tx, cut_job)
        late_record = await jobs.get_job(tx, late_job)
        cut_attempts = await jobs.list_attempts(tx, cut_job)
    assert cut_record is not None and cut_record.state.value == "failed"
    assert cut_record.error_code == "truncated" and cut_record.attempts >= 2
    assert cut_attempts[0].error_code == "file_not_complete"
    assert late_record is not None and late_record.state.value == "succeeded"


async def test_quarantine_moves_bad_files_into_a_mirrored_tree(
    migrated_database_url: str, database: Database, tmp_path: Path
) -> None:
    root, quarantine = tmp_path / "root", tmp_path / "quarantine"
    settings = _settings(migrated_database_url, quarantine_dir=str(quarantine))
    runtime = install(settings)
    for _ in _run_worker(runtime):
        bad = root / "night" / "broken.fits"
        bad.parent.mkdir(parents=True)
        bad.write_bytes(b"<html>gateway timeout</html>")
        good = write_fits(root / "night" / "fine.fits")
        [bad_job, _] = await Admission(database, runtime, [root]).admit([seen(bad), seen(good)])
        await _wait_until_finished(database, 2)
    assert not bad.exists() and good.exists()
    moved = quarantine / "night" / "broken.fits"
    assert moved.read_bytes() == b"<html>gateway timeout</html>"
    async with database.transaction(write=False) as tx:
        job = await jobs.get_job(tx, bad_job)
    assert job is not None and job.error_code == "not_fits"
    assert job.error_details is not None and job.error_details["quarantined_to"] == str(moved)


class SlowParser:
    """A read that takes longer than the worker's time limit."""

    def __call__(self, path: str, limits: Any, roots: Any) -> ParsedFile:
        time.sleep(3)
        return parse_file(path, limits, roots)


async def test_a_message_past_its_time_limit_fails_the_job(
    migrated_database_url: str, database: Database, tmp_path: Path
) -> None:
    settings = _settings(migrated_database_url, time_limit_seconds=0.5)
    runtime = install(settings, parser=SlowParser())
    for _ in _run_worker(runtime):
        path = write_fits(tmp_path / "slow.fits")
        [job_id] = await Admission(database, runtime, [tmp_path]).admit([seen(path)])
        await _wait_until_finished(database, 1)
    async with database.transaction(write=False) as tx:
        job = await jobs.get_job(tx, job_id)
        attempts = await jobs.list_attempts(tx, job_id)
    assert job is not None and job.state.value == "failed" and job.error_code == "limit_exceeded"
    assert job.error_details == {"limit": "time_limit_seconds", "value": 0.5}
    assert [a.outcome for a in attempts] == ["failed"]


async def _message_groups(database: Database) -> list[int]:
    """How many jobs share each message id, largest first."""
    rows = await database.fetch_all(
        "SELECT COUNT(*) AS n FROM jobs GROUP BY message_id ORDER BY COUNT(*) DESC"
    )
    return [int(row["n"]) for row in rows]


async def test_a_bursts_files_travel_in_bundles_and_each_ends_as_it_would_alone(
    migrated_database_url: str, database: Database, tmp_path: Path
) -> None:
    good = [write_fits(tmp_path / f"good-{i}.fits", i) for i in range(8)]
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"<html>gateway timeout</html>")
    slow = write_fits(tmp_path / "slow.fits", 8)
    runtime = install(_settings(migrated_database_url), parser=FlakyParser(1, only={slow}))
    assert runtime.settings.broker.bundle_size == 8  # the default
    admitted = await Admission(database, runtime, [tmp_path]).admit(
        [seen(p) for p in [*good, bad, slow]]
    )
    # Ten files sent at once: two messages (the memory broker takes one
    # message a call, so the outbox hands it eight files, then two), each job
    # naming its message.
    assert runtime.adapter.depth(runtime.broker, runtime.queue).ready == 2
    assert await _message_groups(database) == [8, 2]
    for _ in _run_worker(runtime):
        await _wait_until_finished(database, 10)
        runtime.broker.join(runtime.queue)  # type: ignore[attr-defined]
    by_id = {}
    async with database.transaction(write=False) as tx:
        for job_id in admitted:
            job = await jobs.get_job(tx, job_id)
            assert job is not None
            by_id[job.path] = (job, [a.outcome for a in await jobs.list_attempts(tx, job_id)])
    assert {by_id[str(p)][1] == ["succeeded"] for p in good} == {True}
    assert (by_id[str(bad)][0].error_code, by_id[str(bad)][1]) == ("not_fits", ["failed"])
    # The slow file was retried on its own, after its backoff, and then succeeded.
    assert by_id[str(slow)][1] == ["retrying", "succeeded"]
    assert int(await database.fetch_value("SELECT COUNT(*) FROM products")) == 9
    assert runtime.broker.dead_letters == []  # type: ignore[attr-defined]


async def test_a_bundles_file_given_up_on_is_dead_lettered_alone(
    migrated_database_url: str, database: Database, tmp_path: Path
) -> None:
    files = [write_fits(tmp_path / f"f-{i}.fits", i) for i in range(6)]
    doomed = files[2]
    parser = FlakyParser(99, only={doomed})  # transient, and no retry allowed:
    runtime = install(_settings(migrated_database_url, max_retries=0), parser=parser)
    for _ in _run_worker(runtime):
        admitted = await Admission(database, runtime, [tmp_path]).admit([seen(p) for p in files])
        await _wait_until_finished(database, 6)
        deadline = time.monotonic() + 10
        while not runtime.broker.dead_letters and time.monotonic() < deadline:  # type: ignore[attr-defined]
            await asyncio.sleep(0.05)
        runtime.broker.join(runtime.queue)  # type: ignore[attr-defined]
    # One dead letter, for the one file, as if it had come alone.
    [letter] = runtime.broker.dead_letters  # type: ignore[attr-defined]
    doomed_id = admitted[files.index(doomed)]
    assert letter.actor_name == "ingest_file"
    assert list(letter.args[:2]) == [doomed_id, str(doomed)]
    async with database.transaction(write=False) as tx:
        states = {job_id: await jobs.get_job(tx, job_id) for job_id in admitted}
    assert states[doomed_id] is not None and states[doomed_id].error_code == "file_not_complete"
    others = [job for job_id, job in states.items() if job_id != doomed_id]
    assert {job.state.value for job in others if job is not None} == {"succeeded"}
    assert parser.calls[str(doomed)] == 1  # never read again
