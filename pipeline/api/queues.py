"""Queues and workers: what ``GET /queues``, ``GET /workers`` and ``fitsflow queues`` show.

One function builds each document for the API and the terminal alike. The
workers come from the database (their heartbeats, and the running jobs that
name them), so they are known wherever the database is; the queue figures
come from the broker, asked with a deadline: a broker that cannot answer
leaves ``queues`` null with the reason in ``broker_error`` rather than
failing the document, as ``/summary`` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from pipeline.api import queue_schemas as docs
from pipeline.api.probe import BrokerProbe, NullBrokerProbe
from pipeline.api.schemas import ErrorEnvelope
from pipeline.clock import utc_now
from pipeline.db import Database
from pipeline.errors import BrokerUnavailable, FitsflowError
from pipeline.queues import BrokerControl, QueueFigures
from pipeline.repositories import status
from pipeline.repositories import workers as worker_rows

__all__ = [
    "ALIVE_INTERVALS",
    "BROKER_TIMEOUT_SECONDS",
    "broker_kind",
    "build_queues",
    "build_workers",
    "control_of",
]

#: A worker is alive while its last heartbeat is younger than this many of its intervals.
ALIVE_INTERVALS = 3
#: How long the broker may take to report its queues before it counts as down.
BROKER_TIMEOUT_SECONDS = 10.0


def broker_kind(url: str) -> str:
    """``redis``, ``rabbitmq`` or ``memory``, from a broker URL."""
    if url.startswith(("redis://", "rediss://")):
        return "redis"
    if url.startswith(("amqp://", "amqps://")):
        return "rabbitmq"
    return "memory"


def control_of(broker: BrokerProbe) -> BrokerControl:
    """``broker`` as a :class:`BrokerControl`; BrokerUnavailable when it is none."""
    if isinstance(broker, BrokerControl):
        return broker
    if isinstance(broker, NullBrokerProbe):
        raise BrokerUnavailable(
            "a memory:// broker lives inside the `fitsflow run` process that owns it; "
            "ask that process's status endpoint (GET /queues, GET /dlq)",
            details={"settings": ["broker.url"]},
        )
    raise BrokerUnavailable(f"{type(broker).__name__} cannot inspect queues or dead letters")


async def build_workers(database: Database, now: datetime | None = None) -> docs.Workers:
    """Every recorded worker with what it is processing, live ones first."""
    moment = now or utc_now()
    async with database.transaction(write=False) as tx:
        recorded = await worker_rows.list_workers(tx)
        running = await worker_rows.running_jobs(tx)
    found = [_worker(record, running, moment) for record in recorded]
    found.sort(key=lambda worker: (not worker.alive, worker.id))
    return docs.Workers(alive=sum(worker.alive for worker in found), workers=found)


def _worker(
    record: worker_rows.WorkerRecord, running: Sequence[worker_rows.RunningJob], now: datetime
) -> docs.Worker:
    silent = max(0.0, (now - record.heartbeat_at).total_seconds())
    return docs.Worker(
        id=record.id,
        hostname=record.hostname,
        pid=record.pid,
        threads=record.threads,
        queues=list(record.queues),
        started_at=record.started_at,
        heartbeat_at=record.heartbeat_at,
        heartbeat_seconds=record.heartbeat_seconds,
        seconds_since_heartbeat=silent,
        alive=silent < ALIVE_INTERVALS * record.heartbeat_seconds,
        processing=[
            docs.RunningJob(
                job_id=job.id,
                path=job.path,
                attempt=job.attempts,
                started_at=job.started_at,
                lease_expires_at=job.lease_expires_at,
            )
            for job in running
            if job.worker == record.id
        ],
    )


async def queue_figures(
    broker: BrokerProbe, now: datetime, within: float | None = None
) -> list[docs.QueueFigures]:
    """The broker's figures per queue; BrokerUnavailable without an answer ``within`` s."""
    within = BROKER_TIMEOUT_SECONDS if within is None else within
    control = control_of(broker)
    try:
        async with asyncio.timeout(within):
            figures = await control.queue_figures()
    except TimeoutError:
        raise BrokerUnavailable(f"the broker reported no queues within {within:g}s") from None
    return [_figures(queue, now) for queue in figures]


def _figures(queue: QueueFigures, now: datetime) -> docs.QueueFigures:
    oldest = queue.oldest_ready_at
    return docs.QueueFigures(
        name=queue.name,
        ready=queue.ready,
        delayed=queue.delayed,
        in_flight=queue.in_flight,
        dead=queue.dead,
        oldest_ready_at=oldest,
        oldest_ready_age_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else None,
        unknown=dict(queue.unknown),
    )


async def build_queues(database: Database, broker: BrokerProbe, broker_url: str) -> docs.Queues:
    """Figures per queue, unfinished jobs per state, and the workers."""
    now = utc_now()
    counts: dict[str, int] = {}
    async with database.transaction(write=False) as tx:
        # Only the unfinished states: each count reads a small slice of an index.
        for state in ("queued", "running", "retrying"):
            counts[state] = int(await tx.fetch_value(status.COUNT_STATE_SQL, {"state": state}))
    workers = await build_workers(database, now)
    figures: list[docs.QueueFigures] | None = None
    broker_error: ErrorEnvelope | None = None
    try:
        figures = await queue_figures(broker, now)
    except FitsflowError as error:
        broker_error = ErrorEnvelope.model_validate(error.to_dict())
    return docs.Queues(
        broker=getattr(broker, "kind", None) or broker_kind(broker_url),
        queues=figures,
        broker_error=broker_error,
        jobs=docs.UnfinishedJobs.model_validate(counts),
        workers=workers.workers,
        checked_at=now,
    )
