"""Group commit keeps every file's all-or-nothing outcome and the identity rules."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from pipeline.clock import utc_now
from pipeline.db import Connection, Database
from pipeline.errors import IntegrityViolation, WorkerStopping
from pipeline.ingest.candidates import Candidate
from pipeline.ingest.groups import GroupWriter
from pipeline.ingest.oneshot import ingest_candidates
from pipeline.ingest.parse import parse_file
from pipeline.ingest.recording import record_products
from pipeline.ingest.service import IngestResult, IngestService, JobRun
from pipeline.models import Outcome
from pipeline.outbox import Admission
from pipeline.repositories import batches
from pipeline.retrypolicy import RetryPolicy
from pipeline.settings import ReaderSettings
from pipeline.watcher.model import SeenFile
from tests.acceptance.test_jobs_api import RecordingSender
from tests.support.catalogue import write_fits


async def _count(database: Database, sql: str) -> int:
    return int(await database.fetch_value(sql))


async def test_a_failing_item_fails_alone_and_the_rest_commit(database: Database) -> None:
    await database.execute("CREATE TABLE marks (n INTEGER PRIMARY KEY)")

    async def bulk(tx: Connection, items: Sequence[int]) -> list[int]:
        for item in items:
            await tx.execute("INSERT INTO marks (n) VALUES (:n)", {"n": abs(item)})
        return list(items)

    async def single(tx: Connection, item: int) -> int:
        [result] = await bulk(tx, [item])
        return result

    writer: GroupWriter[int, int] = GroupWriter(database, bulk, single)
    await database.execute("INSERT INTO marks (n) VALUES (3)")  # item -3 will collide
    results = await asyncio.gather(
        *(writer.submit(n) for n in (1, 2, -3, 4, 5)), return_exceptions=True
    )
    assert results[:2] == [1, 2] and results[3:] == [4, 5]
    assert isinstance(results[2], IntegrityViolation)
    assert await _count(database, "SELECT COUNT(*) FROM marks") == 5
    assert writer.items == 5 and writer.groups <= 5


async def test_bulk_recording_follows_the_identity_rules(
    database: Database, tmp_path: Path
) -> None:
    limits = ReaderSettings()
    recorded = write_fits(tmp_path / "recorded.fits", 1)
    async with database.transaction() as tx:
        [(first_id, _)] = await record_products(
            tx, [parse_file(str(recorded), limits, None)], utc_now()
        )
    # One group: new content, the same new content twice, a copy of recorded
    # content, and new bytes at the recorded path.
    fresh = write_fits(tmp_path / "fresh.fits", 2)
    twin_a = write_fits(tmp_path / "twin-a.fits", 3)
    twin_b = tmp_path / "twin-b.fits"
    shutil.copyfile(twin_a, twin_b)
    copy = tmp_path / "copy-of-recorded.fits"
    shutil.copyfile(recorded, copy)
    write_fits(recorded, 4)
    group = [fresh, twin_a, twin_b, copy, recorded]
    async with database.transaction() as tx:
        results = await record_products(
            tx, [parse_file(str(p), limits, None) for p in group], utc_now()
        )
    outcomes = [outcome for _, outcome in results]
    assert outcomes[0] is Outcome.CREATED
    assert sorted([outcomes[1], outcomes[2]]) == sorted([Outcome.CREATED, Outcome.DUPLICATE])
    assert results[1][0] == results[2][0]  # one product for the twins
    # The recorded file was rewritten in this group, so its old content now
    # lives only at the copy's path: a move, not a duplicate.
    assert results[3] == (first_id, Outcome.MOVED)
    # The path's old content has moved away already, so its new bytes are new
    # content at a free path (in the other order they supersede it: both true).
    assert outcomes[4] in {Outcome.CREATED, Outcome.NEW_VERSION}
    assert await _count(database, "SELECT COUNT(*) FROM products") == 4
    assert await _count(database, "SELECT COUNT(*) FROM products WHERE is_current") == 4
    current = await database.fetch_all("SELECT id, path FROM products WHERE is_current")
    at = {str(row["path"]): int(row["id"]) for row in current}
    assert at[str(copy)] == first_id and at[str(recorded)] == results[4][0]


async def _admit(database: Database, root: Path, paths: Sequence[Path]) -> list[int]:
    """Queue one job per path through the outbox; the job ids in order."""
    sender = RecordingSender()
    seen = [SeenFile(str(p), root, p.stat().st_size, p.stat().st_mtime_ns, "closed") for p in paths]
    await Admission(database, sender, [root]).admit(seen)
    return [message.job_id for message in sender.sent]


async def _run_all(
    service: IngestService, root: Path, job_ids: Sequence[int], grace: float = 0.0
) -> list[JobRun]:
    policy = RetryPolicy(3, 0.1, 0.1, 60)
    return await asyncio.gather(
        *(
            service.run_job(
                job_id, message_id=f"m{n}", retries_so_far=0, policy=policy,
                lease_seconds=60, root=root, incomplete_grace_seconds=grace,
            )
            for n, job_id in enumerate(job_ids, start=1)
        )
    )  # fmt: skip


@pytest.mark.parametrize("files", [40])
async def test_concurrent_successes_share_transactions(
    database: Database, tmp_path: Path, files: int
) -> None:
    paths = [write_fits(tmp_path / f"{i}.fits", i) for i in range(files)]
    service = IngestService(database, ReaderSettings())
    runs = await _run_all(service, tmp_path, await _admit(database, tmp_path, paths))
    assert all(run.result is not None and run.result.status == "succeeded" for run in runs)
    assert await _count(database, "SELECT COUNT(*) FROM products") == files
    assert await _count(database, "SELECT COUNT(*) FROM job_attempts") == files
    assert service._successes.groups < files  # they did share transactions
    assert service._reads.files == files and service._reads.groups < files  # and reads


async def test_a_read_refused_at_shutdown_is_a_transient_worker_stopping(
    database: Database, tmp_path: Path
) -> None:
    service = IngestService(database, ReaderSettings())
    path = str(write_fits(tmp_path / "late.fits"))
    await asyncio.get_running_loop().shutdown_default_executor()
    for size in (os.path.getsize(path), None):  # grouped, and alone
        parsed, failure = await service.parse(path, (tmp_path,), size)
        assert parsed is None and isinstance(failure, WorkerStopping) and failure.transient


async def test_concurrent_failures_and_retries_share_transactions(
    database: Database, tmp_path: Path
) -> None:
    # Half not FITS at all (fails at once), half cut short moments ago (the
    # writer may still be at work: retried later).
    broken = [tmp_path / f"text-{i}.fits" for i in range(20)]
    for path in broken:
        path.write_text("not a FITS file\n" * 200)
    cut = [write_fits(tmp_path / f"cut-{i}.fits", i) for i in range(20)]
    for path in cut:
        with path.open("r+b") as handle:
            handle.truncate(4000)
    service = IngestService(database, ReaderSettings())
    runs = await _run_all(
        service, tmp_path, await _admit(database, tmp_path, broken + cut), grace=3600
    )
    statuses = [run.result.status if run.result else None for run in runs]
    assert statuses == ["failed"] * 20 + ["retrying"] * 20
    assert [run.retry_in is not None for run in runs] == [False] * 20 + [True] * 20
    jobs_by_state = await database.fetch_all(
        "SELECT state, error_code, COUNT(*) AS n FROM jobs GROUP BY state, error_code"
    )
    assert {(r["state"], r["error_code"], r["n"]) for r in jobs_by_state} == {
        ("failed", "not_fits", 20),
        ("retrying", "file_not_complete", 20),
    }
    attempts = await database.fetch_all(
        "SELECT outcome, COUNT(*) AS n FROM job_attempts GROUP BY outcome ORDER BY outcome"
    )
    assert [(r["outcome"], r["n"]) for r in attempts] == [("failed", 20), ("retrying", 20)]
    assert await _count(database, "SELECT COUNT(*) FROM products") == 0
    assert all(path.read_text().startswith("not a FITS") for path in broken)  # untouched
    assert service._endings.items == 40 and service._endings.groups < 40


async def test_a_late_failure_never_overrides_a_finished_job(
    database: Database, tmp_path: Path
) -> None:
    # The actor's time limit can fire while the job's success is committing
    # in its group (the group commits it anyway): the job stays succeeded.
    from pipeline.errors import LimitExceeded

    path = write_fits(tmp_path / "done.fits", 1)
    service = IngestService(database, ReaderSettings())
    [job_id] = await _admit(database, tmp_path, [path])
    [run] = await _run_all(service, tmp_path, [job_id])
    assert run.result is not None and run.result.status == "succeeded"
    failed = await service.fail_job(job_id, LimitExceeded("too late", details={}))
    assert failed is False
    job = await database.fetch_one(
        "SELECT state, error_code, product_id FROM jobs WHERE id = :id", {"id": job_id}
    )
    assert job is not None
    assert (job["state"], job["error_code"]) == ("succeeded", None)
    assert job["product_id"] == run.result.product_id
    attempts = await database.fetch_all("SELECT outcome FROM job_attempts")
    assert [row["outcome"] for row in attempts] == ["succeeded"]


async def _poison_paths_named(database: Database, marker: str) -> None:
    """Make the database itself refuse any job whose path contains ``marker``."""
    if database.dialect == "sqlite":
        await database.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON jobs"
            f" WHEN NEW.path LIKE '%{marker}%' BEGIN SELECT RAISE(ABORT, 'poisoned path'); END"
        )
        return
    await database.execute(
        "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" IF NEW.path LIKE '%{marker}%' THEN RAISE EXCEPTION 'poisoned path'; END IF;"
        " RETURN NEW; END $$"
    )
    await database.execute(
        "CREATE TRIGGER poison BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION poison()"
    )


async def test_one_shot_ingests_share_transactions_and_keep_each_outcome(
    database: Database, tmp_path: Path
) -> None:
    # fitsflow ingest's files in flight: good ones, two with the same bytes,
    # and files that are not FITS, recorded together with a job each.
    good = [write_fits(tmp_path / f"good-{i}.fits", i) for i in range(12)]
    twin = tmp_path / "twin.fits"
    shutil.copyfile(good[0], twin)
    broken = [tmp_path / f"text-{i}.fits" for i in range(3)]
    for path in broken:
        path.write_text("not a FITS file\n" * 200)
    async with database.transaction() as tx:
        batch_id = await batches.create_batch(tx, "ingest", "test", utc_now())
    service = IngestService(database, ReaderSettings())
    paths = [*good, twin, *broken]
    results = await asyncio.gather(
        *(service.ingest_path(p, roots=[tmp_path], batch_id=batch_id) for p in paths)
    )
    assert [r.status for r in results] == ["succeeded"] * 13 + ["failed"] * 3
    assert [r.outcome for r in results[:13]] == [Outcome.CREATED] * 12 + [Outcome.DUPLICATE]
    assert results[12].product_id == results[0].product_id  # one content, one product
    assert {r.error.code for r in results[13:] if r.error} == {"not_fits"}
    assert service._one_shots.items == 16 and service._one_shots.groups < 16
    rows = await database.fetch_all(
        "SELECT j.id, j.path, j.state, j.error_code, j.batch_id, j.source, j.attempts,"
        " j.product_id, a.outcome, a.worker FROM jobs j JOIN job_attempts a ON a.job_id = j.id"
    )
    by_path = {row["path"]: row for row in rows}
    assert len(rows) == 16 and set(by_path) == {str(p) for p in paths}
    for result in results:
        row = by_path[result.path]
        assert row["id"] == result.job_id and row["product_id"] == result.product_id
        assert (row["batch_id"], row["source"], row["attempts"]) == (batch_id, "ingest", 1)
        assert row["worker"] == service.worker
        assert (row["state"], row["outcome"], row["error_code"]) == (
            ("succeeded", "succeeded", None)
            if result.status == "succeeded"
            else ("failed", "failed", "not_fits")
        )
    assert await _count(database, "SELECT COUNT(*) FROM products") == 12
    assert await _count(database, "SELECT COUNT(*) FROM hdus") == 12


async def test_a_one_shot_file_the_database_refuses_fails_alone(
    database: Database, tmp_path: Path
) -> None:
    await _poison_paths_named(database, "poison")
    paths = [write_fits(tmp_path / f"{i}.fits", i) for i in range(8)]
    paths.insert(3, write_fits(tmp_path / "poison.fits", 99))
    service = IngestService(database, ReaderSettings())
    results = await asyncio.gather(
        *(service.ingest_path(p, roots=[tmp_path]) for p in paths), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1 and "poisoned path" in str(refused[0])
    assert results[3] is refused[0]
    assert all(r.status == "succeeded" for r in results if isinstance(r, IngestResult))
    assert service._one_shots.groups < len(paths)  # the group did form, then fell back
    assert await _count(database, "SELECT COUNT(*) FROM products") == 8
    assert await _count(database, "SELECT COUNT(*) FROM jobs WHERE path LIKE '%poison%'") == 0


async def test_fitsflow_ingest_reports_a_refused_file_and_goes_on(
    database: Database, tmp_path: Path
) -> None:
    # The run (ingest_candidates) around the same refusal: the file fails with
    # the database's code, the others are recorded, the batch is closed — and
    # the run does not claim every file was honestly judged.
    await _poison_paths_named(database, "poison")
    paths = [write_fits(tmp_path / f"{i}.fits", i) for i in range(8)]
    poisoned = write_fits(tmp_path / "poison.fits", 99)
    paths.insert(3, poisoned)
    heard: list[IngestResult] = []
    summary = await ingest_candidates(
        IngestService(database, ReaderSettings()),
        [Candidate(str(p), (tmp_path,)) for p in paths],
        description="test",
        concurrency=4,
        on_result=heard.append,
    )
    assert summary.statuses == {"succeeded": 8, "failed": 1}
    [refused] = [r for r in heard if r.status == "failed"]
    assert refused.path == str(poisoned) and refused.job_id is None
    assert refused.error is not None
    assert refused.error.code in {"database_error", "integrity_violation"}
    assert "poisoned path" in str(refused.error)
    assert dict(summary.error_codes) == {refused.error.code: 1}
    assert not summary.all_accounted  # fitsflow ingest exits 1
    async with database.transaction(write=False) as tx:
        assert summary.batch_id is not None
        batch = await batches.get_batch(tx, summary.batch_id)
    assert batch is not None and batch.closed and batch.finished_at is not None
    assert batch.total == 8
    assert await _count(database, "SELECT COUNT(*) FROM products") == 8


async def test_one_shot_ingests_of_the_same_path_in_one_group_each_get_a_job(
    database: Database, tmp_path: Path
) -> None:
    # `fitsflow ingest d d/a.fits` names a file twice: jobs are matched back by
    # path in a group, so such a group is recorded file by file, in order.
    path = write_fits(tmp_path / "a.fits", 1)
    others = [write_fits(tmp_path / f"{i}.fits", 10 + i) for i in range(4)]
    service = IngestService(database, ReaderSettings())
    results = await asyncio.gather(
        *(service.ingest_path(p, roots=[tmp_path]) for p in [path, *others, path])
    )
    assert [r.status for r in results] == ["succeeded"] * 5 + ["unchanged"]
    assert results[0].outcome is Outcome.CREATED and results[5].outcome is Outcome.UNCHANGED
    assert results[0].product_id == results[5].product_id
    assert len({r.job_id for r in results}) == 6
    assert service._one_shots.groups < 6
    assert await _count(database, "SELECT COUNT(*) FROM products") == 5
    assert await _count(database, "SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'") == 6
