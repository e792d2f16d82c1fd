"""Batches: sets of jobs admitted together, and their progress."""

from __future__ import annotations

from datetime import datetime

from pipeline.clock import as_datetime
from pipeline.db import Connection
from pipeline.models import Batch, JobState

__all__ = [
    "close_batch",
    "close_queued_batch",
    "count_states",
    "create_batch",
    "finish_batch",
    "get_batch",
    "last_finished_at",
    "list_batches",
    "list_batches_before",
]

INSERT_BATCH_SQL = (
    "INSERT INTO batches (kind, description, total, closed, created_at)"
    " VALUES (:kind, :description, 0, FALSE, :now) RETURNING id"
)
CLOSE_BATCH_SQL = "UPDATE batches SET total = :total, closed = TRUE WHERE id = :id"
FINISH_BATCH_SQL = "UPDATE batches SET finished_at = :now WHERE id = :id AND finished_at IS NULL"
SELECT_BATCH_SQL = "SELECT * FROM batches WHERE id = :id"
LIST_BATCHES_SQL = "SELECT * FROM batches ORDER BY id DESC LIMIT :limit"
COUNT_STATES_SQL = "SELECT state, COUNT(*) AS n FROM jobs WHERE batch_id = :id GROUP BY state"
LIST_BATCHES_BEFORE_SQL = (
    "SELECT * FROM batches WHERE id < :before_id ORDER BY id DESC LIMIT :limit"
)
# One probe of ix_jobs_batch_id_finished_at, whatever the batch's size.
LAST_FINISHED_SQL = "SELECT MAX(finished_at) FROM jobs WHERE batch_id = :id"


async def create_batch(conn: Connection, kind: str, description: str | None, now: datetime) -> int:
    params = {"kind": kind, "description": description, "now": now}
    return int(await conn.fetch_value(INSERT_BATCH_SQL, params))


async def close_batch(conn: Connection, batch_id: int, total: int) -> None:
    """Every job of the batch is admitted: ``total`` is final."""
    await conn.execute(CLOSE_BATCH_SQL, {"id": batch_id, "total": total})


async def close_queued_batch(conn: Connection, batch_id: int, total: int, now: datetime) -> None:
    """Close a batch the workers run (scan, retry); an empty one is finished at once.

    A non-empty one is finished when its last job is: see ``last_finished_at``.
    """
    await close_batch(conn, batch_id, total)
    if total == 0:
        await finish_batch(conn, batch_id, now)


async def finish_batch(conn: Connection, batch_id: int, now: datetime) -> None:
    await conn.execute(FINISH_BATCH_SQL, {"id": batch_id, "now": now})


async def get_batch(conn: Connection, batch_id: int) -> Batch | None:
    row = await conn.fetch_one(SELECT_BATCH_SQL, {"id": batch_id})
    return Batch.from_row(row) if row else None


async def list_batches(conn: Connection, limit: int = 50) -> list[Batch]:
    return [Batch.from_row(row) for row in await conn.fetch_all(LIST_BATCHES_SQL, {"limit": limit})]


async def count_states(conn: Connection, batch_id: int) -> dict[str, int]:
    """Jobs of the batch per state, every state present."""
    counts = {state.value: 0 for state in JobState}
    for row in await conn.fetch_all(COUNT_STATES_SQL, {"id": batch_id}):
        counts[str(row["state"])] = int(row["n"])
    return counts


async def list_batches_before(conn: Connection, before_id: int | None, limit: int) -> list[Batch]:
    """Batches newest first, only those below ``before_id`` (the keyset cursor) if given."""
    if before_id is None:
        return await list_batches(conn, limit)
    rows = await conn.fetch_all(LIST_BATCHES_BEFORE_SQL, {"before_id": before_id, "limit": limit})
    return [Batch.from_row(row) for row in rows]


async def last_finished_at(conn: Connection, batch_id: int) -> datetime | None:
    """When the last finished job of the batch finished (None if none has)."""
    return as_datetime(await conn.fetch_value(LAST_FINISHED_SQL, {"id": batch_id}))
