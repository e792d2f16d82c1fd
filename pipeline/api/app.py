"""The status API's application factory.

The app reads; it never writes, and it owns nothing: the caller opens the
database and the broker probe before serving and closes them after (the
embedded ``fitsflow run`` shares its own with the watcher and workers).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from pipeline import __version__
from pipeline.api.auth import read_guard
from pipeline.api.context import StatusContext
from pipeline.api.errors import install_error_handling
from pipeline.api.metrics import install_metrics
from pipeline.api.probe import BrokerProbe
from pipeline.api.routes import open_router, router
from pipeline.api.routes_jobs import router as jobs_router
from pipeline.api.routes_products import router as products_router
from pipeline.api.routes_queues import router as queues_router
from pipeline.db import Database
from pipeline.outbox import Sender
from pipeline.settings import Settings

__all__ = ["create_app"]

DESCRIPTION = """\
Status of a fitsflow pipeline: jobs and their attempts, failures, products and
their headers, batch progress, queue depths, health and readiness; and the
operators' actions (retry, scan, ...), which need the bearer token.

Every error is `{"error": code, "message": ..., "details": {...}}` with a
stable code: `validation_error` (400), `forbidden` or `outside_root` (403),
`not_found` (404), `method_not_allowed` (405), `conflict` (409),
`internal_error` (500), and `database_unavailable`,
`database_busy`, `pool_exhausted` or `broker_unavailable` (503).
"""


def create_app(
    database: Database, broker: BrokerProbe, *, settings: Settings, sender: Sender | None = None
) -> FastAPI:
    """A FastAPI app over a connected ``database`` and ``broker`` (kept open by the caller).

    ``sender`` puts retry and scan messages on the queue (without one, those answer 503).
    """
    app = FastAPI(
        title="fitsflow status",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.status = StatusContext(
        database=database, broker=broker, settings=settings, sender=sender
    )
    reads = read_guard(settings.api.protect_reads)
    app.include_router(open_router)
    for guarded in (router, jobs_router, products_router, queues_router):
        app.include_router(guarded, dependencies=reads)
    install_metrics(app, broker, reads)
    install_error_handling(app)
    _publish_errors_as_answered(app)
    return app


def _publish_errors_as_answered(app: FastAPI) -> None:
    """Drop FastAPI's default 422 entries: request validation answers 400 here.

    The 400 envelope each endpoint can return is declared on its route.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
