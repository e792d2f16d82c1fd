"""The ingest service: one file, one job, one transaction for its outcome.

The file is read and extracted outside any transaction (in a thread or a
reader process: it is CPU and I/O work; small files share their hand-off,
see ingest.parsing and ingest.reader_processes); the product, its HDUs,
the job's final state and the attempt's record are then written in one
transaction, so a crash leaves either all of them or none.
"""

from __future__ import annotations

import os
import socket
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from pipeline import metrics
from pipeline.clock import utc_now
from pipeline.db import Connection, Database
from pipeline.errors import (
    FileNotComplete,
    FitsflowError,
    InternalError,
    TransientError,
    TruncatedFits,
    WorkerStopping,
)
from pipeline.ingest.groups import GroupWriter
from pipeline.ingest.parse import ParsedFile, parse_file
from pipeline.ingest.parsing import ParseGroups, ReadingRefused
from pipeline.ingest.reader_processes import ReaderProcesses
from pipeline.ingest.recording import record_products
from pipeline.models import Job, Outcome
from pipeline.quarantine import move_to_quarantine, quarantine_target
from pipeline.repositories import jobs, products
from pipeline.repositories.jobs import NewJob
from pipeline.retrypolicy import RetryPolicy
from pipeline.settings import ReaderSettings

__all__ = ["IngestResult", "IngestService", "JobRun", "worker_name"]

log = structlog.get_logger(__name__)

Parser = Callable[[str, ReaderSettings, Sequence[Path] | None], ParsedFile]


def worker_name() -> str:
    """``host:pid`` of this process, recorded on every attempt."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What happened to one file."""

    path: str
    status: str  # "succeeded" | "failed" | "unchanged"
    outcome: Outcome | None = None
    product_id: int | None = None
    job_id: int | None = None
    hdus: int | None = None
    error: FitsflowError | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON line ``fitsflow ingest --json`` prints for this file."""
        return {
            "path": self.path,
            "status": self.status,
            "outcome": self.outcome.value if self.outcome else None,
            "product_id": self.product_id,
            "job_id": self.job_id,
            "hdus": self.hdus,
            "error_code": self.error.code if self.error else None,
            "error": self.error.message if self.error else None,
        }


class IngestService:
    """Reads files and records them by the catalogue's identity rules."""

    def __init__(
        self,
        db: Database,
        limits: ReaderSettings,
        roots: Sequence[Path] | None = None,
        *,
        worker: str | None = None,
        parser: Parser = parse_file,
        reader_processes: int = 0,
    ) -> None:
        self.db = db
        self.limits = limits
        self.roots = roots
        self.worker = worker or worker_name()
        self._parse = parser
        # Reader processes run parse_file itself: a parser given instead (tests'
        # faults) is read in threads.
        self._processes: ReaderProcesses | None = None
        if reader_processes and parser is parse_file:
            self._processes = ReaderProcesses(reader_processes, limits)
            self._processes.start()
        self._reads: ParseGroups[ParsedFile] = ParseGroups(
            self._read, run_group=self._processes.read_group if self._processes else None
        )
        # Jobs in flight in this process share transactions (see ingest.groups).
        self._starts: GroupWriter[_Start, tuple[Job, int] | None] = GroupWriter(
            db, self._start_many, self._start_one
        )
        self._successes: GroupWriter[_Done, IngestResult] = GroupWriter(
            db, self._succeed_many, self._succeed_one
        )
        # Failures and retries too: a burst of bad files then holds one
        # connection, not one per worker thread.
        self._endings: GroupWriter[_Ending, None] = GroupWriter(db, self._end_many, self._end_one)
        # fitsflow ingest's files in flight, each with its job, in shared transactions.
        self._one_shots: GroupWriter[_OneShot, IngestResult] = GroupWriter(
            db, self._record_many, self._record_one
        )

    async def ingest_path(
        self,
        path: str | os.PathLike[str],
        *,
        roots: Sequence[Path] | None = None,
        batch_id: int | None = None,
        source: str = "ingest",
    ) -> IngestResult:
        """Ingest one file now, without a queue (``fitsflow ingest``).

        A file whose size and mtime match its current product is ``unchanged``
        and costs no job; otherwise a job is recorded with its outcome.
        ``roots`` confine where the path may resolve (default: the service's).
        """
        absolute = os.path.abspath(path)
        seen = _stat_regular(absolute)
        if seen is not None:
            product_id = await self._unchanged(absolute, *seen)
            if product_id is not None:
                return IngestResult(absolute, "unchanged", Outcome.UNCHANGED, product_id)
        parsed, failure = await self.parse(
            absolute, self.roots if roots is None else roots, seen[0] if seen else None
        )
        new_job = NewJob(
            absolute, seen[0] if seen else None, seen[1] if seen else None, source, batch_id
        )
        return await self._one_shots.submit(_OneShot(new_job, parsed, failure))

    def close(self) -> None:
        """Stop the reader processes, if any (a job still reading gets
        ``worker_stopping``)."""
        if self._processes is not None:
            self._processes.close()

    def _read(self, path: str, roots: Sequence[Path] | None) -> ParsedFile:
        return self._parse(path, self.limits, roots)

    async def parse(
        self, path: str, roots: Sequence[Path] | None, size: int | None = None
    ) -> tuple[ParsedFile | None, FitsflowError | None]:
        """Read and extract ``path`` in a thread: the parsed file or the error.

        ``size`` (the file's size when it was admitted, if known) lets a small
        file share its thread hand-off with others (see ingest.parsing).

        This is the boundary where untrusted bytes meet fitsflow's code: an
        unexpected exception is turned into ``InternalError`` for this one file
        (logged with its traceback) instead of stopping every other file.
        """
        try:
            return await self._reads.parse(path, roots, size), None
        except ReadingRefused as error:
            # The executor refuses work once the process is shutting down: not
            # this file's fault, and not the end of its job.
            return None, WorkerStopping(
                "the worker is stopping; the file will be read again", details={"path": path}
            ).with_cause(error)
        except FitsflowError as error:
            return None, error
        except Exception as error:  # the per-file boundary (see docstring)
            log.exception("unexpected error while reading", path=path)
            return None, InternalError(
                f"unexpected {type(error).__name__} while reading: {error}",
                details={"exception": type(error).__name__},
            )

    async def run_job(
        self,
        job_id: int,
        *,
        message_id: str | None,
        retries_so_far: int,
        policy: RetryPolicy,
        lease_seconds: float,
        root: Path | None,
        quarantine_dir: str | None = None,
        incomplete_grace_seconds: float = 0.0,
    ) -> JobRun:
        """Process one delivery of job ``job_id``'s message (the ingest actor's body).

        Every outcome is recorded before this returns: succeeded, failed with
        a permanent code, retrying (with the next attempt's time), or failed
        because transient failures were exhausted.
        """
        started = await self._start(job_id, message_id, lease_seconds)
        if started is None:
            return JobRun(None)
        job, attempt = started
        parsed, failure = await self.parse(job.path, (root,) if root else None, job.size)
        if isinstance(failure, TruncatedFits):
            failure = _maybe_still_written(job.path, failure, incomplete_grace_seconds)
        if parsed is not None:
            try:
                return JobRun(await self._succeed(job, attempt, parsed))
            except TransientError as error:
                failure = error
        assert failure is not None
        if failure.transient:
            age = (utc_now() - job.created_at).total_seconds()
            delay = policy.next_delay(retries_so_far, age)
            if delay is not None:
                return JobRun(await self._retry_later(job, attempt, failure, delay), retry_in=delay)
            return JobRun(await self._fail(job, attempt, failure), gave_up=True)
        return JobRun(await self._fail(job, attempt, failure, root, quarantine_dir))

    async def _start(
        self, job_id: int, message_id: str | None, lease_seconds: float
    ) -> tuple[Job, int] | None:
        return await self._starts.submit(_Start(job_id, message_id, lease_seconds))

    async def _start_many(
        self, tx: Connection, requests: Sequence[_Start]
    ) -> list[tuple[Job, int] | None]:
        now = utc_now()
        claimed: list[Job | None] = [None] * len(requests)
        # One statement per lease length (in practice one: the process's setting).
        for lease_seconds in dict.fromkeys(r.lease_seconds for r in requests):
            places = [i for i, r in enumerate(requests) if r.lease_seconds == lease_seconds]
            lease_until = now + timedelta(seconds=lease_seconds)
            pairs = [(requests[i].job_id, requests[i].message_id) for i in places]
            taken = await jobs.claim_jobs(tx, pairs, self.worker, now, lease_until)
            for place, job in zip(places, taken, strict=True):
                claimed[place] = job
        started = [(job.id, job.attempts) for job in claimed if job is not None]
        if started:
            await jobs.insert_attempts(tx, started, self.worker, now)
        return [None if job is None else (job, job.attempts) for job in claimed]

    async def _start_one(self, tx: Connection, request: _Start) -> tuple[Job, int] | None:
        [started] = await self._start_many(tx, [request])
        return started

    async def _succeed(self, job: Job, attempt: int, parsed: ParsedFile) -> IngestResult:
        with metrics.timed("commit"):
            result = await self._successes.submit(_Done(job, attempt, parsed))
        log.info(
            "job succeeded",
            job_id=job.id,
            path=job.path,
            outcome=result.outcome,
            product_id=result.product_id,
        )
        return result

    async def _succeed_many(self, tx: Connection, done: Sequence[_Done]) -> list[IngestResult]:
        """Record a group of successes: products, HDUs, jobs and attempts in bulk."""
        read = [((item.job.id, item.attempt), item.parsed) for item in done]
        recorded = await self._record_successes(tx, read, utc_now())
        return [
            IngestResult(
                item.job.path, "succeeded", outcome, product_id, item.job.id, len(item.parsed.hdus)
            )
            for item, (product_id, outcome) in zip(done, recorded, strict=True)
        ]

    @staticmethod
    async def _record_successes(
        tx: Connection, read: Sequence[tuple[tuple[int, int], ParsedFile]], now: datetime
    ) -> list[tuple[int, Outcome]]:
        """Record each ``((job_id, attempt), parsed)``'s product and HDUs in
        bulk, and close its job and attempt as succeeded: products and outcomes."""
        recorded = await record_products(tx, [parsed for _, parsed in read], now)
        succeeded = [
            (job_id, product_id, outcome)
            for ((job_id, _), _), (product_id, outcome) in zip(read, recorded, strict=True)
        ]
        await jobs.mark_succeeded_many(tx, succeeded, now)
        await jobs.finish_attempts_succeeded(tx, [started for started, _ in read], now)
        return recorded

    async def _succeed_one(self, tx: Connection, item: _Done) -> IngestResult:
        [result] = await self._succeed_many(tx, [item])
        return result

    async def _retry_later(
        self, job: Job, attempt: int, error: FitsflowError, delay: float
    ) -> IngestResult:
        await self._endings.submit(_Ending(job.id, attempt, error, delay))
        log.info("job will be retried", job_id=job.id, path=job.path, code=error.code, delay=delay)
        return IngestResult(job.path, "retrying", job_id=job.id, error=error)

    async def _fail(
        self,
        job: Job,
        attempt: int,
        error: FitsflowError,
        root: Path | None = None,
        quarantine_dir: str | None = None,
    ) -> IngestResult:
        target = None
        if quarantine_dir and not error.transient and os.path.lexists(job.path):
            target = quarantine_target(job.path, root, quarantine_dir)
            error.details["quarantined_to"] = str(target)

        await self._endings.submit(_Ending(job.id, attempt, error))
        log.info("job failed", job_id=job.id, path=job.path, code=error.code, error=error.message)
        if target is not None:
            move_to_quarantine(job.path, target)
        return IngestResult(job.path, "failed", job_id=job.id, error=error)

    async def _end_many(self, tx: Connection, endings: Sequence[_Ending]) -> list[None]:
        """Record failed and retrying attempts, one job after another in one transaction."""
        now = utc_now()
        for ending in endings:
            await self._end(tx, ending, now)
        return [None] * len(endings)

    async def _end_one(self, tx: Connection, ending: _Ending) -> None:
        await self._end(tx, ending, utc_now())

    @staticmethod
    async def _end(tx: Connection, ending: _Ending, now: datetime) -> None:
        job_id, attempt, error = ending.job_id, ending.attempt, ending.error
        if ending.retry_in is None:
            await jobs.mark_failed(tx, job_id, error, now)
            await jobs.finish_attempt(tx, job_id, attempt, "failed", now, error)
            return
        next_attempt = now + timedelta(seconds=ending.retry_in)
        await jobs.mark_retrying(tx, job_id, error, next_attempt, now)
        await jobs.finish_attempt(tx, job_id, attempt, "retrying", now, error)

    async def fail_job(self, job_id: int, error: FitsflowError) -> bool:
        """End a job as failed from outside its normal run (time limit, a defect).

        False when the job had finished already — its success may have been
        committed in its group while the time limit fired — and stays so.
        """

        async def write(tx: Connection) -> bool:
            now = utc_now()
            if not await jobs.mark_failed(tx, job_id, error, now):
                return False
            await jobs.finish_open_attempts(tx, job_id, "failed", now, error)
            return True

        failed = await self.db.run_in_transaction(write)
        # The actor binds the job's path to every line of the job (see workers.logcontext).
        if failed:
            log.warning("job failed", job_id=job_id, code=error.code, error=error.message)
        else:
            log.info("job had finished already; not failed", job_id=job_id, code=error.code)
        return failed

    async def release_job(self, job_id: int) -> None:
        """Give a running job back to ``queued``: this worker is stopping."""

        async def write(tx: Connection) -> None:
            now = utc_now()
            await jobs.release_job(tx, job_id, now)
            await jobs.finish_open_attempts(tx, job_id, "interrupted", now)

        await self.db.run_in_transaction(write, retry_for=5.0)

    async def _unchanged(self, path: str, size: int, mtime_ns: int) -> int | None:
        async with self.db.transaction(write=False) as tx:
            return await products.find_unchanged(tx, path, size, mtime_ns)

    async def _record_many(self, tx: Connection, shots: Sequence[_OneShot]) -> list[IngestResult]:
        """Record a group of ``fitsflow ingest``'s files, each with its job and
        attempt, in a few statements as the queue's group writers do."""
        new_jobs = [shot.new_job for shot in shots]
        if len({job.path for job in new_jobs}) < len(new_jobs) or (
            len({(job.source, job.batch_id) for job in new_jobs}) > 1
        ):
            # insert_jobs matches ids back by path and gives all one source and batch.
            return [result for shot in shots for result in await self._record_many(tx, [shot])]
        now = utc_now()
        job_ids = await jobs.insert_jobs(tx, new_jobs, now)
        attempts: list[int] = []
        for job in await jobs.claim_jobs(tx, [(i, None) for i in job_ids], self.worker, now, None):
            assert job is not None  # the job was inserted a statement ago
            attempts.append(job.attempts)
        started = list(zip(job_ids, attempts, strict=True))
        await jobs.insert_attempts(tx, started, self.worker, now)
        read = [(i, shot.parsed) for i, shot in enumerate(shots) if shot.parsed is not None]
        recorded = await self._record_successes(tx, [(started[i], p) for i, p in read], now)
        results: dict[int, IngestResult] = {}
        for (i, parsed), (product_id, outcome) in zip(read, recorded, strict=True):
            status = "unchanged" if outcome is Outcome.UNCHANGED else "succeeded"
            path = new_jobs[i].path
            results[i] = IngestResult(
                path, status, outcome, product_id, job_ids[i], len(parsed.hdus)
            )
        for i, shot in enumerate(shots):
            if shot.parsed is None:
                assert shot.failure is not None
                await self._end(tx, _Ending(*started[i], shot.failure), now)
                results[i] = IngestResult(
                    new_jobs[i].path, "failed", job_id=job_ids[i], error=shot.failure
                )
        return [results[i] for i in range(len(shots))]

    async def _record_one(self, tx: Connection, shot: _OneShot) -> IngestResult:
        [result] = await self._record_many(tx, [shot])
        return result


@dataclass(frozen=True, slots=True)
class _OneShot:
    """A file of ``fitsflow ingest``, read: its job is recorded with its outcome."""

    new_job: NewJob
    parsed: ParsedFile | None
    failure: FitsflowError | None


@dataclass(frozen=True, slots=True)
class _Start:
    job_id: int
    message_id: str | None
    lease_seconds: float


@dataclass(frozen=True, slots=True)
class _Done:
    job: Job
    attempt: int
    parsed: ParsedFile


@dataclass(frozen=True, slots=True)
class _Ending:
    """A failed attempt: the job fails, or is retried in ``retry_in`` seconds."""

    job_id: int
    attempt: int
    error: FitsflowError
    retry_in: float | None = None


@dataclass(frozen=True, slots=True)
class JobRun:
    """How one delivery of a job's message ended."""

    #: None when there was nothing to do: the job is final, or another live
    #: worker holds it.
    result: IngestResult | None
    #: Seconds until the job is tried again (a transient failure, recorded).
    retry_in: float | None = None
    #: Transient failures exhausted: the job is failed; dead-letter the message.
    gave_up: bool = False


def _maybe_still_written(path: str, error: TruncatedFits, grace: float) -> FitsflowError:
    """A truncated file touched within ``grace`` seconds is more likely still
    being written than broken: call it incomplete (transient) until then."""
    try:
        age = time.time() - os.stat(path).st_mtime
    except OSError:
        return error
    if age >= grace:
        return error
    incomplete = FileNotComplete(
        f"{error.message} (modified {age:.1f} s ago: waiting for the writer)",
        details={**error.details, "modified_seconds_ago": round(age, 3)},
    )
    incomplete.__cause__ = error
    return incomplete


def _stat_regular(path: str) -> tuple[int, int] | None:
    """``(size, mtime_ns)`` of a regular file, or None (the reader will explain)."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(status.st_mode):
        return None
    return status.st_size, status.st_mtime_ns
