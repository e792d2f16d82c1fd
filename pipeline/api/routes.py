"""The status API's endpoints: thin adapters from HTTP to the read functions.

Each handler checks its parameters, runs its reads in one read block
(``transaction(write=False)``) and returns a document of :mod:`pipeline.api.schemas`; errors
travel as exceptions to :mod:`pipeline.api.errors`, which turns them into the
envelope.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from pipeline import __version__
from pipeline.api import schemas
from pipeline.api.catalogue import file_status, find_job, product_detail
from pipeline.api.context import StatusContext
from pipeline.api.errors import envelope_response
from pipeline.api.health import readiness
from pipeline.api.params import (
    IdPath,
    absolute_path,
    text_query,
)
from pipeline.api.progress import batch_progress
from pipeline.api.summary import build_summary
from pipeline.api.summary_counts import counts_for
from pipeline.clock import utc_now
from pipeline.errors import NotFound

__all__ = ["open_router", "router"]


async def _context(request: Request) -> StatusContext:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a
    # hand-off to another thread and back on every request.
    context: StatusContext = request.app.state.status
    return context


Context = Annotated[StatusContext, Depends(_context)]


def _documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error envelopes an endpoint can answer with."""
    return {status: {"model": schemas.ErrorEnvelope} for status in (*statuses, 500)}


#: Every endpoint but /health: open unless ``api.protect_reads`` asks for the
#: token (the app adds :func:`~pipeline.api.auth.read_guard`'s dependencies as
#: it includes the router); a mutating route adds ``Operator``.
router = APIRouter(responses={403: {"model": schemas.ErrorEnvelope}})
#: Liveness stays open whatever the settings: orchestrators probe it without tokens.
open_router = APIRouter()


@open_router.get("/health", tags=["service"], responses=_documented())
async def health() -> schemas.Health:
    """The process is alive and serving requests; nothing else is asked."""
    return schemas.Health(version=__version__)


@router.get(
    "/ready",
    tags=["service"],
    response_model=schemas.Readiness,
    responses=_documented(503),
)
async def ready(context: Context) -> schemas.Readiness | JSONResponse:
    """The database and the broker both answer; 503 names those that do not."""
    checks = await readiness(context.database, context.broker)
    down = {name: check for name, check in checks.items() if check.status == "down"}
    if not down:
        return schemas.Readiness(checks=checks)
    first = next(iter(down.values()))
    reasons = "; ".join(f"{name}: {check.message}" for name, check in down.items())
    return envelope_response(
        first.error or "not_ready",
        f"not ready: {', '.join(down)} down ({reasons})",
        503,
        {"down": list(down), "checks": {name: c.model_dump() for name, c in checks.items()}},
    )


@router.get(
    "/jobs/{job_id}",
    tags=["jobs"],
    response_model=schemas.JobDetail,
    responses=_documented(400, 404, 503),
)
async def get_job(context: Context, job_id: IdPath) -> Response:
    """One job and the history of its attempts."""
    async with context.database.transaction(write=False) as tx:
        found = await find_job(tx, job_id)
    if found is None:
        raise NotFound(f"no job {job_id}", details={"job_id": job_id})
    # Written by the records themselves: the same document as JobDetail.
    return Response(found.json(), media_type="application/json")


@router.get(
    "/files",
    tags=["catalogue"],
    response_model=schemas.FileStatus,
    responses=_documented(400, 404, 503),
)
async def get_file(
    context: Context,
    path: Annotated[str, text_query("The file's absolute path.", required=True, absolute=True)],
) -> Response:
    """What happened to a path: its latest job, its current product, the job's product."""
    normalised = absolute_path(path)
    async with context.database.transaction(write=False) as tx:
        found = await file_status(tx, normalised)
    if found is None:
        raise NotFound(f"fitsflow has never seen {normalised}", details={"path": normalised})
    # Written by the records themselves: the same document as FileStatus.
    return Response(found.json(), media_type="application/json")


@router.get("/products/{product_id}", tags=["catalogue"], responses=_documented(400, 404, 503))
async def get_product(context: Context, product_id: IdPath) -> schemas.ProductDetail:
    """One product: its normalised fields and every HDU with its full header."""
    async with context.database.transaction(write=False) as tx:
        found = await product_detail(tx, product_id)
    if found is None:
        raise NotFound(f"no product {product_id}", details={"product_id": product_id})
    return found


@router.get("/batches/{batch_id}", tags=["jobs"], responses=_documented(400, 404, 503))
async def get_batch(context: Context, batch_id: IdPath) -> schemas.BatchProgress:
    """How far a batch is: counts per state, rate over the last minute, ETA."""
    async with context.database.transaction(write=False) as tx:
        found = await batch_progress(tx, batch_id, utc_now())
    if found is None:
        raise NotFound(f"no batch {batch_id}", details={"batch_id": batch_id})
    return found


@router.get("/summary", tags=["service"], responses=_documented(503))
async def summary(context: Context) -> schemas.Summary:
    """Jobs per state, products, queue depths, database pool and failures by code."""
    counts = counts_for(context.database, context.settings.api.summary_cache_seconds)
    return await build_summary(context.database, context.broker, counts)
