"""What the status API asks of a message broker: is it up, how deep are its queues.

The broker adapters under ``workers/`` implement :class:`BrokerProbe` for
Redis, RabbitMQ and the in-process broker. :func:`probe_for` is the one place
that picks an implementation for a broker URL; until those adapters are
plugged in there it answers with :class:`NullBrokerProbe`, which knows no
queues and is always up (right for tests and for one-shot ``fitsflow`` runs
that have no broker).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["BrokerProbe", "NullBrokerProbe", "QueueDepth", "probe_for"]


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """How many messages one queue holds, by condition; None where a broker cannot tell."""

    #: Waiting to be picked up now.
    ready: int | None = None
    #: Scheduled for later (retries in backoff, delayed sends).
    delayed: int | None = None
    #: Delivered to a worker and not yet acknowledged.
    in_flight: int | None = None
    #: Given up on (dead-letter queue).
    dead: int | None = None


@runtime_checkable
class BrokerProbe(Protocol):
    """Read-only questions to a broker; implementations never change its state."""

    async def ping(self) -> None:
        """Return when the broker answers; raise :class:`~pipeline.errors.BrokerUnavailable`."""

    async def queue_depths(self) -> dict[str, QueueDepth]:
        """Depths of each queue fitsflow uses, by queue name.

        Raises :class:`~pipeline.errors.BrokerUnavailable` when the broker
        cannot be asked.
        """


class NullBrokerProbe:
    """A probe for no broker: always up, with the queues it was given (depths unknown)."""

    def __init__(self, queues: Mapping[str, QueueDepth] | None = None) -> None:
        self._queues = dict(queues or {})

    async def ping(self) -> None:
        return None

    async def queue_depths(self) -> dict[str, QueueDepth]:
        return dict(self._queues)


def probe_for(url: str) -> BrokerProbe:
    """The probe for the broker at ``url`` (``redis://``, ``amqp://``, ``memory://``).

    The one hook where broker adapters are chosen; every scheme gets a
    :class:`NullBrokerProbe` until the adapters in ``workers/`` are wired in.
    """
    del url  # every scheme is answered the same way for now (see above)
    return NullBrokerProbe()
