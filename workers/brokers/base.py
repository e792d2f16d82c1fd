"""What fitsflow needs of a broker beyond Dramatiq's own interface."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from pipeline.queues import DeadLetter, QueueFigures
from pipeline.settings import BrokerSettings

__all__ = ["BrokerAdapter", "QueueDepth"]


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """Messages of one queue by where they are; None where the broker cannot tell."""

    ready: int | None
    delayed: int | None
    in_flight: int | None
    dead: int | None


class BrokerAdapter(abc.ABC):
    """Builds one broker family and answers questions Dramatiq does not."""

    #: Whether messages survive this process (memory:// does not).
    durable: bool = True
    #: How many messages :meth:`enqueue_batch` takes at once, all or none.
    batch_size: int = 1

    def enqueue_batch(
        self, broker: dramatiq.Broker, messages: Sequence[dramatiq.Message[Any]]
    ) -> list[dramatiq.Message[Any]]:
        """Enqueue ``messages`` (undelayed, at most :attr:`batch_size`): all of
        them, or none and the broker's error. Returns them as enqueued.

        This default sends them one by one: with a batch of one, all or none.
        """
        return [broker.enqueue(message) for message in messages]

    @abc.abstractmethod
    def build(self, settings: BrokerSettings, middleware: list[Middleware]) -> dramatiq.Broker:
        """A Dramatiq broker with ``middleware``."""

    @abc.abstractmethod
    def translate(self, error: BaseException) -> BaseException | None:
        """``BrokerUnavailable`` for a client-library connection error, else None."""

    @abc.abstractmethod
    def message_exists(self, broker: dramatiq.Broker, queue: str, message_id: str) -> bool | None:
        """Whether the broker still holds the message (queued, delayed or in flight)."""

    def requeue_abandoned(self, broker: dramatiq.Broker, queue: str) -> int:
        """Put back on ``queue`` the messages held by workers that stopped
        beating; how many. Brokers that redeliver a lost consumer's messages
        themselves (RabbitMQ) or have no other consumers (memory) have none."""
        return 0

    @abc.abstractmethod
    def depth(self, broker: dramatiq.Broker, queue: str) -> QueueDepth:
        """How many messages ``queue`` holds, by state."""

    @abc.abstractmethod
    def ping(self, broker: dramatiq.Broker) -> None:
        """Raise ``BrokerUnavailable`` unless the broker answers."""

    # --- the operator's view: figures and dead letters ---------------------------
    # What each broker can and cannot answer is written in its module's docstring.

    #: ``redis``, ``rabbitmq`` or ``memory``: how documents name the broker.
    kind: str = "unknown"

    @abc.abstractmethod
    def figures(self, broker: dramatiq.Broker, queue: str) -> QueueFigures:
        """Ready, delayed, in-flight and dead messages of ``queue``, and the oldest wait."""

    @abc.abstractmethod
    def dead_letters(
        self, broker: dramatiq.Broker, queue: str, offset: int, limit: int
    ) -> list[DeadLetter]:
        """``queue``'s dead letters in the order they died, a page at a time."""

    @abc.abstractmethod
    def find_dead_letters(
        self, broker: dramatiq.Broker, queue: str, message_ids: Sequence[str] | None
    ) -> list[DeadLetter]:
        """The dead letters of ``queue`` with these ids (None: all of them)."""

    @abc.abstractmethod
    def requeue_dead_letters(
        self, broker: dramatiq.Broker, queue: str, message_ids: Sequence[str]
    ) -> dict[str, str]:
        """Fresh copies of these dead letters onto ``queue``; ``{old id: new delivery id}``."""

    @abc.abstractmethod
    def purge_dead_letters(
        self, broker: dramatiq.Broker, queue: str, message_ids: Sequence[str]
    ) -> list[str]:
        """Delete these dead letters of ``queue``; the ids that were there."""
