"""A real Dramatiq worker in this process (memory broker, worker threads), and
waiting on what it records: jobs finished, batches complete.

``running_worker(url)`` installs the runtime for a migrated database and
starts two worker threads on its broker; the runtime is also the sender and
the message inspector the outbox, retries and scans need.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dramatiq

from pipeline.api.jobs_views import batch_document
from pipeline.api.schemas import BatchProgress
from pipeline.clock import utc_now
from pipeline.db import Database
from pipeline.settings import Settings
from workers.runtime import WorkerRuntime, install

__all__ = [
    "BAD_BYTES",
    "Seen",
    "running_worker",
    "seen",
    "wait_for_batch",
    "wait_until_finished",
    "worker_settings",
]

#: Content that fails as ``not_fits`` (an HTML error page saved as .fits).
BAD_BYTES = b"<!DOCTYPE html><html>404 not found</html>\n"


@dataclass(frozen=True)
class Seen:
    """A file as admission sees it."""

    path: str
    size: int
    mtime_ns: int


def seen(path: Path) -> Seen:
    """``path`` as it is now."""
    status = path.stat()
    return Seen(str(path), status.st_size, status.st_mtime_ns)


def worker_settings(url: str, **sections: Any) -> Settings:
    """Settings for an in-process worker on ``url``: memory broker, fast backoff."""
    return Settings.model_validate(
        {
            "database": {"url": url, "busy_retry_seconds": 5.0},
            "broker": {"url": "memory://"},
            "worker": {"min_backoff_seconds": 0.05, "max_backoff_seconds": 0.2},
            **sections,
        }
    )


@contextlib.contextmanager
def running_worker(url: str, **sections: Any) -> Iterator[WorkerRuntime]:
    """The runtime for ``url`` with two worker threads consuming its queue."""
    runtime = install(worker_settings(url, **sections))
    worker = dramatiq.Worker(runtime.broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        yield runtime
    finally:
        worker.stop(timeout=10_000)


async def wait_until_finished(database: Database, seconds: float = 60) -> None:
    """Until no job is queued, running or retrying."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        unfinished = await database.fetch_value(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running', 'retrying')"
        )
        if int(unfinished) == 0:
            return
        await asyncio.sleep(0.05)
    rows = await database.fetch_all("SELECT id, path, state, error_code FROM jobs")
    raise AssertionError(f"jobs did not finish within {seconds}s: {rows}")


async def wait_for_batch(database: Database, batch_id: int, seconds: float = 60) -> BatchProgress:
    """Until batch ``batch_id`` is closed and every job of it finished; its progress then."""
    deadline = time.monotonic() + seconds
    while True:
        async with database.transaction(write=False) as tx:
            progress = await batch_document(tx, batch_id, utc_now())
        if progress.closed and progress.remaining == 0:
            return progress
        if time.monotonic() > deadline:
            raise AssertionError(f"batch {batch_id} did not complete: {progress}")
        await asyncio.sleep(0.05)
