"""Products and paths as the status API shows them.

``GET /files?path=`` answers "what happened to this path?" in two
statements of indexed lookups: the newest job for the path with the product
current there and the one the job recorded when it is another
(:func:`~pipeline.repositories.status.path_records`), then those products'
HDUs without their headers. Only when neither the job nor a current product
is there is ``ix_products_path`` asked whether some superseded product ever
lay there, to tell "never seen" (404) from "seen, now gone".
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from pipeline.api import schemas
from pipeline.db import Connection
from pipeline.jsonutil import dumps_document
from pipeline.models import Job, JobAttempt
from pipeline.repositories import jobs, products, status

__all__ = ["FoundFile", "FoundJob", "file_status", "find_job", "job_detail", "product_detail"]

#: The published documents' fields, in their order (the JSON is written in it).
_JOB_FIELDS: Final = tuple(schemas.Job.model_fields)
_ATTEMPT_FIELDS: Final = tuple(schemas.Attempt.model_fields)


def _fields(record: Any) -> dict[str, Any]:
    """A record's fields by name, shallowly (nested values are not copied)."""
    return {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}


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
            "job": _job_values(self.job),
            "attempts": [
                {name: getattr(attempt, name) for name in _ATTEMPT_FIELDS}
                for attempt in self.attempts
            ],
        }
        return dumps_document(document, self.document)

    def document(self) -> schemas.JobDetail:
        # From the records, not json()'s values: the reference (see FoundFile).
        return schemas.JobDetail.model_validate({"job": self.job, "attempts": self.attempts})


async def find_job(conn: Connection, job_id: int) -> FoundJob | None:
    """Job ``job_id`` and its attempts, oldest first; None if unknown."""
    found = await jobs.job_with_attempts(conn, job_id)
    return FoundJob(*found) if found is not None else None


async def job_detail(conn: Connection, job_id: int) -> schemas.JobDetail | None:
    """Job ``job_id`` and its attempts as the published document; None if unknown."""
    found = await find_job(conn, job_id)
    return found.document() if found is not None else None


def _job_values(job: Job) -> dict[str, Any]:
    """A job's fields in the published :class:`schemas.Job`'s order."""
    return {name: getattr(job, name) for name in _JOB_FIELDS}


@dataclasses.dataclass(frozen=True, slots=True)
class FoundFile:
    """What is recorded at a path, as read, not yet a checked document.

    :meth:`json` writes exactly the :class:`schemas.FileStatus` document
    (tests hold them equal) from the job record and the products' values.
    """

    path: str
    latest_job: Job | None
    #: Each product's values (as :func:`pipeline.models.product_values`) and its ``hdus``.
    current_product: dict[str, Any] | None
    latest_job_product: dict[str, Any] | None

    def json(self) -> bytes:
        document = {
            "path": self.path,
            "latest_job": _job_values(self.latest_job) if self.latest_job else None,
            "current_product": self.current_product,
            "latest_job_product": self.latest_job_product,
        }
        return dumps_document(document, self.document)

    def document(self) -> schemas.FileStatus:
        # Validated from the records themselves, not from json()'s values: it
        # is the reference json() is held equal to (a field json() took
        # wrongly would otherwise pass unseen).
        return schemas.FileStatus.model_validate(
            {
                "path": self.path,
                "latest_job": self.latest_job,
                "current_product": self.current_product,
                "latest_job_product": self.latest_job_product,
            }
        )


async def file_status(conn: Connection, path: str) -> FoundFile | None:
    """What is known of ``path`` (absolute, normalised); None if fitsflow never saw it."""
    found = await status.path_records(conn, path)
    held = found.products
    if found.latest_job is None and not held and not await status.path_has_product(conn, path):
        return None
    hdus = await status.hdu_summaries(conn, *(values["id"] for values in held)) if held else {}

    def summary(values: dict[str, Any] | None) -> dict[str, Any] | None:
        return {**values, "hdus": hdus[values["id"]]} if values is not None else None

    return FoundFile(path, found.latest_job, summary(found.current), summary(found.recorded))
