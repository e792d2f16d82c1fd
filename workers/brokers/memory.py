"""memory:// — dramatiq's in-process StubBroker, worker threads in the same process."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware

from pipeline.settings import BrokerSettings
from workers.brokers.base import BrokerAdapter, QueueDepth

__all__ = ["MemoryAdapter"]


class MemoryAdapter(BrokerAdapter):
    """Messages live in this process only: a crash loses them, the reconciler resends."""

    durable = False

    def build(self, settings: BrokerSettings, middleware: list[Middleware]) -> dramatiq.Broker:
        # fail_fast off: a failing actor must not re-raise into the test-only join().
        return StubBroker(middleware=middleware, fail_fast_default=False)

    def translate(self, error: BaseException) -> BaseException | None:
        return None

    def message_exists(self, broker: dramatiq.Broker, queue: str, message_id: str) -> bool | None:
        # Nothing in this process can lose a message short of the process dying,
        # and then the embedded start-up resends every unfinished job.
        return True

    def depth(self, broker: dramatiq.Broker, queue: str) -> QueueDepth:
        assert isinstance(broker, StubBroker)
        ready = broker.queues.get(queue)
        delayed = broker.queues.get(f"{queue}.DQ")
        dead = broker.dead_letters_by_queue.get(queue, [])
        return QueueDepth(
            ready=ready.qsize() if ready is not None else 0,
            delayed=delayed.qsize() if delayed is not None else 0,
            in_flight=None,
            dead=len(dead),
        )

    def ping(self, broker: dramatiq.Broker) -> None:
        return None
