"""The operators' job views, built once for the HTTP API and the terminal.

Each function reads inside the caller's (read-only) transaction and returns
a document of :mod:`pipeline.api.schemas` or :mod:`pipeline.api.schemas_jobs`;
``GET /jobs`` and ``fitsflow jobs list --json`` print the same
:func:`job_page`, and so on for failures, file history and batches.
"""

from __future__ import annotations

from datetime import datetime

from pipeline.api import schemas
from pipeline.api.catalogue import job_detail
from pipeline.api.progress import batch_progress
from pipeline.api.schemas_jobs import BatchPage, FailureExample, Failures, FileHistory
from pipeline.db import Connection
from pipeline.errors import NotFound
from pipeline.repositories import batches, failures, history, status
from pipeline.repositories.status import JobQuery

__all__ = [
    "DEFAULT_EXAMPLES",
    "batch_document",
    "batch_page",
    "failure_report",
    "file_history",
    "job_document",
    "job_page",
]

#: Example failures shown per error code.
DEFAULT_EXAMPLES = 3


async def job_page(conn: Connection, query: JobQuery, limit: int) -> schemas.JobPage:
    """Jobs matching ``query``, newest first: one page and the cursor of the next."""
    from pipeline.api.params import encode_cursor  # FastAPI loads only when asked for

    # One more than asked says whether another page exists.
    found = await status.list_jobs(conn, query, limit + 1)
    page = found[:limit]
    return schemas.JobPage(
        jobs=[schemas.Job.model_validate(job) for job in page],
        next_cursor=encode_cursor(page[-1].id) if len(found) > limit else None,
    )


async def job_document(conn: Connection, job_id: int) -> schemas.JobDetail:
    """Job ``job_id`` with its attempts; :class:`NotFound` if there is none."""
    found = await job_detail(conn, job_id)
    if found is None:
        raise NotFound(f"no job {job_id}", details={"job_id": job_id})
    return found


async def failure_report(
    conn: Connection, where: JobQuery, examples: int = DEFAULT_EXAMPLES
) -> Failures:
    """Failed jobs matching ``where`` grouped by error code, with examples."""
    groups = []
    for counts in await failures.count_failures(conn, where):
        shown = await failures.failure_examples(conn, where, counts.error_code, examples)
        groups.append(
            {
                "error_code": counts.error_code,
                "failed": counts.failed,
                "unresolved": counts.unresolved,
                "fixed": counts.fixed,
                "examples": [
                    FailureExample(
                        job_id=job.id,
                        path=job.path,
                        error_message=job.error_message,
                        finished_at=job.finished_at,
                        unresolved=unresolved,
                    )
                    for job, unresolved in shown
                ],
            }
        )
    return Failures.model_validate(
        {
            "failed": sum(group["failed"] for group in groups),
            "unresolved": sum(group["unresolved"] for group in groups),
            "groups": groups,
        }
    )


async def file_history(conn: Connection, path: str, limit: int) -> FileHistory:
    """Every job (newest ``limit``) and product version of ``path``; NotFound if none."""
    found = await history.jobs_for_path(conn, path, limit + 1)
    jobs = found[:limit]
    attempts = await history.attempts_by_job(conn, path, jobs)
    products = await history.products_for_path(conn, path, jobs)
    if not jobs and not products:
        raise NotFound(f"fitsflow has never seen {path}", details={"path": path})
    return FileHistory.model_validate(
        {
            "path": path,
            "jobs": [{"job": job, "attempts": attempts[job.id]} for job in jobs],
            "more_jobs": len(found) > limit,
            "products": products,
        }
    )


async def batch_document(conn: Connection, batch_id: int, now: datetime) -> schemas.BatchProgress:
    """The progress of batch ``batch_id``; :class:`NotFound` if there is none."""
    found = await batch_progress(conn, batch_id, now)
    if found is None:
        raise NotFound(f"no batch {batch_id}", details={"batch_id": batch_id})
    return found


async def batch_page(
    conn: Connection, before_id: int | None, limit: int, now: datetime
) -> BatchPage:
    """Batches newest first with their progress: one page and the cursor of the next."""
    from pipeline.api.params import encode_cursor

    found = await batches.list_batches_before(conn, before_id, limit + 1)
    page = found[:limit]
    return BatchPage(
        batches=[await batch_document(conn, batch.id, now) for batch in page],
        next_cursor=encode_cursor(page[-1].id) if len(found) > limit else None,
    )
