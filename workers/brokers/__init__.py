"""One module per broker family: building it, inspecting it, translating its errors.

Only these modules import a broker's client library (redis, pika).
"""

from __future__ import annotations

from workers.brokers.base import BrokerAdapter, QueueDepth

__all__ = ["BrokerAdapter", "QueueDepth", "adapter_for"]


def adapter_for(url: str) -> BrokerAdapter:
    """The adapter for ``url``'s scheme: redis://, amqp:// or memory://."""
    if url.startswith(("redis://", "rediss://")):
        from workers.brokers.redis import RedisAdapter

        return RedisAdapter(url)
    if url.startswith(("amqp://", "amqps://")):
        from workers.brokers.rabbitmq import RabbitmqAdapter

        return RabbitmqAdapter(url)
    from workers.brokers.memory import MemoryAdapter

    return MemoryAdapter()
