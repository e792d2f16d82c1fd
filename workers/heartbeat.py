"""Middleware for the operator's view: worker heartbeats and queue time stamps.

:class:`WorkerHeartbeat` records each worker process in the ``workers`` table
(id ``host:pid`` — the name its jobs record as ``worker``) at boot and every
``worker.heartbeat_seconds`` after, and deletes the row when the worker stops
cleanly; a worker that dies leaves a row whose heartbeat ages, which is how
the status views tell it is gone. The beat runs as a task on the event loop
the AsyncIO middleware gives the actor's coroutines, through the same
database adapter the ingest service opened there: no second connection pool,
no thread of its own, and it boots and stops with the worker in every mode —
``dramatiq workers`` / ``fitsflow worker`` processes and the worker threads
inside ``fitsflow run`` alike.

:class:`QueueStamps` stamps every message with the time it enters a queue
(so the age of the oldest waiting message counts from when a retry became
ready, not from the first attempt) and with the time a worker dead-letters
it (which only the in-process broker keeps; Redis and RabbitMQ record it
themselves).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import dramatiq
import structlog
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.common import current_millis
from dramatiq.middleware import Middleware

from pipeline.clock import utc_now
from pipeline.db import Connection
from pipeline.errors import FitsflowError
from pipeline.ingest.service import worker_name
from pipeline.queues import DEAD_AT_OPTION, ENQUEUED_AT_OPTION
from pipeline.repositories.workers import (
    WorkerBeat,
    delete_worker,
    prune_workers,
    record_heartbeat,
)

if TYPE_CHECKING:
    from workers.runtime import WorkerRuntime

__all__ = [
    "FORGET_DEAD_AFTER",
    "STOP_SECONDS",
    "QueueStamps",
    "WorkerHeartbeat",
    "operator_middleware",
]

log = structlog.get_logger(__name__)

#: Rows of workers silent this long are deleted by any live worker's beat.
FORGET_DEAD_AFTER = timedelta(days=1)
#: How long a stopping worker waits for its row to be deleted.
STOP_SECONDS = 10.0


def operator_middleware(runtime: WorkerRuntime) -> list[Middleware]:
    """The middleware the runtime registers for the operator's view, in order."""
    return [QueueStamps(), WorkerHeartbeat(runtime)]


class QueueStamps(Middleware):
    """Stamps when a message enters a queue and when it is dead-lettered."""

    def before_enqueue(self, broker: dramatiq.Broker, message: Any, delay: Any) -> None:
        message.options[ENQUEUED_AT_OPTION] = current_millis()

    def before_nack(self, broker: dramatiq.Broker, message: Any) -> None:
        message.options[DEAD_AT_OPTION] = current_millis()


class WorkerHeartbeat(Middleware):
    """Keeps this worker process's row in ``workers`` fresh while it runs."""

    def __init__(self, runtime: WorkerRuntime) -> None:
        self.runtime = runtime
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._beating: concurrent.futures.Future[None] | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        thread = get_event_loop_thread()
        if thread is None:  # no AsyncIO middleware: nothing to run the beat on
            log.warning("worker heartbeats are off: the AsyncIO middleware is missing")
            return
        beat = WorkerBeat(
            id=worker_name(),
            hostname=socket.gethostname(),
            pid=os.getpid(),
            threads=int(worker.worker_threads),
            queues=_queues(broker, worker),
            heartbeat_seconds=self.runtime.settings.worker.heartbeat_seconds,
            started_at=utc_now(),
        )
        self._loop, self._stop = thread.loop, asyncio.Event()
        self._beating = asyncio.run_coroutine_threadsafe(self._beat_forever(beat), thread.loop)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        # At the start of the worker's stop: before the runtime closes its
        # database and the AsyncIO middleware stops the loop (both after it).
        if self._loop is None or self._stop is None or self._beating is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        with contextlib.suppress(concurrent.futures.TimeoutError):
            self._beating.result(timeout=STOP_SECONDS)
        self._loop = self._stop = self._beating = None

    async def _beat_forever(self, beat: WorkerBeat) -> None:
        assert self._stop is not None
        stop = self._stop
        while not stop.is_set():
            try:
                await self._write(beat, forget=False)
            except Exception:  # the heartbeat's outermost boundary: log and beat on
                log.exception("worker heartbeat failed unexpectedly", worker=beat.id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), beat.heartbeat_seconds)
        await self._write(beat, forget=True)

    async def _write(self, beat: WorkerBeat, *, forget: bool) -> None:
        """One heartbeat (or, ``forget``, the row's removal); a database fault is logged."""

        async def write(tx: Connection) -> None:
            now = utc_now()
            if forget:
                await delete_worker(tx, beat.id)
                return
            await record_heartbeat(tx, beat, now)
            await prune_workers(tx, now - FORGET_DEAD_AFTER)

        try:
            service = await self.runtime.service()  # opens the database on first use
            # Retrying longer than an interval would only delay the next beat.
            await service.db.run_in_transaction(write, retry_for=beat.heartbeat_seconds)
        except FitsflowError as error:
            log.warning("worker heartbeat not recorded", code=error.code, error=error.message)


def _queues(broker: dramatiq.Broker, worker: Any) -> tuple[str, ...]:
    """The ready queues this worker consumes (its own list, else every declared one)."""
    names = worker.consumer_whitelist or broker.get_declared_queues()
    return tuple(sorted(n for n in names if not n.endswith((".DQ", ".XQ"))))
