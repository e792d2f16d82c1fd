"""The ingest actor: thin — it calls the ingest service and maps the outcome
onto Dramatiq (Retry with the chosen delay; dead-letter when exhausted).

Messages carry only JSON-safe identifiers: job id, path, size, mtime, root.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import dramatiq
import structlog
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.middleware import CurrentMessage

from pipeline import metrics
from pipeline.errors import InternalError, LimitExceeded
from pipeline.ingest.service import JobRun

__all__ = ["ingest_file"]

log = structlog.get_logger(__name__)


def ingest_file(
    job_id: int, path: str, size: int | None, mtime_ns: int | None, root: str | None = None
) -> None:
    """Ingest the file of job ``job_id`` (declared as an actor by the runtime)."""
    from workers.runtime import delivery_ref

    message = CurrentMessage.get_current_message()
    message_id = delivery_ref(message) if message is not None else None
    retries = int(message.options.get("retries", 0)) if message is not None else 0
    thread = get_event_loop_thread()
    if thread is None:
        raise RuntimeError("the AsyncIO middleware is not installed")
    run = thread.run_coroutine(_ingest(job_id, path, message_id, retries, root))
    if run.retry_in is not None:
        raise dramatiq.Retry(delay=int(run.retry_in * 1000))
    if run.gave_up:
        from workers.runtime import GaveUp

        raise GaveUp(f"job {job_id}: transient failures exhausted")


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
