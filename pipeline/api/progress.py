"""How far a batch is: counts per state, rate over the last minute, ETA.

The rate counts the batch's jobs whose ``finished_at`` falls in the window
(the last minute, or the batch's whole life when it is younger), so it
follows the pace of the workers now rather than the average since the start
of a backfill that may have waited hours for them. The ETA is what remains
at that pace; it is unknown (null) while nothing finished in the window, and
zero once nothing remains.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pipeline.api import schemas
from pipeline.db import Connection
from pipeline.models import Batch, JobState
from pipeline.repositories import batches, status

__all__ = ["RATE_WINDOW_SECONDS", "batch_progress", "estimate"]

#: The window the rate is measured over.
RATE_WINDOW_SECONDS = 60.0
#: A window shorter than this (a batch created a moment ago) would turn one
#: finished job into an absurd rate.
MIN_WINDOW_SECONDS = 1.0


def estimate(remaining: int, finished_in_window: int, window: float) -> tuple[float, float | None]:
    """``(rate per second, ETA in seconds)`` for ``remaining`` jobs."""
    rate = finished_in_window / window if window > 0 else 0.0
    if remaining <= 0:
        return rate, 0.0
    if rate <= 0:
        return rate, None
    return rate, remaining / rate


def _window(batch: Batch, now: datetime) -> float:
    age = (now - batch.created_at).total_seconds()
    return max(MIN_WINDOW_SECONDS, min(RATE_WINDOW_SECONDS, age))


async def batch_progress(
    conn: Connection, batch_id: int, now: datetime
) -> schemas.BatchProgress | None:
    """The progress of batch ``batch_id`` as of ``now``; None when there is no such batch."""
    batch = await batches.get_batch(conn, batch_id)
    if batch is None:
        return None
    counts = await batches.count_states(conn, batch_id)
    window = _window(batch, now)
    finished = await status.finished_since(conn, batch_id, now - timedelta(seconds=window))
    done = counts[JobState.SUCCEEDED.value] + counts[JobState.FAILED.value]
    # An open batch's total is written when it closes (zero until then): the
    # jobs admitted so far are the best lower bound there is.
    total = max(batch.total, sum(counts.values()))
    remaining = max(0, total - done)
    rate, eta = estimate(remaining, finished, window)
    finished_at = batch.finished_at
    if finished_at is None and batch.closed and remaining == 0:
        # A batch run by the workers (scan, retry) ends with its last job.
        finished_at = await batches.last_finished_at(conn, batch_id)
    return schemas.BatchProgress(
        id=batch.id,
        kind=batch.kind,
        description=batch.description,
        total=total,
        closed=batch.closed,
        created_at=batch.created_at,
        finished_at=finished_at,
        counts=schemas.JobCounts.model_validate(counts),
        done=done,
        remaining=remaining,
        rate_per_second=rate,
        rate_window_seconds=window,
        eta_seconds=eta,
    )
