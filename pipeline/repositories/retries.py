"""Retry jobs: new queued jobs that point at the failed job they retry.

A finished job is never re-opened. A retry inserts a new job (source
``retry``, ``retry_of`` the failed one) carrying the file's size and mtime as
they are now, so the failed job, its attempts and its error stay exactly as
they happened and a file's history reads in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.db import Connection

__all__ = ["RETRY_SOURCE", "NewRetry", "insert_retry", "newest_job_id"]

#: ``jobs.source`` of a retry.
RETRY_SOURCE = "retry"

INSERT_RETRY_SQL = (
    "INSERT INTO jobs (path, size, mtime_ns, state, source, attempts, batch_id, retry_of,"
    " created_at, updated_at) VALUES (:path, :size, :mtime_ns, 'queued', :source, 0,"
    " :batch_id, :retry_of, :now, :now) RETURNING id"
)
# ix_jobs_path_id, read backwards.
NEWEST_JOB_ID_SQL = "SELECT id FROM jobs WHERE path = :path ORDER BY id DESC LIMIT 1"


@dataclass(frozen=True, slots=True)
class NewRetry:
    """A retry to insert: the failed job, and the file as it is now (None: not there)."""

    retry_of: int
    path: str
    size: int | None
    mtime_ns: int | None
    batch_id: int | None = None


async def insert_retry(conn: Connection, retry: NewRetry, now: datetime) -> int:
    """Insert the queued retry job; returns its id."""
    params = {
        "path": retry.path,
        "size": retry.size,
        "mtime_ns": retry.mtime_ns,
        "source": RETRY_SOURCE,
        "batch_id": retry.batch_id,
        "retry_of": retry.retry_of,
        "now": now,
    }
    return int(await conn.fetch_value(INSERT_RETRY_SQL, params))


async def newest_job_id(conn: Connection, path: str) -> int | None:
    """The id of the newest job of ``path``, if it has any."""
    value = await conn.fetch_value(NEWEST_JOB_ID_SQL, {"path": path})
    return int(value) if value is not None else None
