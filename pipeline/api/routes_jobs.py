"""The operators' job endpoints: listing and failures, retry, file history, batches, scan.

Reads run in one read block (``transaction(write=False)``) and return the documents built by
:mod:`pipeline.api.jobs_views` (the terminal prints the same). Mutations
need the operator's token (``dependencies=[Operator]``) and a sender in the
app's context; without one they answer 503 ``broker_unavailable``. A bulk
retry and a scan answer 202 with their batch as soon as it exists, and do
their work (walking, committing, sending) in the background: follow them on
``GET /batches/{id}``.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BeforeValidator

from pipeline.api import schemas
from pipeline.api.auth import Operator
from pipeline.api.context import StatusContext
from pipeline.api.jobs_views import (
    DEFAULT_EXAMPLES,
    batch_document,
    batch_page,
    failure_report,
    file_history,
    job_document,
    job_page,
)
from pipeline.api.params import (
    DEFAULT_PAGE_SIZE,
    MAX_ID,
    MAX_PAGE_SIZE,
    CursorQuery,
    IdPath,
    absolute_path,
    decode_cursor,
    text_query,
)
from pipeline.api.schemas_jobs import BatchPage, Failures, FileHistory, RetryRequest, ScanRequest
from pipeline.backfill import Backfill
from pipeline.clock import utc_now
from pipeline.errors import BrokerUnavailable, NotFound, OutsideRoot, ValidationError
from pipeline.models import JobState
from pipeline.outbox import Sender
from pipeline.paths import is_within
from pipeline.repositories.status import JobQuery
from pipeline.retry import Retrier, RetrySelection

__all__ = ["router"]

log = structlog.get_logger(__name__)

#: Batches per page unless asked otherwise (each costs a few indexed reads).
DEFAULT_BATCH_PAGE = 20
MAX_BATCH_PAGE = 200
MAX_EXAMPLES = 20


async def _context(request: Request) -> StatusContext:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a
    # hand-off to another thread and back on every request.
    context: StatusContext = request.app.state.status
    return context


Context = Annotated[StatusContext, Depends(_context)]
#: The start of an ISO 8601 date-time. Pydantic would also read a bare number
#: as a Unix time, which the published ``format: date-time`` does not allow.
_DATE_TIME_START = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d")


def _date_time_text(value: object) -> object:
    if isinstance(value, str) and _DATE_TIME_START.match(value) is None:
        raise ValueError("not an ISO 8601 date-time (e.g. 2026-11-26T12:00:00Z)")
    return value


TimeQuery = Annotated[
    datetime | None,
    BeforeValidator(_date_time_text),
    Query(description="ISO 8601 date-time; UTC when it has no offset."),
]


def _documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": schemas.ErrorEnvelope} for status in (*statuses, 500)}


#: Reads guarded as the app includes it (pipeline.api.auth.read_guard).
router = APIRouter(responses={403: {"model": schemas.ErrorEnvelope}})

#: Background work (bulk retries, scans) kept referenced until it ends.
_background: set[asyncio.Task[Any]] = set()


def _in_background(work: Coroutine[Any, Any, Any], what: str) -> None:
    task = asyncio.get_running_loop().create_task(work, name=what)
    _background.add(task)
    task.add_done_callback(_ended)


def _ended(task: asyncio.Task[Any]) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("background work failed", work=task.get_name(), exc_info=task.exception())


def _utc(value: datetime | None) -> datetime | None:
    """``value`` as aware UTC (naive means UTC).

    A bound that falls outside the years 1-9999 once moved to UTC bounds nothing
    that can be stored: it becomes the nearest representable time.
    """
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        edge = datetime.min if value.year == datetime.min.year else datetime.max
        return edge.replace(tzinfo=UTC)


def _sender(context: StatusContext) -> Sender:
    if context.sender is None:
        raise BrokerUnavailable(
            "this API has no broker to send retries and scans through: serve it from "
            "`fitsflow run`, or from `fitsflow api` with a redis:// or amqp:// broker.url "
            "(or use `fitsflow jobs retry` / `fitsflow scan`)",
            details={"settings": ["broker.url"]},
        )
    return context.sender


@router.get("/jobs", tags=["jobs"], responses=_documented(400, 503))
async def list_jobs(
    context: Context,
    state: Annotated[JobState | None, Query(description="Only jobs in this state.")] = None,
    path: Annotated[str | None, text_query("Only jobs of this path.", absolute=True)] = None,
    path_prefix: Annotated[str | None, text_query("Only jobs whose path starts so.")] = None,
    error_code: Annotated[str | None, text_query("Only jobs with this error code.")] = None,
    batch_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this batch.")] = None,
    created_after: TimeQuery = None,
    created_before: TimeQuery = None,
    finished_after: TimeQuery = None,
    finished_before: TimeQuery = None,
    unresolved: Annotated[
        bool, Query(description="Only failed jobs still the newest of their path.")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: CursorQuery = None,
) -> schemas.JobPage:
    """Jobs matching every filter given, newest first, one page at a time.

    Time ranges include their ``*_after`` bound and exclude their ``*_before`` one.
    """
    query = JobQuery(
        state=state,
        path=absolute_path(path) if path is not None else None,
        path_prefix=path_prefix,
        error_code=error_code,
        batch_id=batch_id,
        before_id=decode_cursor(cursor) if cursor is not None else None,
        created_after=_utc(created_after),
        created_before=_utc(created_before),
        finished_after=_utc(finished_after),
        finished_before=_utc(finished_before),
        unresolved=unresolved,
    )
    async with context.database.transaction(write=False) as tx:
        return await job_page(tx, query, limit)


@router.get("/failures", tags=["jobs"], responses=_documented(400, 503))
async def list_failures(
    context: Context,
    path_prefix: Annotated[str | None, text_query("Only paths that start so.")] = None,
    finished_after: TimeQuery = None,
    finished_before: TimeQuery = None,
    examples: Annotated[
        int, Query(ge=0, le=MAX_EXAMPLES, description="Example jobs per error code.")
    ] = DEFAULT_EXAMPLES,
) -> Failures:
    """Failed jobs grouped by error code: how many, how many unresolved, examples."""
    where = JobQuery(
        path_prefix=path_prefix,
        finished_after=_utc(finished_after),
        finished_before=_utc(finished_before),
    )
    async with context.database.transaction(write=False) as tx:
        return await failure_report(tx, where, examples)


@router.post(
    "/jobs/{job_id}/retry",
    tags=["jobs"],
    status_code=202,
    dependencies=[Operator],
    responses=_documented(400, 404, 409, 503),
)
async def retry_job(context: Context, job_id: IdPath) -> schemas.JobDetail:
    """Retry one failed job: a new job (``retry_of`` it) reads the file as it is now.

    409 ``conflict`` when the job did not fail or a later job of its path exists.
    """
    retrier = Retrier(context.database, _sender(context), context.settings.watch.roots)
    new_id = await retrier.retry_job(job_id)
    async with context.database.transaction(write=False) as tx:
        return await job_document(tx, new_id)


@router.post(
    "/jobs/retry",
    tags=["jobs"],
    status_code=202,
    dependencies=[Operator],
    responses=_documented(400, 503),
)
async def retry_jobs(
    context: Context, body: Annotated[RetryRequest, Body()]
) -> schemas.BatchProgress:
    """Retry every unresolved failure of an error code and/or under a path prefix.

    Answers with the new batch (kind ``retry``) at once; the retries are
    committed and sent in the background, and the batch closes with its total.
    """
    retrier = Retrier(context.database, _sender(context), context.settings.watch.roots)
    selection = RetrySelection(body.error_code, body.path_prefix)
    batch_id = await retrier.open_batch(selection)
    _in_background(retrier.retry_batch(batch_id, selection), f"retry batch {batch_id}")
    async with context.database.transaction(write=False) as tx:
        return await batch_document(tx, batch_id, utc_now())


@router.get("/files/history", tags=["catalogue"], responses=_documented(400, 404, 503))
async def get_file_history(
    context: Context,
    path: Annotated[str, text_query("The file's absolute path.", required=True, absolute=True)],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Newest jobs shown.")] = 100,
) -> FileHistory:
    """Every job of a path with its attempts, and every product version recorded there."""
    async with context.database.transaction(write=False) as tx:
        return await file_history(tx, absolute_path(path), limit)


@router.get("/batches", tags=["jobs"], responses=_documented(400, 503))
async def list_batches(
    context: Context,
    limit: Annotated[int, Query(ge=1, le=MAX_BATCH_PAGE)] = DEFAULT_BATCH_PAGE,
    cursor: CursorQuery = None,
) -> BatchPage:
    """Batches newest first, each with its progress."""
    before_id = decode_cursor(cursor) if cursor is not None else None
    async with context.database.transaction(write=False) as tx:
        return await batch_page(tx, before_id, limit, utc_now())


@router.post(
    "/scan",
    tags=["jobs"],
    status_code=202,
    dependencies=[Operator],
    responses=_documented(400, 404, 503),
)
async def scan(context: Context, body: Annotated[ScanRequest, Body()]) -> schemas.BatchProgress:
    """Enqueue every file under ``root`` not yet recorded, as one batch (kind ``scan``).

    ``root`` must lie inside a watched root (``watch.roots``; 403 ``outside_root``
    otherwise). Answers with the open batch at once; the walk runs in the
    background and closes the batch with its final total.
    """
    settings = context.settings
    root = _scan_root(body.root, settings.watch.roots)
    backfill = Backfill(context.database, _sender(context), settings.files, settings.watch.roots)
    batch_id = await backfill.open_batch(root)
    _in_background(backfill.run(batch_id, root), f"scan batch {batch_id}")
    async with context.database.transaction(write=False) as tx:
        return await batch_document(tx, batch_id, utc_now())


def _scan_root(given: str, watch_roots: tuple[str, ...]) -> Path:
    """``given`` resolved; refused unless it is a directory inside a watched root."""
    try:
        resolved = Path(os.path.normpath(given)).resolve()
        roots = [Path(root).resolve() for root in watch_roots]
    except (OSError, RuntimeError) as error:  # a symlink loop, a name too long
        raise ValidationError(f"cannot resolve {given}: {error}") from error
    if not any(is_within(resolved, root) for root in roots):
        raise OutsideRoot(
            f"{given} is not inside a watched root: the API scans only under watch.roots",
            details={"root": given, "resolved": str(resolved), "roots": [str(r) for r in roots]},
        )
    try:
        is_directory = resolved.is_dir()
    except OSError as error:
        raise ValidationError(f"cannot examine {given}: {error}") from error
    if not is_directory:
        raise NotFound(f"no directory at {given}", details={"root": given})
    return resolved
