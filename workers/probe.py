"""The status API's view of a broker, through the broker adapters."""

from __future__ import annotations

import asyncio

import dramatiq

from pipeline.api.probe import QueueDepth
from pipeline.settings import BrokerSettings
from workers.brokers import BrokerAdapter, adapter_for

__all__ = ["AdapterProbe", "probe_for_settings"]


class AdapterProbe:
    """Pings a broker and reads its queue depths, off the event loop."""

    def __init__(self, adapter: BrokerAdapter, broker: dramatiq.Broker, queue: str) -> None:
        self.adapter = adapter
        self.broker = broker
        self.queue = queue

    async def ping(self) -> None:
        await asyncio.to_thread(self.adapter.ping, self.broker)

    async def queue_depths(self) -> dict[str, QueueDepth]:
        depth = await asyncio.to_thread(self.adapter.depth, self.broker, self.queue)
        return {
            self.queue: QueueDepth(
                ready=depth.ready, delayed=depth.delayed, in_flight=depth.in_flight, dead=depth.dead
            )
        }


def probe_for_settings(settings: BrokerSettings) -> AdapterProbe:
    """A probe for the broker ``settings`` name, built without middleware or actors."""
    adapter = adapter_for(settings.url)
    return AdapterProbe(adapter, adapter.build(settings, []), settings.queue)
