"""The reconciler: every admitted job gets a message until it is finished.

Messages get lost: the process died between committing a job and sending it,
the broker was down, Redis restarted without persistence, the embedded
process (whose queue lives in memory) was killed. Every ``interval`` the
reconciler walks the unfinished jobs and sends again those whose message
cannot still be on its way:

- never sent (``enqueued_at`` empty) and older than a short grace period;
- sent long ago (``stale_after``) and the broker says the message is gone;
- running under an expired lease (its worker died) and the message is gone;
- retrying, due long ago, and the delayed message is gone.

A broker that cannot say whether a message exists (RabbitMQ keeps durable
messages and redelivers a dead consumer's itself) is trusted for the last
three. A duplicate message is harmless: the job's lease makes it a no-op.

A message a worker had fetched when it died still exists, held in that
worker's name: each round first asks the broker to put such messages back on
the queue once the worker's heartbeat has stopped (Redis; Dramatiq itself
does it only at random, 1 in 1,000 of its commands).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import structlog

from pipeline import metrics
from pipeline.clock import utc_now
from pipeline.db import Connection, Database
from pipeline.errors import TransientError
from pipeline.models import Job, JobState
from pipeline.outbox import IngestMessage, Sender, root_for, send_all
from pipeline.repositories import jobs
from pipeline.settings import ReconcilerSettings

__all__ = ["MessageInspector", "Reconciler"]

log = structlog.get_logger(__name__)

#: A job is only "never sent" after this long: admission sends right after commit.
NEVER_SENT_GRACE = timedelta(seconds=5)
_PAGE = 500


class MessageInspector(Protocol):
    """What the reconciler asks of the broker."""

    #: The queue the messages go to (a label of the metrics).
    queue: str

    def message_exists(self, message_id: str) -> bool | None:
        """Whether the broker still holds a message (None: it cannot tell)."""
        ...

    def requeue_abandoned(self) -> int:
        """Put the messages held by dead workers back on the queue; how many."""
        ...


class Reconciler:
    """Re-sends jobs whose message was lost."""

    def __init__(
        self,
        db: Database,
        sender: Sender,
        inspector: MessageInspector,
        settings: ReconcilerSettings,
        roots: Sequence[Path] = (),
    ) -> None:
        self.db = db
        self.sender = sender
        self.inspector = inspector
        self.settings = settings
        self.roots = list(roots)
        self.resent_total = 0
        #: Messages of dead workers put back on the queue (Redis).
        self.requeued_total = 0

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Reconcile every ``interval_seconds`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.run_once()
            except TransientError as error:
                log.warning("reconciler round skipped", code=error.code, error=error.message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.interval_seconds)

    async def run_once(self, now: datetime | None = None) -> int:
        """One pass over the unfinished jobs; returns how many were sent again."""
        moment = now or utc_now()
        # First: a message a dead worker had fetched still exists, so the
        # rounds below would trust it to arrive; it arrives once back on the queue.
        abandoned = await asyncio.to_thread(self.inspector.requeue_abandoned)
        if abandoned:
            self.requeued_total += abandoned
            metrics.record_requeued(self.inspector.queue, abandoned)
            log.info("messages of stopped workers put back on the queue", count=abandoned)
        stale_before = moment - timedelta(seconds=self.settings.stale_after_seconds)
        resent = 0
        after_id = 0
        while True:
            async with self.db.transaction(write=False) as tx:
                page = await jobs.due_unfinished_jobs(
                    tx,
                    after_id,
                    _PAGE,
                    now=moment,
                    stale_before=stale_before,
                    never_sent_before=moment - NEVER_SENT_GRACE,
                )
            if not page:
                break
            after_id = page[-1].id
            lost = [job for job in page if await self._is_lost(job, moment)]
            for job in lost:
                log.info("sending a lost message again", job_id=job.id, path=job.path)
            resent += await send_all(
                self.db, self.sender, [self._message(job, moment) for job in lost]
            )
        if resent:
            self.resent_total += resent
            metrics.record_resent("periodic", resent)
            log.info("reconciler re-sent lost messages", count=resent)
        return resent

    async def resend_everything_unfinished(self) -> int:
        """Send every unfinished job again: for the embedded process starting up,
        whose in-memory queue died with its last run. Running jobs are first
        returned to ``queued`` (no other worker can hold them)."""

        async def release(tx: Connection) -> int:
            return await jobs.release_orphans(tx, utc_now())

        await self.db.run_in_transaction(release)
        moment = utc_now()
        resent = 0
        async for page in self._unfinished_pages():
            resent += await send_all(self.db, self.sender, [self._message(j, moment) for j in page])
        self.resent_total += resent
        metrics.record_resent("startup", resent)
        return resent

    async def _unfinished_pages(self) -> AsyncIterator[list[Job]]:
        after_id = 0
        while True:
            async with self.db.transaction(write=False) as tx:
                page = await jobs.unfinished_jobs(tx, after_id, _PAGE)
            if not page:
                return
            after_id = page[-1].id
            yield page

    async def _is_lost(self, job: Job, now: datetime) -> bool:
        stale = timedelta(seconds=self.settings.stale_after_seconds)
        if job.state is JobState.QUEUED and job.enqueued_at is None:
            return job.created_at < now - NEVER_SENT_GRACE
        if job.state is JobState.QUEUED:
            due = job.enqueued_at is not None and job.enqueued_at < now - stale
        elif job.state is JobState.RUNNING:
            due = job.lease_expires_at is not None and job.lease_expires_at < now
        else:
            due = job.next_attempt_at is None or job.next_attempt_at < now - stale
        if not due:
            return False
        if job.message_id is None:
            return True
        exists = await asyncio.to_thread(self.inspector.message_exists, job.message_id)
        return exists is False

    def _message(self, job: Job, now: datetime) -> IngestMessage:
        delay = 0.0
        if job.state is JobState.RETRYING and job.next_attempt_at is not None:
            delay = max(0.0, (job.next_attempt_at - now).total_seconds())
        root = root_for(job.path, self.roots)
        return IngestMessage(
            job.id, job.path, job.size, job.mtime_ns, str(root) if root else None, delay
        )
