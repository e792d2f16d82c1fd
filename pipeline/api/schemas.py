"""The status API's documents, as pydantic models (and so its OpenAPI schema).

They are the API's contract, kept apart from the database records of
:mod:`pipeline.models` so that a new column does not change the API by
accident. Each is built from a record with ``model_validate(record)``
(``from_attributes``); times are timezone-aware UTC, written in ISO 8601.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.models import JobState, Outcome

__all__ = [
    "Attempt",
    "BatchProgress",
    "Check",
    "ErrorEnvelope",
    "FileStatus",
    "Hdu",
    "HduSummary",
    "Health",
    "Job",
    "JobCounts",
    "JobDetail",
    "JobPage",
    "PoolStats",
    "Product",
    "ProductDetail",
    "ProductSummary",
    "QueueDepth",
    "Readiness",
    "Summary",
]


class _Document(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class ErrorEnvelope(_Document):
    """Every error response: a stable code, a sentence for people, facts for scripts."""

    error: str = Field(description="Stable error code, e.g. `not_found`, `validation_error`.")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class Health(_Document):
    """The process is alive (no database or broker was asked)."""

    status: Literal["ok"] = "ok"
    version: str


class Check(_Document):
    """The outcome of asking one dependency whether it answers."""

    status: Literal["ok", "down"]
    seconds: float = Field(description="How long the check took.")
    error: str | None = Field(default=None, description="Error code when down.")
    message: str | None = None


class Readiness(_Document):
    """Every dependency answered: the service can do its work."""

    status: Literal["ready"] = "ready"
    checks: dict[str, Check]


class Job(_Document):
    """One ingest of one file: its state, outcome or error, and timestamps."""

    id: int
    path: str
    size: int | None
    mtime_ns: int | None
    state: JobState
    outcome: Outcome | None
    source: str = Field(description="What admitted the job: watcher, scan, ingest, replay...")
    attempts: int = Field(description="Attempts started so far.")
    error_code: str | None
    error_message: str | None
    error_details: dict[str, Any] | None
    product_id: int | None
    batch_id: int | None
    message_id: str | None
    worker: str | None = None
    created_at: datetime
    updated_at: datetime
    enqueued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    next_attempt_at: datetime | None
    lease_expires_at: datetime | None = None
    retry_of: int | None = Field(default=None, description="The failed job this one retries.")


class Attempt(_Document):
    """One try at a job."""

    attempt: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    error_code: str | None
    error_message: str | None
    worker: str | None


class JobDetail(_Document):
    """A job and every attempt at it, oldest first."""

    job: Job
    attempts: list[Attempt]


class JobPage(_Document):
    """One page of jobs, newest first."""

    jobs: list[Job]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class HduSummary(_Document):
    """One HDU without its header."""

    hdu_index: int
    name: str | None
    kind: str
    naxis: list[int]
    bitpix: int
    data_size: int
    checksum_status: str


class Hdu(HduSummary):
    """One HDU with its full header: ``header`` by keyword, ``cards`` in file order."""

    header_offset: int
    data_offset: int
    footprint: list[list[float]] | None
    header: dict[str, Any]
    cards: list[list[Any]] = Field(description="[keyword, value, comment] in file order.")


class Product(_Document):
    """One distinct content (SHA-256) and the normalised facts of its headers."""

    id: int
    sha256: str
    path: str
    size: int
    mtime_ns: int
    version: int
    is_current: bool = Field(description="Whether this content is what lies at `path` now.")
    superseded_by: int | None
    superseded_at: datetime | None
    compression: str
    hdu_count: int
    checksum_status: str
    telescope: str | None
    instrument: str | None
    object: str | None
    observer: str | None
    obs_start: datetime | None
    mjd_obs: float | None
    exptime: float | None
    filter: str | None
    ra: float | None
    dec: float | None
    footprint: list[list[float]] | None
    naxis: list[int] | None
    bitpix: int | None
    bunit: str | None
    beam_major: float | None
    beam_minor: float | None
    beam_pa: float | None
    frequency: float | None
    science_hdu: int | None
    warnings: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


class ProductSummary(Product):
    """A product and its HDUs without their headers."""

    hdus: list[HduSummary]


class ProductDetail(Product):
    """A product and its HDUs with their full headers."""

    hdus: list[Hdu]


class FileStatus(_Document):
    """What fitsflow knows of one path."""

    path: str
    latest_job: Job | None = Field(description="The newest job for this path.")
    current_product: ProductSummary | None = Field(
        description="The product whose content lies at this path now."
    )
    latest_job_product: ProductSummary | None = Field(
        description="The product the latest job recorded, when it is not the current one."
    )


class JobCounts(_Document):
    """Jobs per state."""

    queued: int
    running: int
    retrying: int
    succeeded: int
    failed: int


class BatchProgress(_Document):
    """How far a batch is, how fast it goes, when it should end."""

    id: int
    kind: str
    description: str | None
    total: int = Field(
        description="Jobs in the batch: final once closed, the jobs admitted so far before."
    )
    closed: bool = Field(description="Whether every job of the batch has been admitted.")
    created_at: datetime
    finished_at: datetime | None
    counts: JobCounts
    done: int = Field(description="succeeded + failed.")
    remaining: int
    rate_per_second: float = Field(description="Jobs finished per second over the window.")
    rate_window_seconds: float
    eta_seconds: float | None = Field(
        description="remaining / rate; null when nothing finished in the window."
    )


class QueueDepth(_Document):
    """Messages in one broker queue; null where the broker cannot tell."""

    ready: int | None
    delayed: int | None
    in_flight: int | None
    dead: int | None


class PoolStats(_Document):
    """The database connection pool of the process that answered."""

    size: int
    max_size: int
    in_use: int
    idle: int
    waiting: int
    acquired_total: int
    acquire_wait_seconds_total: float
    acquire_wait_seconds_max: float
    exhausted_total: int
    recycled_total: int


class Summary(_Document):
    """The whole pipeline at a glance: `/summary` and `fitsflow status --json`."""

    jobs: JobCounts
    products: int = Field(description="Product records: distinct contents, superseded included.")
    queues: dict[str, QueueDepth] | None = Field(
        description="Depth per broker queue; null when the broker could not be asked."
    )
    broker_error: ErrorEnvelope | None = Field(default=None, description="Why the queues are null.")
    database: PoolStats
    failures_by_code: dict[str, int] = Field(description="Failed jobs per error code.")
    counted_at: datetime | None = Field(
        default=None,
        description="When `jobs`, `products` and `failures_by_code` were counted: exact as of "
        "then. On a large catalogue /summary reuses a count for up to a second or two "
        "(counting a million jobs costs the database ~0.1 s); `fitsflow status` always counts.",
    )
