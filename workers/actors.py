"""The ingest actors: thin — they call the ingest service and map the outcome
onto Dramatiq (Retry with the chosen delay; dead-letter when exhausted).

Messages carry only JSON-safe identifiers: job id, path, size, mtime, root —
one file's (``ingest_file``) or several files' (``ingest_files``, a bundle,
see ``broker.bundle_size``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dramatiq
import structlog
from dramatiq.asyncio import EventLoopThread, get_event_loop_thread
from dramatiq.common import compute_backoff
from dramatiq.middleware import CurrentMessage

from pipeline import metrics
from pipeline.errors import InternalError, LimitExceeded
from pipeline.ingest.service import JobRun
from pipeline.outbox import IngestMessage
from pipeline.settings import WorkerSettings

__all__ = ["OnItsOwn", "ingest_file", "ingest_files", "on_its_own"]

log = structlog.get_logger(__name__)


def ingest_file(
    job_id: int, path: str, size: int | None, mtime_ns: int | None, root: str | None = None
) -> None:
    """Ingest the file of job ``job_id`` (declared as an actor by the runtime)."""
    from workers.runtime import GIVEN_UP_OPTION, GaveUp

    message_id, retries, options = _delivery()
    if given_up := options.get(GIVEN_UP_OPTION):
        raise GaveUp(str(given_up))  # a bundle's file, already recorded as failed
    run = _loop_thread().run_coroutine(_ingest(job_id, path, message_id, retries, root))
    if run.retry_in is not None:
        raise dramatiq.Retry(delay=int(run.retry_in * 1000))
    if run.gave_up:
        raise GaveUp(_exhausted(job_id))


def ingest_files(jobs: list[list[Any]]) -> None:
    """Ingest a bundle's files side by side, each as its own job (declared as
    an actor by the runtime).

    Every file is recorded as ``ingest_file`` records it. A file that is to be
    tried again, or given up on, goes on as a message of its own — what
    Dramatiq's retry middleware would have sent had the file come alone — so
    retries, their backoff and dead letters stay one file's; the bundle itself
    ends well. Only a failure to send those on fails the bundle, whose
    redelivery finds its finished files finished.
    """
    from workers.runtime import current

    message_id, retries, _ = _delivery()
    files = [IngestMessage(*job) for job in jobs]
    runs = _loop_thread().run_coroutine(_ingest_all(files, message_id, retries))
    runtime = current()
    for file, run in zip(files, runs, strict=True):
        follow = on_its_own(file.job_id, run, retries, runtime.settings.worker)
        if follow is not None:
            runtime.send_on_its_own(
                file, retries=follow.retries, delay_ms=follow.delay_ms, given_up=follow.given_up
            )


@dataclass(frozen=True, slots=True)
class OnItsOwn:
    """How a bundle's file goes on alone: ``retries`` spent, sent after
    ``delay_ms``, or dead-lettered on arrival for ``given_up``."""

    retries: int
    delay_ms: int | None = None
    given_up: str | None = None


def on_its_own(
    job_id: int, run: JobRun | BaseException, retries: int, worker: WorkerSettings
) -> OnItsOwn | None:
    """What Dramatiq would do next with ``job_id``'s message had ``run`` been
    the end of it alone (None: nothing, the job is finished or another
    worker's). Mirrors ``ingest_file`` and the runtime's retry middleware."""
    from workers.runtime import retry_when

    if isinstance(run, JobRun):
        if run.retry_in is not None:
            return OnItsOwn(retries + 1, delay_ms=int(run.retry_in * 1000))
        if run.gave_up:
            return OnItsOwn(retries, given_up=_exhausted(job_id))
        return None
    if retry_when(retries, run, worker.max_retries):
        max_backoff = int(worker.max_backoff_seconds * 1000)
        _, delay = compute_backoff(
            retries, factor=int(worker.min_backoff_seconds * 1000), max_backoff=max_backoff
        )
        return OnItsOwn(retries + 1, delay_ms=int(delay))
    return OnItsOwn(retries, given_up=f"job {job_id}: {type(run).__name__}: {run}")


def _exhausted(job_id: int) -> str:
    return f"job {job_id}: transient failures exhausted"


def _delivery() -> tuple[str | None, int, dict[str, Any]]:
    """The current message's delivery id, retries spent so far and options."""
    from workers.runtime import delivery_ref

    message = CurrentMessage.get_current_message()
    if message is None:
        return None, 0, {}
    return delivery_ref(message), int(message.options.get("retries", 0)), message.options


def _loop_thread() -> EventLoopThread:
    thread = get_event_loop_thread()
    if thread is None:
        raise RuntimeError("the AsyncIO middleware is not installed")
    return thread


async def _ingest_all(
    files: Sequence[IngestMessage], message_id: str | None, retries: int
) -> list[JobRun | BaseException]:
    """Every file's run, or what it raised (a cancellation of the whole still
    cancels each file, whose job is released, and propagates)."""
    runs = [_ingest(f.job_id, f.path, message_id, retries, f.root) for f in files]
    results = await asyncio.gather(*runs, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result  # KeyboardInterrupt, SystemExit: not a file's outcome
    return results


async def _ingest(
    job_id: int, path: str, message_id: str | None, retries: int, root: str | None
) -> JobRun:
    from workers.runtime import current

    runtime = current()
    worker = runtime.settings.worker
    service = await runtime.service()
    with structlog.contextvars.bound_contextvars(job_id=job_id, path=path):
        work = service.run_job(
            job_id,
            message_id=message_id,
            retries_so_far=retries,
            policy=runtime.policy,
            lease_seconds=runtime.settings.reconciler.lease_seconds,
            root=Path(root) if root else None,
            quarantine_dir=worker.quarantine_dir,
            incomplete_grace_seconds=worker.incomplete_grace_seconds,
        )
        try:
            # asyncio.timeout, not wait_for: in Python 3.11 wait_for runs the
            # work as a task of its own, one more task and wake-up per file.
            async with asyncio.timeout(worker.time_limit_seconds):
                run = await work
        except TimeoutError:
            limit = worker.time_limit_seconds
            error = LimitExceeded(
                f"ingest took longer than worker.time_limit_seconds ({limit:g} s)",
                details={"limit": "time_limit_seconds", "value": worker.time_limit_seconds},
            )
            if await service.fail_job(job_id, error):
                metrics.record_job_failed(error.code)
            return JobRun(None)
        except asyncio.CancelledError:
            # Dramatiq interrupted us (shutdown, its backstop time limit): the
            # job goes back to queued, and its message is redelivered or resent.
            await asyncio.shield(service.release_job(job_id))
            raise
        except Exception as error:  # the actor's outermost boundary: record, then re-raise
            if getattr(error, "transient", False):
                raise  # Dramatiq retries it (a database outage while recording)
            log.exception("ingest failed unexpectedly")
            if await asyncio.shield(
                service.fail_job(job_id, InternalError(f"{type(error).__name__}: {error}"))
            ):
                metrics.record_job_failed(InternalError.code)
            raise
    _count(run)
    return run


def _count(run: JobRun) -> None:
    """Count how this delivery ended (nothing when another worker had the job)."""
    result = run.result
    if result is None:
        return
    code = result.error.code if result.error is not None else "unknown"
    if run.retry_in is not None:
        metrics.record_job_retry(code)
    elif result.status == "failed":
        metrics.record_job_failed(code)
    else:
        metrics.record_job_succeeded(result.outcome.value if result.outcome else "unknown")
