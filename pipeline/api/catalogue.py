"""Products and paths as the status API shows them.

``GET /files?path=`` answers "what happened to this path?" with at most five
indexed lookups: the newest job for the path (``ix_jobs_path_id``, read
backwards), the product current at the path (the partial unique index
``ux_products_current_path``), the product the newest job recorded when it is
another one (primary key), and each product's HDUs (the primary key of
``hdus``) without their headers. Only when both the job and the current
product are missing is ``ix_products_path`` asked whether some superseded
product ever lay there, to tell "never seen" (404) from "seen, now gone".
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from pipeline.api import schemas
from pipeline.db import Connection
from pipeline.jsonutil import dumps_document
from pipeline.models import Job, JobAttempt, Product
from pipeline.repositories import jobs, products, status

__all__ = ["FoundJob", "file_status", "find_job", "job_detail", "product_detail", "product_summary"]

#: The published documents' fields, in their order (the JSON is written in it).
_JOB_FIELDS: Final = tuple(schemas.Job.model_fields)
_ATTEMPT_FIELDS: Final = tuple(schemas.Attempt.model_fields)


def _fields(record: Any) -> dict[str, Any]:
    """A record's fields by name, shallowly (nested values are not copied)."""
    return {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}


async def product_summary(conn: Connection, product: Product) -> schemas.ProductSummary:
    """``product`` with its HDUs, headers left out."""
    hdus = await status.hdu_summaries(conn, product.id)
    return schemas.ProductSummary.model_validate({**_fields(product), "hdus": hdus})


async def product_detail(conn: Connection, product_id: int) -> schemas.ProductDetail | None:
    """Product ``product_id`` with its HDUs and their full headers; None if unknown."""
    product = await products.get_product(conn, product_id)
    if product is None:
        return None
    hdus = await products.hdus_of(conn, product_id)
    return schemas.ProductDetail.model_validate({**_fields(product), "hdus": hdus})


@dataclasses.dataclass(frozen=True, slots=True)
class FoundJob:
    """A job and its attempts as read, not yet a checked document.

    :meth:`json` writes exactly the :class:`schemas.JobDetail` document
    (tests hold them equal) from the records: no pydantic validation of
    them, then FastAPI's serialisation — ~7 % of a ``GET /jobs/{id}``'s CPU.
    """

    job: Job
    attempts: list[JobAttempt]

    def json(self) -> bytes:
        document = {
            "job": {name: getattr(self.job, name) for name in _JOB_FIELDS},
            "attempts": [
                {name: getattr(attempt, name) for name in _ATTEMPT_FIELDS}
                for attempt in self.attempts
            ],
        }
        return dumps_document(document, self.document)

    def document(self) -> schemas.JobDetail:
        return schemas.JobDetail.model_validate({"job": self.job, "attempts": self.attempts})


async def find_job(conn: Connection, job_id: int) -> FoundJob | None:
    """Job ``job_id`` and its attempts, oldest first; None if unknown."""
    job = await jobs.get_job(conn, job_id)
    if job is None:
        return None
    return FoundJob(job, await jobs.list_attempts(conn, job_id))


async def job_detail(conn: Connection, job_id: int) -> schemas.JobDetail | None:
    """Job ``job_id`` and its attempts as the published document; None if unknown."""
    found = await find_job(conn, job_id)
    return found.document() if found is not None else None


async def file_status(conn: Connection, path: str) -> schemas.FileStatus | None:
    """What is known of ``path`` (absolute, normalised); None if fitsflow never saw it."""
    latest = await jobs.latest_for_path(conn, path)
    current = await products.current_at_path(conn, path)
    if latest is None and current is None and not await status.path_has_product(conn, path):
        return None
    other: Product | None = None
    recorded = latest.product_id if latest is not None else None
    if recorded is not None and (current is None or recorded != current.id):
        other = await products.get_product(conn, recorded)
    return schemas.FileStatus(
        path=path,
        latest_job=schemas.Job.model_validate(latest) if latest else None,
        current_product=await product_summary(conn, current) if current else None,
        latest_job_product=await product_summary(conn, other) if other else None,
    )
