"""What the status API asks of a message broker: is it up, how deep are its queues.

The broker adapters under ``workers/`` implement :class:`BrokerProbe` for
Redis, RabbitMQ and the in-process broker. :func:`probe_for` is the one place
that picks an implementation for a broker URL; until those adapters are
a broker in another process cannot be asked about (``memory://``) it answers
with :class:`NullBrokerProbe`, which is always up and knows no depths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pipeline.settings import BrokerSettings

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


def probe_for(settings: BrokerSettings) -> BrokerProbe:
    """The probe for the broker ``settings`` name (``redis://``, ``amqp://``, ``memory://``).

    The one place broker adapters are chosen for the status views. A
    ``memory://`` queue lives inside the ``fitsflow run`` process that owns it,
    so from any other process it is a :class:`NullBrokerProbe`; ``fitsflow
    run`` passes its own broker's probe instead.
    """
    if settings.in_process:
        return NullBrokerProbe()
    from workers.probe import probe_for_settings

    return probe_for_settings(settings)
