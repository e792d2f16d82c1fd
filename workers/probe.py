"""The status views' hands on a broker, through the broker adapters.

:class:`AdapterProbe` is both the read-only :class:`~pipeline.api.probe.BrokerProbe`
(``/ready``, ``/summary``) and the :class:`~pipeline.queues.BrokerControl`
behind ``/queues``, ``/dlq`` and ``fitsflow queues|dlq``. Every broker call
blocks (redis-py, pika), so each runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import dramatiq

from pipeline.api.probe import QueueDepth
from pipeline.queues import DeadLetter, QueueFigures
from pipeline.settings import BrokerSettings
from workers.brokers import BrokerAdapter, adapter_for

__all__ = ["AdapterProbe", "probe_for_settings"]


class AdapterProbe:
    """Pings a broker, reads its queues and acts on its dead letters, off the event loop."""

    def __init__(self, adapter: BrokerAdapter, broker: dramatiq.Broker, queue: str) -> None:
        self.adapter = adapter
        self.broker = broker
        self.queue = queue

    @property
    def kind(self) -> str:
        """``redis``, ``rabbitmq`` or ``memory``."""
        return self.adapter.kind

    async def ping(self) -> None:
        await asyncio.to_thread(self.adapter.ping, self.broker)

    async def queue_depths(self) -> dict[str, QueueDepth]:
        depth = await asyncio.to_thread(self.adapter.depth, self.broker, self.queue)
        return {
            self.queue: QueueDepth(
                ready=depth.ready, delayed=depth.delayed, in_flight=depth.in_flight, dead=depth.dead
            )
        }

    async def queue_figures(self) -> list[QueueFigures]:
        return [await asyncio.to_thread(self.adapter.figures, self.broker, self.queue)]

    async def dead_letters(self, offset: int, limit: int) -> list[DeadLetter]:
        return await asyncio.to_thread(
            self.adapter.dead_letters, self.broker, self.queue, offset, limit
        )

    async def find_dead_letters(self, message_ids: Sequence[str] | None) -> list[DeadLetter]:
        return await asyncio.to_thread(
            self.adapter.find_dead_letters, self.broker, self.queue, message_ids
        )

    async def requeue_dead_letters(self, message_ids: Sequence[str]) -> dict[str, str]:
        return await asyncio.to_thread(
            self.adapter.requeue_dead_letters, self.broker, self.queue, message_ids
        )

    async def purge_dead_letters(self, message_ids: Sequence[str]) -> list[str]:
        return await asyncio.to_thread(
            self.adapter.purge_dead_letters, self.broker, self.queue, message_ids
        )


def probe_for_settings(settings: BrokerSettings) -> AdapterProbe:
    """A probe for the broker ``settings`` name, built without middleware or actors."""
    adapter = adapter_for(settings.url)
    return AdapterProbe(adapter, adapter.build(settings, []), settings.queue)
