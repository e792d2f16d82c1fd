"""The jobs behind dead letters: looking them up, and reopening them for a requeue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pipeline.db import Connection
from pipeline.models import Job

__all__ = ["jobs_by_id", "reopen_failed_jobs"]

# A requeued dead letter is a fresh delivery of the same job, so the job goes
# back to ``queued`` — only from ``failed``: a job that is still unfinished
# (the reconciler sent it again meanwhile) or that succeeded keeps its state,
# and the fresh message finds nothing to do. ``enqueued_at`` is now and
# ``message_id`` empty until the new message is sent, so that if sending
# fails the reconciler sends it once ``stale_after_seconds`` have passed;
# the error of the last attempt stays, as it does while a job is retrying,
# and every attempt keeps its own row.
REOPEN_FAILED_JOB_SQL = (
    "UPDATE jobs SET state = 'queued', enqueued_at = :now, message_id = NULL,"
    " finished_at = NULL, next_attempt_at = NULL, lease_expires_at = NULL, updated_at = :now"
    " WHERE id = :id AND state = 'failed'"
)
SELECT_JOBS_SQL = "SELECT * FROM jobs WHERE id IN ({placeholders})"


async def jobs_by_id(conn: Connection, job_ids: Sequence[int]) -> dict[int, Job]:
    """The jobs with these ids that exist, by id."""
    unique = sorted(set(job_ids))
    if not unique:
        return {}
    # One bound placeholder per id; only the placeholder names are interpolated.
    names = [f"id{index}" for index in range(len(unique))]
    sql = SELECT_JOBS_SQL.format(placeholders=", ".join(f":{name}" for name in names))
    rows = await conn.fetch_all(sql, dict(zip(names, unique, strict=True)))
    return {int(row["id"]): Job.from_row(row) for row in rows}


async def reopen_failed_jobs(conn: Connection, job_ids: Sequence[int], now: datetime) -> list[int]:
    """Return the failed ones of these jobs to ``queued``; the ids that were reopened."""
    reopened = []
    for job_id in sorted(set(job_ids)):
        if await conn.execute(REOPEN_FAILED_JOB_SQL, {"id": job_id, "now": now}):
            reopened.append(job_id)
    return reopened
