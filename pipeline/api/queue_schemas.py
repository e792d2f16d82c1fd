"""The documents of ``/queues``, ``/workers`` and ``/dlq`` (and ``fitsflow queues|dlq --json``).

Kept beside :mod:`pipeline.api.schemas` and built the same way; a figure a
broker cannot know is null, with the reason in ``unknown``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from pipeline.api.schemas import ErrorEnvelope
from pipeline.models import JobState

__all__ = [
    "DeadLetter",
    "DeadLetterPage",
    "DeadLetterSelection",
    "PurgeResult",
    "Purged",
    "QueueFigures",
    "Queues",
    "RequeueResult",
    "Requeued",
    "RunningJob",
    "UnfinishedJobs",
    "Worker",
    "Workers",
]

#: Most dead letters one request may name.
MAX_SELECTION = 1000
#: Longest message id accepted (UUIDs are 36 characters).
MAX_MESSAGE_ID_LENGTH = 200

MessageId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_ID_LENGTH, pattern=r"^[^\x00]+$")
]


class _Document(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class QueueFigures(_Document):
    """One broker queue: its messages by condition and how long the oldest has waited."""

    name: str
    ready: int | None = Field(description="Waiting to be delivered now.")
    delayed: int | None = Field(description="Retries (and delayed sends) waiting for their time.")
    in_flight: int | None = Field(description="Delivered to a worker, not yet acknowledged.")
    dead: int | None = Field(description="Dead-lettered: given up on.")
    oldest_ready_at: datetime | None = Field(
        description="When the longest-waiting ready message became ready."
    )
    oldest_ready_age_seconds: float | None = Field(
        description="How long it has waited; null when nothing waits or the broker cannot tell."
    )
    unknown: dict[str, str] = Field(
        description="Why a figure is null (figure name -> reason), for this broker."
    )


class RunningJob(_Document):
    """A job a worker is processing now."""

    job_id: int
    path: str
    attempt: int
    started_at: datetime | None
    lease_expires_at: datetime | None


class Worker(_Document):
    """One worker process, as its last heartbeat described it."""

    id: str = Field(description="host:pid, as jobs record their worker.")
    hostname: str
    pid: int
    threads: int
    queues: list[str]
    started_at: datetime
    heartbeat_at: datetime
    heartbeat_seconds: float = Field(description="The worker's own heartbeat interval.")
    seconds_since_heartbeat: float
    alive: bool = Field(description="Heard from within three heartbeat intervals.")
    processing: list[RunningJob] = Field(description="Jobs running under this worker now.")


class Workers(_Document):
    """Every worker process recorded, live ones first."""

    alive: int
    workers: list[Worker]


class UnfinishedJobs(_Document):
    """Unfinished jobs per state, from the database (whatever the broker can tell)."""

    queued: int
    running: int
    retrying: int


class Queues(_Document):
    """The queues and the workers: `GET /queues` and `fitsflow queues --json`."""

    broker: str = Field(description="redis, rabbitmq or memory.")
    queues: list[QueueFigures] | None = Field(
        description="Figures per queue; null when the broker could not be asked."
    )
    broker_error: ErrorEnvelope | None = Field(description="Why `queues` is null.")
    jobs: UnfinishedJobs
    workers: list[Worker]
    checked_at: datetime


class DeadLetter(_Document):
    """One dead-lettered message and the job it was for."""

    message_id: str = Field(description="Pass to requeue or purge it.")
    queue: str
    actor: str
    job_id: int | None = Field(description="The job it was for; null for a bundle (see job_ids).")
    job_ids: list[int] = Field(
        description="Every job it carries: job_id alone, or each file of a bundle "
        "(actor ingest_files, several small files in one message)."
    )
    path: str | None
    job_state: JobState | None = Field(description="The job's state now; null without a job.")
    error_code: str | None = Field(description="The job's last error code.")
    error_message: str | None
    attempts: int | None = Field(description="Attempts the job has started.")
    retries: int = Field(description="Retries Dramatiq made before it gave up.")
    created_at: datetime | None
    died_at: datetime | None = Field(
        description="When the broker dead-lettered it (null where the broker does not record it)."
    )


class DeadLetterPage(_Document):
    """Dead letters in the order they died, one page at a time."""

    queue: str | None
    dead_letters: list[DeadLetter] | None = Field(
        description="Null when the broker could not be asked (see broker_error)."
    )
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
    broker_error: ErrorEnvelope | None = None


class DeadLetterSelection(_Document):
    """Which dead letters to act on: `{"message_ids": [...]}` or `{"all": true}`."""

    message_ids: list[MessageId] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SELECTION,
        description="Ids from `GET /dlq`.",
    )
    all: bool = Field(default=False, description="Every dead letter there is now.")

    @model_validator(mode="after")
    def _exactly_one(self) -> DeadLetterSelection:
        if (self.message_ids is None) == (not self.all):
            raise ValueError("give either message_ids or all: true (not both)")
        return self


class Requeued(_Document):
    """A dead letter sent again as a fresh message."""

    message_id: str
    new_message_id: str
    job_id: int | None
    job_ids: list[int] = Field(description="Every job it carries (a bundle's: several).")
    job_state: JobState | None = Field(description="The job's state after the requeue.")


class RequeueResult(_Document):
    """What a requeue did."""

    action: Literal["requeue"] = "requeue"
    requeued: list[Requeued]
    not_found: list[str] = Field(description="Ids asked for that were not dead letters.")


class Purged(_Document):
    """A dead letter deleted; its job stays as it ended."""

    message_id: str
    job_id: int | None
    job_ids: list[int] = Field(description="Every job it carried (a bundle's: several).")


class PurgeResult(_Document):
    """What a purge did."""

    action: Literal["purge"] = "purge"
    purged: list[Purged]
    not_found: list[str] = Field(description="Ids asked for that were not dead letters.")
