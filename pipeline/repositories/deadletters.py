"""The jobs behind dead letters: reopening them for a requeue.

(``jobs.jobs_by_id`` looks them up.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pipeline.db import Connection

__all__ = ["reopen_failed_jobs"]

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


async def reopen_failed_jobs(conn: Connection, job_ids: Sequence[int], now: datetime) -> list[int]:
    """Return the failed ones of these jobs to ``queued``; the ids that were reopened."""
    reopened = []
    for job_id in sorted(set(job_ids)):
        if await conn.execute(REOPEN_FAILED_JOB_SQL, {"id": job_id, "now": now}):
            reopened.append(job_id)
    return reopened
