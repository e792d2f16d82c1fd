"""The worker side of one process: broker, actor, database, ingest service.

``install(settings)`` builds the broker for ``settings.broker.url`` and
declares the ingest actor on it; importing the ``workers`` package does this
from the environment, which is what ``dramatiq workers`` relies on. The
database and the ingest service are created lazily on Dramatiq's event-loop
thread, the loop the actor's coroutines run on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

import dramatiq
import structlog
from dramatiq.actor import ActorDecorator
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from pipeline import metrics
from pipeline.db import Database, open_database
from pipeline.errors import BrokerUnavailable, is_transient
from pipeline.ingest.parse import parse_file
from pipeline.ingest.parsing import SMALL_FILE_BYTES
from pipeline.ingest.service import IngestService, Parser
from pipeline.outbox import IngestMessage
from pipeline.priority import database_at
from pipeline.retrypolicy import RetryPolicy
from pipeline.settings import Settings
from workers.brokers import BrokerAdapter, adapter_for
from workers.heartbeat import operator_middleware
from workers.logcontext import JobLogContext
from workers.loopthread import FastLoopAsyncIO
from workers.metrics import WorkerMetrics
from workers.sharedloop import SharedLoop
from workers.termination import RepeatedTermination

__all__ = [
    "ACTOR_NAME",
    "BUNDLE_ACTOR_NAME",
    "GIVEN_UP_OPTION",
    "GaveUp",
    "WorkerRuntime",
    "bundles",
    "current",
    "delivery_ref",
    "install",
]

log = structlog.get_logger(__name__)

ACTOR_NAME = "ingest_file"
#: The actor of a message that carries several files (``broker.bundle_size``).
BUNDLE_ACTOR_NAME = "ingest_files"
#: A message option: this one-file message continues a bundle's file that was
#: given up on, and is dead-lettered on arrival with the option's text as the
#: reason — so every dead letter names one file, whatever message it came in.
GIVEN_UP_OPTION = "fitsflow_given_up"
#: Dramatiq's own time limit is a backstop behind the actor's, which records
#: the job as failed; this margin lets the actor's fire first.
TIME_LIMIT_MARGIN_SECONDS = 30.0


class GaveUp(Exception):
    """Transient failures were exhausted: dead-letter this message."""


def retry_when(retries: int, exception: BaseException, max_retries: int) -> bool:
    """Dramatiq's retry predicate: only what the error tree calls transient."""
    if isinstance(exception, dramatiq.Retry):
        return True  # the actor recorded the retry and chose its delay
    if isinstance(exception, GaveUp):
        return False
    return is_transient(exception) and retries < max_retries


class _CloseDatabase(Middleware):
    """Closes the runtime's database (and reader processes) on the event loop
    once the worker threads have finished, before the loop stops.

    After the worker's stop, not before it: Dramatiq's ``before_worker_shutdown``
    runs while the threads still finish their messages, so the pool closed
    under them was opened again by the next job and never closed, and a job
    still reading lost its reader process. Dramatiq runs after-hooks in
    reverse order, so this one, listed after the AsyncIO middleware, runs
    while the loop still does.
    """

    def __init__(self, runtime: WorkerRuntime) -> None:
        self.runtime = runtime

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        from dramatiq.asyncio import get_event_loop_thread

        thread = get_event_loop_thread()
        if thread is not None and self.runtime.database is not None:
            thread.run_coroutine(self.runtime.aclose())


class WorkerRuntime:
    """Everything the ingest actor needs in this process."""

    def __init__(
        self,
        settings: Settings,
        *,
        parser: Parser | None = None,
        shared_loop: asyncio.AbstractEventLoop | None = None,
        database: Database | None = None,
    ) -> None:
        self.settings = settings
        self._parser = parser
        #: The embedded process runs actors on its own loop with its own
        #: adapter (see workers.sharedloop); elsewhere both are created here.
        self._shared_loop = shared_loop
        self._owns_database = database is None
        self.policy = RetryPolicy.from_settings(settings.worker)
        self.adapter: BrokerAdapter = adapter_for(settings.broker.url)
        self.broker = self.adapter.build(settings.broker, self._middleware())
        self.queue = settings.broker.queue
        from workers.actors import ingest_file, ingest_files

        # A bundle's files run side by side, each under the actor's own time
        # limit, so the bundle's backstop is a single file's.
        time_limit = int((settings.worker.time_limit_seconds + TIME_LIMIT_MARGIN_SECONDS) * 1000)

        def declare(name: str) -> ActorDecorator:
            return dramatiq.actor(
                broker=self.broker, actor_name=name, queue_name=self.queue, time_limit=time_limit
            )

        self.actor: dramatiq.Actor[..., None] = declare(ACTOR_NAME)(ingest_file)
        self.bundle_actor: dramatiq.Actor[..., None] = declare(BUNDLE_ACTOR_NAME)(ingest_files)
        self.database: Database | None = database
        self._service: IngestService | None = None
        self._lock: asyncio.Lock | None = None

    def _middleware(self) -> list[Middleware]:
        worker = self.settings.worker
        max_retries = worker.max_retries
        return [
            JobLogContext(),  # first: its after-hook runs last (Dramatiq reverses them)
            AgeLimit(),
            TimeLimit(),
            ShutdownNotifications(),
            Callbacks(),
            Pipelines(),
            Retries(
                max_retries=max_retries,
                min_backoff=int(worker.min_backoff_seconds * 1000),
                max_backoff=int(worker.max_backoff_seconds * 1000),
                retry_when=lambda retries, error: retry_when(retries, error, max_retries),
            ),
            CurrentMessage(),
            SharedLoop(self._shared_loop) if self._shared_loop is not None else FastLoopAsyncIO(),
            *operator_middleware(self),
            _CloseDatabase(self),  # after the loop's middleware: see its docstring
            WorkerMetrics(self.settings.metrics),
            RepeatedTermination(),  # worker processes only: Dramatiq's CLI emits process_boot
        ]

    async def service(self) -> IngestService:
        """The ingest service, created on first use on the running loop."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._service is None:
                database = self.database
                if database is None:
                    settings = self.settings
                    database = open_database(
                        database_at(settings.worker.priority, settings.database)
                    )
                    await database.connect()
                    self.database = database
                    metrics.track_pool("worker", database)
                reader = self.settings.reader
                embedded = self._shared_loop is not None
                self._service = IngestService(
                    database,
                    reader,
                    parser=self._parser or parse_file,
                    reader_processes=reader.reader_processes(embedded),
                )
        return self._service

    async def aclose(self) -> None:
        if self._service is not None:
            self._service.close()
        if self.database is not None and self._owns_database:
            await self.database.close()
            self.database = None
        self._service = None

    # --- the outbox's side: sending and inspecting ----------------------------

    def send(self, message: IngestMessage) -> str:
        """Put ``message`` on the queue; BrokerUnavailable when the broker is down."""
        with self._translated():
            sent = self.actor.send_with_options(
                args=_arguments(message), delay=int(message.delay_seconds * 1000) or None
            )
        return delivery_ref(sent)

    @property
    def batch_size(self) -> int:
        """How many undelayed messages :meth:`send_batch` sends at once: as many
        bundles as the broker takes in one call."""
        return self.adapter.batch_size * self.settings.broker.bundle_size

    def send_batch(self, messages: Sequence[IngestMessage]) -> list[str]:
        """Put undelayed ``messages`` on the queue: all of them, or none and
        BrokerUnavailable when the broker is down. Their ids, in order.

        Up to ``broker.bundle_size`` small files travel in one message (see
        :func:`bundles`): each message's fetch, hand-offs and acknowledgement
        are shared by its files. A file's id is its bundle's.

        Files that travel alone can make more messages than the broker takes
        in one call; those go in several calls, and a broker lost between two
        leaves the first calls' files sent but unrecorded — the reconciler
        sends them again, a duplicate their job's claim makes a no-op.
        """
        if any(message.delay_seconds for message in messages):
            raise ValueError("send_batch takes undelayed messages; send() the others")
        grouped = bundles(messages, self.settings.broker.bundle_size)
        carriers = [self._carrying(bundle) for bundle in grouped]
        step = self.adapter.batch_size
        sent: list[dramatiq.Message[Any]] = []
        with self._translated():
            for first in range(0, len(carriers), step):
                sent += self.adapter.enqueue_batch(self.broker, carriers[first : first + step])
        refs = {
            id(message): delivery_ref(carrier)
            for carrier, bundle in zip(sent, grouped, strict=True)
            for message in bundle
        }
        return [refs[id(message)] for message in messages]

    def _carrying(self, bundle: Sequence[IngestMessage]) -> dramatiq.Message[Any]:
        if len(bundle) == 1:
            return self.actor.message_with_options(args=_arguments(bundle[0]))
        jobs = [list(_arguments(message)) for message in bundle]
        return self.bundle_actor.message_with_options(args=(jobs,))

    def send_on_its_own(
        self, message: IngestMessage, *, retries: int, delay_ms: int | None, given_up: str | None
    ) -> str:
        """Send a bundle's file on as a message of its own, as Dramatiq's retry
        middleware sends a retry: ``retries`` spent, after ``delay_ms``; with
        ``given_up``, one that is dead-lettered on arrival for that reason."""
        options: dict[str, Any] = {"retries": retries}
        if given_up is not None:
            options[GIVEN_UP_OPTION] = given_up
        with self._translated():
            sent = self.actor.send_with_options(args=_arguments(message), delay=delay_ms, **options)
        return delivery_ref(sent)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except Exception as error:  # translated below, or re-raised untouched
            translated = self.adapter.translate(error)
            if translated is None:
                raise
            raise translated from error

    def message_exists(self, message_id: str) -> bool | None:
        try:
            return self.adapter.message_exists(self.broker, self.queue, message_id)
        except BrokerUnavailable:
            return None  # cannot tell now; the next round asks again

    def requeue_abandoned(self) -> int:
        """Messages held by workers that died, back on the queue: how many."""
        try:
            return self.adapter.requeue_abandoned(self.broker, self.queue)
        except BrokerUnavailable:
            return 0  # the next round tries again


def _arguments(message: IngestMessage) -> tuple[Any, ...]:
    """The ingest actor's arguments for ``message``."""
    return (message.job_id, message.path, message.size, message.mtime_ns, message.root)


def bundles(
    messages: Sequence[IngestMessage], size: int, small_bytes: int = SMALL_FILE_BYTES
) -> list[list[IngestMessage]]:
    """``messages`` in bundles of at most ``size``: the small files in order, in
    as few bundles as they fit, sizes as even as can be (a burst's last bundle
    is not a straggler); then each larger file (over ``small_bytes``, or of
    unknown size) alone.

    A large file is read alone anyway, and a bundle's files wait for the same
    few reading threads under each file's time limit: bundling large ones
    would multiply that wait by ``size``.
    """
    small = [m for m in messages if m.size is not None and m.size <= small_bytes]
    alone = [[m] for m in messages if m.size is None or m.size > small_bytes]
    if not small:
        return alone
    count = -(-len(small) // max(1, size))
    bounds = [len(small) * i // count for i in range(count + 1)]
    return [small[a:b] for a, b in pairwise(bounds)] + alone


def delivery_ref(message: dramatiq.Message[Any]) -> str:
    """The id that names one delivery of a message, on every broker.

    Redis gives each enqueue its own id (a retry is a new enqueue) and keys its
    storage by it; a redelivery after a worker died keeps it. Elsewhere the
    message id serves.
    """
    return str(message.options.get("redis_message_id") or message.message_id)


_current: WorkerRuntime | None = None


def install(
    settings: Settings,
    *,
    parser: Parser | None = None,
    shared_loop: asyncio.AbstractEventLoop | None = None,
    database: Database | None = None,
) -> WorkerRuntime:
    """Build the runtime for ``settings`` and make its broker Dramatiq's global one.

    ``parser`` replaces reading files (tests use it to inject transient faults);
    ``shared_loop`` and ``database`` let the embedded process run actors on its
    own loop and adapter.
    """
    global _current
    runtime = WorkerRuntime(settings, parser=parser, shared_loop=shared_loop, database=database)
    dramatiq.set_broker(runtime.broker)
    _current = runtime
    return runtime


def current() -> WorkerRuntime:
    """The installed runtime (importing ``workers`` installs one)."""
    if _current is None:
        raise RuntimeError("workers.runtime.install() has not been called")
    return _current
