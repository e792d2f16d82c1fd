"""Retrying failed jobs: a new job per failure, committed first, then sent.

A retry never re-opens a finished job. It inserts a new ``queued`` job (source
``retry``) that points at the failed one (``retry_of``) and carries the
file's size and mtime as they are *now*; the worker then reads the file as it
is now. The failed job keeps its error and its attempts, so a file's history
shows every job and every attempt exactly as it happened.

Only an *unresolved* failure can be retried: a failed job that is still the
newest job of its path. The check runs in the transaction that inserts the
retry, under the path's lock (the same key the ingest service takes), so two
operators retrying at once make one retry, not two.

Like admission (:mod:`pipeline.outbox`), the jobs are committed before their
messages are sent; a send that is lost is made again by the reconciler. With
no sender (a memory:// queue owned by another process) the jobs are only
committed and that process's reconciler sends them.

A bulk retry (every unresolved failure of an error code, or under a path
prefix) is a batch of kind ``retry``: chunks of failures are committed and
sent one after another, and the batch is closed with its final total.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from pipeline.clock import utc_now
from pipeline.db import Connection, Database
from pipeline.errors import Conflict, NotFound
from pipeline.models import Job, JobState
from pipeline.outbox import IngestMessage, Sender, root_for, send_all
from pipeline.repositories import batches, jobs, retries, status
from pipeline.repositories.retries import NewRetry

__all__ = ["DEFAULT_CHUNK_SIZE", "Retrier", "RetrySelection"]

log = structlog.get_logger(__name__)

#: Failures committed (and then sent) per transaction in a bulk retry.
DEFAULT_CHUNK_SIZE = 500
#: ``batches.kind`` of a bulk retry.
BATCH_KIND = "retry"


@dataclass(frozen=True, slots=True)
class RetrySelection:
    """Which unresolved failures a bulk retry takes (both given: both must hold)."""

    error_code: str | None = None
    path_prefix: str | None = None

    def describe(self) -> str:
        """A line for the batch's description."""
        parts = [f"error_code={self.error_code}"] if self.error_code is not None else []
        if self.path_prefix is not None:
            parts.append(f"path_prefix={self.path_prefix}")
        return "retry " + " ".join(parts)

    def query(self, before_id: int | None = None) -> status.JobQuery:
        """The unresolved failures selected, below ``before_id`` when paging."""
        return status.JobQuery(
            state=JobState.FAILED,
            error_code=self.error_code,
            path_prefix=self.path_prefix,
            unresolved=True,
            before_id=before_id,
        )


def file_now(path: str) -> tuple[int | None, int | None]:
    """``(size, mtime_ns)`` of ``path`` as it is now; ``(None, None)`` if it cannot be seen."""
    try:
        seen = os.stat(path)
    except OSError:
        return None, None  # the worker will say why (missing, unreadable)
    return seen.st_size, seen.st_mtime_ns


class Retrier:
    """Commits retry jobs for failed jobs, then sends their messages."""

    def __init__(
        self,
        db: Database,
        sender: Sender | None,
        roots: Sequence[str | Path] = (),
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        self.db = db
        self.sender = sender
        self.roots = [Path(root) for root in roots]
        self.chunk_size = chunk_size

    async def retry_job(self, job_id: int) -> int:
        """Retry failed job ``job_id``; returns the new job's id.

        :class:`NotFound` for an unknown job; :class:`Conflict` when the job
        did not fail or a later job of its path exists (retry that one).
        """
        async with self.db.transaction(write=False) as tx:
            job = await jobs.get_job(tx, job_id)
        if job is None:
            raise NotFound(f"no job {job_id}", details={"job_id": job_id})
        if job.state is not JobState.FAILED:
            raise Conflict(
                f"job {job_id} is {job.state.value}; only failed jobs can be retried",
                details={"job_id": job_id, "state": job.state.value},
            )
        size, mtime_ns = await asyncio.to_thread(file_now, job.path)
        retry = NewRetry(job.id, job.path, size, mtime_ns)

        async def commit(tx: Connection) -> int:
            newest = await self._newest_locked(tx, job.path)
            if newest != job.id:
                raise Conflict(
                    f"job {job_id} is not the newest job of {job.path}: job {newest} is",
                    details={"job_id": job_id, "newest_job_id": newest},
                )
            return await retries.insert_retry(tx, retry, utc_now())

        new_id = await self.db.run_in_transaction(commit)
        await self._send([self._message(new_id, retry)])
        log.info("job retried", job_id=new_id, retry_of=job_id, path=job.path)
        return new_id

    async def open_batch(self, selection: RetrySelection) -> int:
        """Create the (open, empty) batch of a bulk retry; returns its id."""
        async with self.db.transaction() as tx:
            return await batches.create_batch(tx, BATCH_KIND, selection.describe(), utc_now())

    async def retry_batch(self, batch_id: int, selection: RetrySelection) -> int:
        """Retry every unresolved failure ``selection`` takes as batch ``batch_id``.

        Newest failures first, a chunk per transaction; retry jobs are newer
        than every failure, so the walk never meets its own work. The batch is
        closed with the number of retries made, which is returned.
        """
        total = 0
        before_id: int | None = None
        while True:
            async with self.db.transaction(write=False) as tx:
                page = await status.list_jobs(tx, selection.query(before_id), self.chunk_size)
            if not page:
                break
            before_id = page[-1].id
            total += await self._retry_chunk(batch_id, page)
        await self.db.run_in_transaction(
            lambda tx: batches.close_queued_batch(tx, batch_id, total, utc_now())
        )
        log.info("bulk retry admitted", batch_id=batch_id, jobs=total, what=selection.describe())
        return total

    async def retry_all(self, selection: RetrySelection) -> int:
        """Open a batch and retry every failure ``selection`` takes; returns the batch id."""
        batch_id = await self.open_batch(selection)
        await self.retry_batch(batch_id, selection)
        return batch_id

    async def _retry_chunk(self, batch_id: int, failed: Sequence[Job]) -> int:
        seen = await asyncio.to_thread(lambda: [file_now(job.path) for job in failed])
        # Path locks taken in one fixed order: concurrent bulk retries cannot deadlock.
        wanted = sorted(
            (
                NewRetry(job.id, job.path, size, mtime_ns, batch_id)
                for job, (size, mtime_ns) in zip(failed, seen, strict=True)
            ),
            key=lambda retry: retry.path,
        )

        async def commit(tx: Connection) -> list[IngestMessage]:
            now = utc_now()
            messages = []
            for retry in wanted:
                # Another retry may have got there since the page was read.
                if await self._newest_locked(tx, retry.path) == retry.retry_of:
                    job_id = await retries.insert_retry(tx, retry, now)
                    messages.append(self._message(job_id, retry))
            return messages

        messages = await self.db.run_in_transaction(commit)
        await self._send(messages)
        return len(messages)

    async def _newest_locked(self, tx: Connection, path: str) -> int | None:
        await tx.lock_key("path:" + path)
        return await retries.newest_job_id(tx, path)

    def _message(self, job_id: int, retry: NewRetry) -> IngestMessage:
        root = root_for(retry.path, self.roots)
        return IngestMessage(
            job_id, retry.path, retry.size, retry.mtime_ns, str(root) if root else None
        )

    async def _send(self, messages: Sequence[IngestMessage]) -> None:
        if messages and self.sender is not None:
            await send_all(self.db, self.sender, messages)
