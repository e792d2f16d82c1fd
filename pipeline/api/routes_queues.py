"""Endpoints for queues, workers and dead letters: thin adapters over
:mod:`pipeline.api.queues` and :mod:`pipeline.api.deadletters`.

Reads are behind :data:`~pipeline.api.auth.Reader` where ``api.protect_reads``
is set (the app adds it as it includes this router, see
:func:`~pipeline.api.auth.read_guard`); requeue and purge change the broker
and the jobs, so they are behind :data:`~pipeline.api.auth.Operator` (403
until ``api.token`` is set, and then without the right bearer token).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from pipeline.api import queue_schemas as docs
from pipeline.api.auth import Operator
from pipeline.api.context import StatusContext
from pipeline.api.deadletters import (
    DEFAULT_PAGE_SIZE,
    DLQ_CURSOR_PATTERN,
    MAX_PAGE_SIZE,
    dead_letter_page,
    purge_dead_letters,
    requeue_dead_letters,
)
from pipeline.api.queues import build_queues, build_workers
from pipeline.api.schemas import ErrorEnvelope

__all__ = ["router"]


async def _context(request: Request) -> StatusContext:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a
    # hand-off to another thread and back on every request.
    context: StatusContext = request.app.state.status
    return context


Context = Annotated[StatusContext, Depends(_context)]
DlqCursor = Annotated[
    str | None,
    Query(pattern=DLQ_CURSOR_PATTERN, description="`next_cursor` of the previous page, unchanged."),
]


def _documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error envelopes an endpoint can answer with."""
    return {status: {"model": ErrorEnvelope} for status in (*statuses, 500)}


router = APIRouter(tags=["queues"])


@router.get("/queues", responses=_documented(403, 503))
async def queues(context: Context) -> docs.Queues:
    """Per queue: ready, delayed, in flight, dead, the oldest wait; and the workers."""
    return await build_queues(context.database, context.broker, context.settings.broker.url)


@router.get("/workers", responses=_documented(403, 503))
async def workers(context: Context) -> docs.Workers:
    """Worker processes by heartbeat (alive or not), with the jobs each is running."""
    return await build_workers(context.database)


@router.get("/dlq", responses=_documented(400, 403, 503))
async def dead_letters(
    context: Context,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: DlqCursor = None,
) -> docs.DeadLetterPage:
    """Dead letters in the order they died, with their job's path, error and attempts."""
    return await dead_letter_page(context.database, context.broker, limit, cursor)


@router.post("/dlq/requeue", dependencies=[Operator], responses=_documented(400, 403, 503))
async def requeue(context: Context, selection: docs.DeadLetterSelection) -> docs.RequeueResult:
    """Send dead letters again as fresh messages; their failed jobs go back to `queued`."""
    return await requeue_dead_letters(context.database, context.broker, selection)


@router.post("/dlq/purge", dependencies=[Operator], responses=_documented(400, 403, 503))
async def purge(context: Context, selection: docs.DeadLetterSelection) -> docs.PurgeResult:
    """Delete dead letters; their jobs stay as they ended."""
    return await purge_dead_letters(context.broker, selection)
