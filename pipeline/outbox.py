"""The outbox: a job row is committed before its message is sent.

Admission decides, in the database, which files are new (path, size and
mtime against the current product and the unfinished jobs; content is the
worker's business), commits a ``queued`` job per new file, then sends one
message per job. A crash between commit and send, or a broker that is down,
leaves ``queued`` jobs that were never sent: the reconciler finds and sends
them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import structlog

from pipeline import metrics
from pipeline.clock import utc_now
from pipeline.db import Connection, Database
from pipeline.errors import BrokerUnavailable, FitsflowError
from pipeline.models import JobState
from pipeline.repositories import jobs, products
from pipeline.repositories.jobs import NewJob

__all__ = ["Admission", "FileState", "IngestMessage", "Sender", "root_for", "send_all"]

log = structlog.get_logger(__name__)


class FileState(Protocol):
    """What admission needs to know about a file (the watcher's ``SeenFile``)."""

    @property
    def path(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def mtime_ns(self) -> int: ...


@dataclass(frozen=True, slots=True)
class IngestMessage:
    """The JSON-safe content of one ingest message."""

    job_id: int
    path: str
    size: int | None
    mtime_ns: int | None
    root: str | None
    delay_seconds: float = 0.0


class Sender(Protocol):
    """Puts ingest messages on the queue (blocking; called from a thread)."""

    def send(self, message: IngestMessage) -> str:
        """Send ``message``; returns the broker's message id. BrokerUnavailable if down."""
        ...

    @property
    def batch_size(self) -> int:
        """How many undelayed messages :meth:`send_batch` takes at once (1: one by one)."""
        ...

    def send_batch(self, messages: Sequence[IngestMessage]) -> list[str]:
        """Send undelayed ``messages``, all or none (BrokerUnavailable); their ids in order."""
        ...


def root_for(path: str, roots: Sequence[Path]) -> Path | None:
    """The innermost of ``roots`` that ``path`` lies under, if any."""
    candidates = [root for root in roots if path == str(root) or path.startswith(str(root) + "/")]
    return max(candidates, key=lambda root: len(str(root)), default=None)


class Admission:
    """Turns seen files into committed jobs and sent messages.

    With no ``sender`` the jobs are only committed: the reconciler of the
    process that owns the queue sends them (``fitsflow scan`` beside a
    ``fitsflow run``, whose memory:// queue no other process can reach).
    """

    def __init__(
        self,
        db: Database,
        sender: Sender | None,
        roots: Sequence[Path],
        *,
        source: str = "watch",
        batch_id: int | None = None,
    ) -> None:
        self.db = db
        self.sender = sender
        self.roots = [Path(root) for root in roots]
        self.source = source
        self.batch_id = batch_id

    async def admit(self, files: Sequence[FileState]) -> list[int]:
        """Commit a job for every new file, then send their messages; returns job ids."""

        async def commit(tx: Connection) -> list[IngestMessage]:
            return await self._commit_new(tx, files)

        messages = await self.db.run_in_transaction(commit)
        metrics.record_admitted(self.source, len(messages))
        if messages and self.sender is not None:
            await send_all(self.db, self.sender, messages)
        return [message.job_id for message in messages]

    async def _commit_new(self, tx: Connection, files: Sequence[FileState]) -> list[IngestMessage]:
        # A handful of statements per batch, not per file: a burst arrives in
        # batches of hundreds, and every round trip waits on the one writer.
        latest = {seen.path: seen for seen in files}  # a path twice: its newest state
        paths = list(latest)
        recorded = await products.current_states(tx, paths)
        pending = await jobs.pending_states(tx, paths)
        new = [
            seen
            for seen in latest.values()
            if recorded.get(seen.path) != (seen.size, seen.mtime_ns)
            and (seen.path, seen.size, seen.mtime_ns) not in pending
        ]
        if not new:
            return []
        new_jobs = [NewJob(s.path, s.size, s.mtime_ns, self.source, self.batch_id) for s in new]
        job_ids = await jobs.insert_jobs(tx, new_jobs, utc_now())
        messages = []
        for job_id, seen in zip(job_ids, new, strict=True):
            root = root_for(seen.path, self.roots)
            messages.append(
                IngestMessage(
                    job_id, seen.path, seen.size, seen.mtime_ns, str(root) if root else None
                )
            )
        return messages

    async def refuse(self, path: str, error: FitsflowError) -> int | None:
        """Record a path refused before any worker saw it, as a failed job.

        The same refusal repeated (a rescan finding the same FIFO) is recorded once.
        """

        async def record(tx: Connection) -> int | None:
            latest = await jobs.latest_for_path(tx, path)
            if latest and latest.state is JobState.FAILED and latest.error_code == error.code:
                return None
            now = utc_now()
            job_id = await jobs.insert_job(tx, NewJob(path, None, None, self.source), now)
            await jobs.mark_failed(tx, job_id, error, now)
            return job_id

        job_id = await self.db.run_in_transaction(record)
        if job_id is not None:
            metrics.record_refused(error.code)
            log.info("file refused", path=path, job_id=job_id, code=error.code)
        return job_id


async def send_all(db: Database, sender: Sender, messages: Sequence[IngestMessage]) -> int:
    """Send ``messages`` and record each as enqueued; returns how many were sent.

    A broker that is down stops the round: the unsent jobs stay ``queued``
    with no ``enqueued_at`` and the reconciler sends them later.
    """
    sent: list[tuple[int, str]] = []

    def send_each() -> None:
        # One thread hop for the whole round; `sent` keeps what went out
        # before a broker failure (a batch goes out whole or not at all).
        size = max(1, sender.batch_size)
        now = [message for message in messages if not message.delay_seconds]
        for start in range(0, len(now), size):
            batch = now[start : start + size]
            sent.extend(zip((m.job_id for m in batch), sender.send_batch(batch), strict=True))
        for message in messages:
            if message.delay_seconds:
                sent.append((message.job_id, sender.send(message)))

    try:
        await asyncio.to_thread(send_each)
    except BrokerUnavailable as error:
        log.warning(
            "broker unavailable; jobs stay queued",
            error=error.message,
            unsent=len(messages) - len(sent),
        )
    if sent:

        async def mark(tx: Connection) -> None:
            await jobs.mark_enqueued_many(tx, sent, utc_now())

        await db.run_in_transaction(mark)
    return len(sent)
