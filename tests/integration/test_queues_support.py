"""Brokers in a known state, for the queue, dead-letter and worker tests.

Every broker is real: the in-process StubBroker, a private redis-server (this
module starts one per session on a free port) and the shared RabbitMQ with a
queue name unique to the test (its three queues are deleted afterwards).
:func:`known_state` puts a broker's queue into ``N`` ready, ``M`` delayed,
``K`` in flight (a consumer holding them unacknowledged) and ``D``
dead-lettered messages, the way Dramatiq itself puts them there.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import dramatiq
import pytest

from pipeline.db import Database
from pipeline.errors import FileNotComplete
from pipeline.ingest.parse import ParsedFile, parse_file
from pipeline.models import Job, JobState
from pipeline.outbox import Admission
from pipeline.repositories import jobs
from pipeline.settings import BrokerSettings, Settings
from tests.support.catalogue import write_fits
from tests.support.servers import PrivateRedis, private_redis
from tests.support.services import RABBITMQ_URL, service_missing
from workers.brokers import BrokerAdapter, adapter_for
from workers.heartbeat import QueueStamps
from workers.probe import AdapterProbe, probe_for_settings
from workers.runtime import WorkerRuntime, install

__all__ = [
    "BROKERS",
    "BrokerUnderTest",
    "FailingFirst",
    "KnownState",
    "RunningWorker",
    "any_broker",
    "known_state",
    "redis_server",
    "require_rabbitmq",
    "running_worker",
    "wait_for",
    "worker_settings",
]

T = TypeVar("T")
BROKERS = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("rabbitmq", id="rabbitmq", marks=pytest.mark.rabbitmq),
]
#: Far longer than any broker needs; only a broken test waits this long.
DEADLINE_SECONDS = 20.0


def wait_for(
    produce: Callable[[], T], done: Callable[[T], bool], seconds: float = DEADLINE_SECONDS
) -> T:
    """Call ``produce`` until ``done`` holds for what it returns; fail at the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        value = produce()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {seconds}s; last: {value!r}")
        time.sleep(0.02)


def _never_run(job_id: int, path: str, size: Any, mtime_ns: Any, root: Any = None) -> None:
    raise AssertionError("no worker runs in these tests")


@dataclass
class BrokerUnderTest:
    """A broker (as the workers see it) and the operator's probe over it."""

    kind: str
    url: str
    queue: str
    adapter: BrokerAdapter
    broker: dramatiq.Broker
    probe: AdapterProbe
    actor: Any = None
    consumers: list[Any] = field(default_factory=list)

    def send(self, job_id: int, *, delay_ms: int | None = None) -> dramatiq.Message[Any]:
        """One ingest message for ``job_id``, as the outbox sends it."""
        path = f"/data/job-{job_id}.fits"
        message: dramatiq.Message[Any] = self.actor.send_with_options(
            args=(job_id, path, 2880, 1, "/data"), delay=delay_ms
        )
        return message

    def take(self, count: int) -> tuple[Any, list[Any]]:
        """A consumer holding ``count`` delivered, unacknowledged messages."""
        consumer = self.broker.consume(self.queue, prefetch=count, timeout=100)
        self.consumers.append(consumer)
        held: list[Any] = []
        deadline = time.monotonic() + DEADLINE_SECONDS
        while len(held) < count:
            assert time.monotonic() < deadline, f"got {len(held)} of {count} messages"
            message = next(consumer)
            if message is not None:
                held.append(message)
        return consumer, held

    def figures(self) -> Any:
        return self.adapter.figures(self.probe.broker, self.queue)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[PrivateRedis]:
    """A private redis-server for the whole session (queues are unique per test)."""
    try:
        with private_redis() as server:
            yield server
    except FileNotFoundError as error:
        service_missing("redis-server", str(error))


def require_rabbitmq() -> None:
    """Fail in CI, skip elsewhere, unless the shared RabbitMQ answers."""
    import pika

    try:
        pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)).close()
    except Exception as error:  # noqa: BLE001 - any failure means the service is missing
        service_missing("RabbitMQ", f"{RABBITMQ_URL}: {error!r}")


def _delete_rabbitmq_queues(queue: str) -> None:
    import pika

    with pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)) as connection:
        channel = connection.channel()
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            channel.queue_delete(name)


def _url_for(kind: str, request: pytest.FixtureRequest) -> str:
    if kind == "redis":
        server: PrivateRedis = request.getfixturevalue("redis_server")
        return server.url
    if kind == "rabbitmq":
        require_rabbitmq()
        return RABBITMQ_URL
    return "memory://"


@pytest.fixture(params=BROKERS)
def any_broker(request: pytest.FixtureRequest) -> Iterator[BrokerUnderTest]:
    """Each broker family with a fresh queue; the probe is built as on another host
    (its own connection), except for memory://, which only its process can see."""
    kind = request.param
    url = _url_for(kind, request)
    queue = f"fitsflow-test-{secrets.token_hex(4)}"
    settings = BrokerSettings(url=url, queue=queue)
    adapter = adapter_for(url)
    broker = adapter.build(settings, [QueueStamps()])
    probe = (
        AdapterProbe(adapter, broker, queue) if kind == "memory" else probe_for_settings(settings)
    )
    under_test = BrokerUnderTest(kind, url, queue, adapter, broker, probe)
    under_test.actor = dramatiq.actor(
        _never_run, broker=broker, actor_name="ingest_file", queue_name=queue
    )
    try:
        yield under_test
    finally:
        for consumer in under_test.consumers:
            with contextlib.suppress(Exception):
                consumer.close()
        broker.close()
        if kind == "rabbitmq":
            _delete_rabbitmq_queues(queue)


@dataclass(frozen=True)
class KnownState:
    """What :func:`known_state` put on the queue."""

    ready: int
    delayed: int
    in_flight: int
    dead: int
    #: Bounds on when the first ready message was sent.
    ready_from: datetime
    ready_until: datetime
    holder: Any
    held: list[Any]
    dead_job_ids: list[int]


def known_state(
    under_test: BrokerUnderTest, ready: int, delayed: int, in_flight: int, dead: int
) -> KnownState:
    """Dead letters first (a consumer nacks them and goes), then messages held in
    flight (a consumer keeps them, its prefetch full), then ready ones, then delayed."""
    dead_ids = [9000 + i for i in range(dead)]
    for job_id in dead_ids:
        under_test.send(job_id)
    doomer, doomed = under_test.take(dead)
    for message in doomed:
        doomer.nack(message)
    doomer.close()  # RabbitMQ: the consumer's connection sends its nacks as it closes
    under_test.consumers.remove(doomer)
    wait_for(under_test.figures, lambda figures: figures.dead == dead)
    for job_id in range(5000, 5000 + in_flight):
        under_test.send(job_id)
    holder, held = under_test.take(in_flight)
    ready_from = datetime.now(UTC)
    for job_id in range(1, ready + 1):
        under_test.send(job_id)
    ready_until = datetime.now(UTC)
    for job_id in range(7000, 7000 + delayed):
        under_test.send(job_id, delay_ms=600_000)
    return KnownState(
        ready, delayed, in_flight, dead, ready_from, ready_until, holder, held, dead_ids
    )


# --- a real worker on the broker under test -----------------------------------------


class FailingFirst:
    """Reads files for real after the first ``failures`` reads of each path find it
    still being written (a transient error: with ``max_retries`` 0 the job gives up
    at once and its message is dead-lettered)."""

    def __init__(self, failures: int, gate: threading.Event | None = None) -> None:
        self.failures = failures
        self.gate = gate
        self.calls: dict[str, int] = {}

    def __call__(self, path: str, limits: Any, roots: Any) -> ParsedFile:
        self.calls[path] = self.calls.get(path, 0) + 1
        if self.gate is not None:  # hold the job running until the test lets it go
            assert self.gate.wait(DEADLINE_SECONDS), "the test never opened the gate"
        if self.calls[path] <= self.failures:
            raise FileNotComplete(f"{path} changed while it was read")
        return parse_file(path, limits, roots)


@dataclass
class RunningWorker:
    """A worker (threads, in this process) on the broker under test, and its database."""

    runtime: WorkerRuntime
    probe: AdapterProbe
    database: Database
    root: Path
    parser: FailingFirst

    def figures(self) -> Any:
        return self.probe.adapter.figures(self.probe.broker, self.probe.queue)

    async def admit(self, path: Path) -> list[int]:
        write_fits(path)
        seen = path.stat()
        found = _Seen(str(path), seen.st_size, seen.st_mtime_ns)
        return await Admission(self.database, self.runtime, [self.root]).admit([found])

    async def wait_job(self, job_id: int, state: JobState) -> Job:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            async with self.database.transaction(write=False) as tx:
                job = await jobs.get_job(tx, job_id)
            if job is not None and job.state is state:
                return job
            assert time.monotonic() < deadline, f"job {job_id} never became {state}: {job}"
            await asyncio.sleep(0.02)


@dataclass(frozen=True)
class _Seen:
    path: str
    size: int
    mtime_ns: int


def worker_settings(under_test: BrokerUnderTest, database_url: str, **worker: Any) -> Settings:
    """Settings for a worker on ``under_test``'s queue: no retries, fast heartbeats."""
    return Settings.model_validate(
        {
            "database": {"url": database_url, "busy_retry_seconds": 5.0},
            "broker": {"url": under_test.url, "queue": under_test.queue},
            "worker": {"max_retries": 0, "heartbeat_seconds": 0.2, **worker},
        }
    )


@contextlib.asynccontextmanager
async def running_worker(
    under_test: BrokerUnderTest,
    database: Database,
    database_url: str,
    root: Path,
    parser: FailingFirst,
    threads: int = 2,
) -> AsyncIterator[RunningWorker]:
    """Install the runtime on the broker under test and run a Dramatiq worker on it."""
    settings = worker_settings(under_test, database_url)
    runtime = install(settings, parser=parser)
    # memory:// can only be seen through the very broker the worker uses.
    probe = (
        AdapterProbe(runtime.adapter, runtime.broker, runtime.queue)
        if under_test.kind == "memory"
        else under_test.probe
    )
    worker = dramatiq.Worker(runtime.broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        yield RunningWorker(runtime, probe, database, root, parser)
    finally:
        if parser.gate is not None:
            parser.gate.set()
        await asyncio.to_thread(worker.stop, 10_000)
        runtime.broker.close()
