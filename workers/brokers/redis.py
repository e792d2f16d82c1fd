"""Redis (dramatiq's RedisBroker): keys ``<ns>:<queue>``, ``.msgs``, ``.DQ``, ``.XQ``."""

from __future__ import annotations

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware

from pipeline.errors import BrokerUnavailable
from pipeline.settings import BrokerSettings
from workers.brokers.base import BrokerAdapter, QueueDepth

__all__ = ["RedisAdapter"]

NAMESPACE = "dramatiq"


class RedisAdapter(BrokerAdapter):
    """Messages live in Redis hashes; ids can be looked up directly."""

    def __init__(self, url: str) -> None:
        self.url = url

    def build(self, settings: BrokerSettings, middleware: list[Middleware]) -> dramatiq.Broker:
        return RedisBroker(  # type: ignore[no-untyped-call]
            url=self.url,
            middleware=middleware,
            namespace=NAMESPACE,
            heartbeat_timeout=int(settings.heartbeat_timeout_seconds * 1000),
        )

    def translate(self, error: BaseException) -> BaseException | None:
        if isinstance(error, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
            return BrokerUnavailable(f"Redis at {_safe(self.url)} is unavailable: {error}")
        return None

    def _client(self, broker: dramatiq.Broker) -> redis.Redis:
        assert isinstance(broker, RedisBroker)
        return broker.client

    def message_exists(self, broker: dramatiq.Broker, queue: str, message_id: str) -> bool | None:
        client = self._client(broker)
        try:
            pipe = client.pipeline()
            pipe.hexists(f"{NAMESPACE}:{queue}.msgs", message_id)
            pipe.hexists(f"{NAMESPACE}:{queue}.DQ.msgs", message_id)
            return any(pipe.execute())
        except redis.exceptions.RedisError as error:
            raise self.translate(error) or error from error

    def depth(self, broker: dramatiq.Broker, queue: str) -> QueueDepth:
        client = self._client(broker)
        try:
            pipe = client.pipeline()
            pipe.llen(f"{NAMESPACE}:{queue}")
            pipe.hlen(f"{NAMESPACE}:{queue}.msgs")
            pipe.hlen(f"{NAMESPACE}:{queue}.DQ.msgs")
            pipe.zcard(f"{NAMESPACE}:{queue}.XQ")
            ready, held, delayed, dead = pipe.execute()
        except redis.exceptions.RedisError as error:
            raise self.translate(error) or error from error
        return QueueDepth(
            ready=int(ready),
            delayed=int(delayed),
            in_flight=max(0, int(held) - int(ready)),
            dead=int(dead),
        )

    def ping(self, broker: dramatiq.Broker) -> None:
        try:
            self._client(broker).ping()
        except redis.exceptions.RedisError as error:
            raise self.translate(error) or BrokerUnavailable(str(error)) from error


def _safe(url: str) -> str:
    """``url`` without its password, for messages."""
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
