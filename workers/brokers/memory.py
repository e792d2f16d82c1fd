"""memory:// — dramatiq's in-process StubBroker, worker threads in the same process.

What it can answer, exactly, because every message is a Python object here:
ready (the queue's size), delayed (the delay queue's unfinished tasks: those
waiting in it and those a worker holds until their time), in flight (the
ready queue's unfinished tasks less those still waiting: Dramatiq marks a
task done on ack or nack), dead letters (kept in a list, with the time of
death fitsflow's middleware stamps on them) and the oldest wait. Only the
process that owns the broker — ``fitsflow run`` — can ask it anything.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from queue import Queue
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name
from dramatiq.middleware import Middleware

from pipeline.queues import DEAD_AT_OPTION, DeadLetter, QueueFigures, from_millis
from pipeline.settings import BrokerSettings
from workers.brokers.base import BrokerAdapter, QueueDepth
from workers.brokers.letters import OLDEST_SAMPLE, dead_letter, decode, fresh_copy, oldest_ready_at

__all__ = ["MemoryAdapter"]


class MemoryAdapter(BrokerAdapter):
    """Messages live in this process only: a crash loses them, the reconciler resends."""

    durable = False
    kind = "memory"

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
        figures = self.figures(broker, queue)
        return QueueDepth(figures.ready, figures.delayed, figures.in_flight, figures.dead)

    def ping(self, broker: dramatiq.Broker) -> None:
        return None

    def figures(self, broker: dramatiq.Broker, queue: str) -> QueueFigures:
        stub = _stub(broker)
        ready_queue: Queue[bytes] | None = stub.queues.get(queue)
        delay_queue: Queue[bytes] | None = stub.queues.get(dq_name(queue))
        dead = len(stub.dead_letters_by_queue.get(queue, ()))
        if ready_queue is None or delay_queue is None:
            return QueueFigures(queue, 0, 0, 0, dead)  # not declared: nothing was sent
        with ready_queue.mutex:  # one consistent look: consumers take under this lock
            ready = len(ready_queue.queue)
            unfinished = ready_queue.unfinished_tasks
            head = list(itertools.islice(ready_queue.queue, OLDEST_SAMPLE))
        return QueueFigures(
            name=queue,
            ready=ready,
            delayed=delay_queue.unfinished_tasks,
            in_flight=max(0, unfinished - ready),
            dead=dead,
            oldest_ready_at=oldest_ready_at(decode(data) for data in head),
        )

    def dead_letters(
        self, broker: dramatiq.Broker, queue: str, offset: int, limit: int
    ) -> list[DeadLetter]:
        held = list(_stub(broker).dead_letters_by_queue.get(queue, ()))
        return [_letter(proxy) for proxy in held[offset : offset + limit]]

    def find_dead_letters(
        self, broker: dramatiq.Broker, queue: str, message_ids: Sequence[str] | None
    ) -> list[DeadLetter]:
        held = [_letter(proxy) for proxy in _stub(broker).dead_letters_by_queue.get(queue, ())]
        if message_ids is None:
            return held
        wanted = set(message_ids)
        return [letter for letter in held if letter.message_id in wanted]

    def requeue_dead_letters(
        self, broker: dramatiq.Broker, queue: str, message_ids: Sequence[str]
    ) -> dict[str, str]:
        stub = _stub(broker)
        moved: dict[str, str] = {}
        for proxy in self._taken(stub, queue, message_ids):
            # Sent before it is dropped: a failure in between leaves it dead, not lost.
            sent = stub.enqueue(fresh_copy(proxy, queue, str(proxy.message_id)))
            _drop(stub, queue, proxy)
            moved[str(proxy.message_id)] = str(sent.message_id)
        return moved

    def purge_dead_letters(
        self, broker: dramatiq.Broker, queue: str, message_ids: Sequence[str]
    ) -> list[str]:
        stub = _stub(broker)
        purged = []
        for proxy in self._taken(stub, queue, message_ids):
            _drop(stub, queue, proxy)
            purged.append(str(proxy.message_id))
        return purged

    @staticmethod
    def _taken(stub: StubBroker, queue: str, message_ids: Sequence[str]) -> list[Any]:
        wanted = set(message_ids)
        # A copy: worker threads append to the list while this walks it.
        held = list(stub.dead_letters_by_queue.get(queue, ()))
        return [proxy for proxy in held if str(proxy.message_id) in wanted]


def _stub(broker: dramatiq.Broker) -> StubBroker:
    assert isinstance(broker, StubBroker)
    return broker


def _letter(proxy: Any) -> DeadLetter:
    died_at = from_millis(proxy.options.get(DEAD_AT_OPTION))
    return dead_letter(proxy, str(proxy.message_id), died_at)


def _drop(stub: StubBroker, queue: str, proxy: Any) -> None:
    letters = stub.dead_letters_by_queue.get(queue)
    if letters is not None and proxy in letters:
        letters.remove(proxy)
