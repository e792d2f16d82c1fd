"""Documents of the operators' job views: failures, file history, batches, retry and scan.

Part of the API's contract beside :mod:`pipeline.api.schemas` (whose ``Job``,
``JobDetail``, ``Product`` and ``BatchProgress`` they reuse); the terminal
commands print the same documents with ``--json``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.api.schemas import BatchProgress, JobDetail, Product

__all__ = [
    "BatchPage",
    "FailureExample",
    "FailureGroup",
    "Failures",
    "FileHistory",
    "RetryRequest",
    "ScanRequest",
]

#: The longest path or code accepted in a request body (PATH_MAX on Linux).
MAX_TEXT_LENGTH = 4096
_ABSOLUTE = r"^/[^\x00]*$"
_NO_NUL = r"^[^\x00]*$"


class _Document(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class FailureExample(_Document):
    """One failed job shown as an example of its code."""

    job_id: int
    path: str
    error_message: str | None
    finished_at: datetime | None
    unresolved: bool = Field(description="Whether this job is still its path's newest job.")


class FailureGroup(_Document):
    """Failed jobs of one error code."""

    error_code: str
    failed: int = Field(description="Failed jobs with this code.")
    unresolved: int = Field(description="Of those, the newest job of their path: not yet retried.")
    fixed: int = Field(description="Of those, followed by a job of the same path that succeeded.")
    examples: list[FailureExample] = Field(
        description="The newest unresolved failures (resolved ones when none are left)."
    )


class Failures(_Document):
    """Failed jobs grouped by error code, most unresolved first."""

    failed: int
    unresolved: int
    groups: list[FailureGroup]


class FileHistory(_Document):
    """Everything recorded about one path."""

    path: str
    jobs: list[JobDetail] = Field(
        description="Every job of the path, newest first, each with its attempts."
    )
    more_jobs: bool = Field(description="Whether older jobs were left out (see `limit`).")
    products: list[Product] = Field(
        description="Every product version recorded at the path (current and superseded) or by "
        "one of its jobs, newest first; `is_current` and `path` say where each lies now."
    )


class BatchPage(_Document):
    """One page of batches, newest first."""

    batches: list[BatchProgress]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


def _given(field: str) -> dict[str, Any]:
    """JSON Schema: ``field`` is present and not null."""
    return {"required": [field], "properties": {field: {"type": "string"}}}


class RetryRequest(BaseModel):
    """Which unresolved failures to retry: an error code, a path prefix, or both."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        # Published, so clients (and schemathesis) know that one of them is needed.
        json_schema_extra={"anyOf": [_given("error_code"), _given("path_prefix")]},
    )

    error_code: str | None = Field(
        default=None, min_length=1, max_length=MAX_TEXT_LENGTH, pattern=_NO_NUL
    )
    path_prefix: str | None = Field(
        default=None, min_length=1, max_length=MAX_TEXT_LENGTH, pattern=_ABSOLUTE
    )

    @model_validator(mode="after")
    def _something_selected(self) -> RetryRequest:
        if self.error_code is None and self.path_prefix is None:
            raise ValueError("give error_code, path_prefix or both")
        return self


class ScanRequest(BaseModel):
    """The directory to scan: inside one of the watched roots."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    root: str = Field(min_length=1, max_length=MAX_TEXT_LENGTH, pattern=_ABSOLUTE)
