"""Worker processes (the ``workers`` table) and the jobs they are running.

A worker upserts its row every heartbeat and deletes it when it stops
cleanly; a row whose heartbeat stopped is a worker that died (or lost the
database), kept for a while so an operator can see what it was holding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.clock import as_datetime
from pipeline.db import Connection
from pipeline.jsonutil import dumps, loads

__all__ = [
    "RunningJob",
    "WorkerBeat",
    "WorkerRecord",
    "delete_worker",
    "list_workers",
    "prune_workers",
    "record_heartbeat",
    "running_jobs",
]

# One statement for both databases: SQLite (3.24+) and PostgreSQL share the
# upsert syntax. started_at travels with every beat, so a pid reused on the
# same host (a restarted container) replaces the old process's row.
UPSERT_WORKER_SQL = (
    "INSERT INTO workers (id, hostname, pid, threads, queues, heartbeat_seconds, started_at,"
    " heartbeat_at) VALUES (:id, :hostname, :pid, :threads, :queues, :heartbeat_seconds,"
    " :started_at, :now) ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname,"
    " pid = excluded.pid, threads = excluded.threads, queues = excluded.queues,"
    " heartbeat_seconds = excluded.heartbeat_seconds, started_at = excluded.started_at,"
    " heartbeat_at = excluded.heartbeat_at"
)
DELETE_WORKER_SQL = "DELETE FROM workers WHERE id = :id"
PRUNE_WORKERS_SQL = "DELETE FROM workers WHERE heartbeat_at < :before"
SELECT_WORKERS_SQL = "SELECT * FROM workers ORDER BY id"
# Running jobs are few (at most one per worker thread), and ix_jobs_unfinished
# holds exactly the unfinished ones: this never scans the finished catalogue.
SELECT_RUNNING_SQL = (
    "SELECT id, path, worker, attempts, started_at, lease_expires_at FROM jobs"
    " WHERE state = 'running' AND worker IS NOT NULL ORDER BY id"
)


@dataclass(frozen=True, slots=True)
class WorkerBeat:
    """What a worker process says about itself with each heartbeat."""

    id: str
    hostname: str
    pid: int
    threads: int
    queues: tuple[str, ...]
    heartbeat_seconds: float
    started_at: datetime


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """One row of ``workers``: a worker process as last heard from."""

    id: str
    hostname: str
    pid: int
    threads: int
    queues: tuple[str, ...]
    heartbeat_seconds: float
    started_at: datetime
    heartbeat_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> WorkerRecord:
        started_at, heartbeat_at = as_datetime(row["started_at"]), as_datetime(row["heartbeat_at"])
        assert started_at is not None and heartbeat_at is not None  # NOT NULL columns
        return cls(
            id=str(row["id"]),
            hostname=str(row["hostname"]),
            pid=int(row["pid"]),
            threads=int(row["threads"]),
            queues=tuple(str(queue) for queue in loads(row["queues"]) or ()),
            heartbeat_seconds=float(row["heartbeat_seconds"]),
            started_at=started_at,
            heartbeat_at=heartbeat_at,
        )


@dataclass(frozen=True, slots=True)
class RunningJob:
    """A job in state ``running`` and the worker that holds it."""

    id: int
    path: str
    worker: str
    attempts: int
    started_at: datetime | None
    lease_expires_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunningJob:
        return cls(
            id=int(row["id"]),
            path=str(row["path"]),
            worker=str(row["worker"]),
            attempts=int(row["attempts"]),
            started_at=as_datetime(row["started_at"]),
            lease_expires_at=as_datetime(row["lease_expires_at"]),
        )


async def record_heartbeat(conn: Connection, beat: WorkerBeat, now: datetime) -> None:
    """Insert or refresh the worker's row with ``now`` as its heartbeat."""
    await conn.execute(
        UPSERT_WORKER_SQL,
        {
            "id": beat.id,
            "hostname": beat.hostname,
            "pid": beat.pid,
            "threads": beat.threads,
            "queues": dumps(list(beat.queues)),
            "heartbeat_seconds": beat.heartbeat_seconds,
            "started_at": beat.started_at,
            "now": now,
        },
    )


async def delete_worker(conn: Connection, worker_id: str) -> None:
    """Forget a worker that stopped cleanly."""
    await conn.execute(DELETE_WORKER_SQL, {"id": worker_id})


async def prune_workers(conn: Connection, before: datetime) -> int:
    """Forget workers not heard from since ``before``; returns how many."""
    return await conn.execute(PRUNE_WORKERS_SQL, {"before": before})


async def list_workers(conn: Connection) -> list[WorkerRecord]:
    """Every recorded worker, by id."""
    return [WorkerRecord.from_row(row) for row in await conn.fetch_all(SELECT_WORKERS_SQL)]


async def running_jobs(conn: Connection) -> list[RunningJob]:
    """Every running job with the worker that holds it, oldest first."""
    return [RunningJob.from_row(row) for row in await conn.fetch_all(SELECT_RUNNING_SQL)]
