"""Redis (dramatiq's RedisBroker): keys ``<ns>:<queue>``, ``.msgs``, ``.DQ``, ``.XQ``.

What it can answer, exactly, from Dramatiq's keys read in one MULTI: ready
(the ``<queue>`` list of ids), in flight (the ``.msgs`` hash holds ready and
fetched-but-unacked messages alike, so the difference), delayed (the
``.DQ.msgs`` hash, including delayed messages a worker holds until their
time), dead (the ``.XQ`` sorted set, scored by the time of death) and the
oldest wait (the stored messages at the head of the ready list). Dead letters
are read, requeued and purged by id; a requeue is one atomic script, so a
letter is never both dead and requeued, nor neither.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
from dramatiq.middleware import Middleware

from pipeline.errors import BrokerUnavailable
from pipeline.queues import DeadLetter, QueueFigures, from_millis
from pipeline.settings import BrokerSettings
from workers.brokers.base import BrokerAdapter, QueueDepth
from workers.brokers.letters import (
    OLDEST_SAMPLE,
    dead_letter,
    decode,
    fresh_copy,
    oldest_ready_at,
    unreadable_letter,
)
from workers.brokers.redis_acks import AckBatchingRedisBroker

__all__ = ["RedisAdapter"]

NAMESPACE = "dramatiq"

# Moves one dead letter to the ready queue as a new message, only if it is
# still dead: KEYS = .XQ, .XQ.msgs, <queue>, .msgs; ARGV = dead id, new id, data.
_REQUEUE_SCRIPT = """
if redis.call("hexists", KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call("zrem", KEYS[1], ARGV[1])
redis.call("hdel", KEYS[2], ARGV[1])
redis.call("hset", KEYS[4], ARGV[2], ARGV[3])
redis.call("rpush", KEYS[3], ARGV[2])
return 1
"""


# Enqueues messages on one queue as dispatch.lua's "enqueue" does one (the
# data in .msgs, the id at the tail of the ready list), all in one atomic
# call: KEYS = <queue>, .msgs; ARGV = id, data, id, data, ...
_ENQUEUE_SCRIPT = """
for i = 1, #ARGV, 2 do
    redis.call("hset", KEYS[2], ARGV[i], ARGV[i + 1])
    redis.call("rpush", KEYS[1], ARGV[i])
end
return #ARGV / 2
"""


# What dispatch.lua's maintenance does for dead workers, on demand and
# counted: every message a worker whose heartbeat is older than the deadline
# had fetched (its ``__acks__.<worker>.<queue>`` sets) goes back to its queue
# if still stored; the sets go, and so does the worker's heartbeat once it
# holds none. KEYS = heartbeats; ARGV = namespace, deadline, queue names...
_REQUEUE_ABANDONED_SCRIPT = """
local namespace = ARGV[1]
local requeued = 0
for _, worker in ipairs(redis.call("zrangebyscore", KEYS[1], 0, ARGV[2])) do
    local prefix = namespace .. ":__acks__." .. worker
    for i = 3, #ARGV do
        local queue = namespace .. ":" .. ARGV[i]
        local fetched = prefix .. "." .. ARGV[i]
        for _, id in ipairs(redis.call("smembers", fetched)) do
            if redis.call("hexists", queue .. ".msgs", id) == 1 then
                redis.call("rpush", queue, id)
                requeued = requeued + 1
            end
        end
        redis.call("del", fetched)
    end
    if not next(redis.call("keys", prefix .. ".*")) then
        redis.call("zrem", KEYS[1], worker)
    end
end
return requeued
"""


class RedisAdapter(BrokerAdapter):
    """Messages live in Redis hashes; ids can be looked up directly."""

    kind = "redis"
    #: Dramatiq's ``RedisBroker.enqueue`` is one script call, one round trip,
    #: per message: ~0.24 ms of the machine's CPU each here (client and
    #: Redis), ~0.05 ms in batches of 200 (docs/benchmarks.md).
    batch_size = 200

    def __init__(self, url: str) -> None:
        self.url = url

    def build(self, settings: BrokerSettings, middleware: list[Middleware]) -> dramatiq.Broker:
        return AckBatchingRedisBroker(
            url=self.url,
            middleware=middleware,
            namespace=NAMESPACE,
            heartbeat_timeout=int(settings.heartbeat_timeout_seconds * 1000),
        )

    def translate(self, error: BaseException) -> BaseException | None:
        if isinstance(error, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
            return BrokerUnavailable(f"Redis at {_safe(self.url)} is unavailable: {error}")
        return None

    def _redis_broker(self, broker: dramatiq.Broker) -> RedisBroker:
        assert isinstance(broker, RedisBroker)
        return broker

    def _client(self, broker: dramatiq.Broker) -> redis.Redis:
        return self._redis_broker(broker).client

    def enqueue_batch(
        self, broker: dramatiq.Broker, messages: Sequence[dramatiq.Message[Any]]
    ) -> list[dramatiq.Message[Any]]:
        """One script call for the whole batch; the enqueue middleware runs per message."""
        if not messages:
            return []
        queues = {message.queue_name for message in messages}
        if len(queues) != 1 or len(messages) > self.batch_size:
            raise ValueError(f"a batch is at most {self.batch_size} messages of one queue")
        keys = _Keys(queues.pop())
        client = self._client(broker)
        enqueue = client.register_script(_ENQUEUE_SCRIPT)  # its SHA-1, once a batch
        # As RedisBroker.enqueue: every enqueue gets an id of its own in Redis.
        ready = [
            message.copy(options={"redis_message_id": str(uuid.uuid4())}) for message in messages
        ]
        arguments: list[str | bytes] = []
        for message in ready:
            broker.emit_before("enqueue", message, None)
            arguments += (message.options["redis_message_id"], message.encode())
        enqueue(keys=[keys.ready, keys.messages], args=arguments)
        for message in ready:
            broker.emit_after("enqueue", message, None)
        return ready

    def message_exists(self, broker: dramatiq.Broker, queue: str, message_id: str) -> bool | None:
        client = self._client(broker)
        try:
            pipe = client.pipeline()
            pipe.hexists(f"{NAMESPACE}:{queue}.msgs", message_id)
            pipe.hexists(f"{NAMESPACE}:{queue}.DQ.msgs", message_id)
            return any(pipe.execute())
        except redis.exceptions.RedisError as error:
            raise self.translate(error) or error from error

    def requeue_abandoned(self, broker: dramatiq.Broker, queue: str) -> int:
        """Dramatiq does this only in a random 1 in 1,000 of its commands (its
        maintenance), so on a quiet queue a killed worker's messages waited for
        many minutes; the reconciler calls this every round instead."""
        deadline = current_millis() - int(self._redis_broker(broker).heartbeat_timeout)
        try:
            requeue = self._client(broker).register_script(_REQUEUE_ABANDONED_SCRIPT)
            args: list[str | int] = [NAMESPACE, deadline, queue, f"{queue}.DQ"]
            return int(requeue(keys=[f"{NAMESPACE}:__heartbeats__"], args=args))
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

    # --- figures and dead letters ----------------------------------------------------

    def figures(self, broker: dramatiq.Broker, queue: str) -> QueueFigures:
        client = self._client(broker)
        keys = _Keys(queue)
        try:
            pipe = client.pipeline(transaction=True)  # one MULTI: a consistent snapshot
            pipe.llen(keys.ready)
            pipe.hlen(keys.messages)
            pipe.hlen(keys.delayed_messages)
            pipe.zcard(keys.dead)
            pipe.lrange(keys.ready, 0, OLDEST_SAMPLE - 1)
            ready, held, delayed, dead, head = pipe.execute()
            stored = client.hmget(keys.messages, head) if head else []
        except redis.exceptions.RedisError as error:
            raise self._unavailable(error) from error
        return QueueFigures(
            name=queue,
            ready=int(ready),
            delayed=int(delayed),
            in_flight=max(0, int(held) - int(ready)),
            dead=int(dead),
            # A message fetched between the two reads is gone from the hash: skipped.
            oldest_ready_at=oldest_ready_at(decode(data) for data in stored),
        )

    def dead_letters(
        self, broker: dramatiq.Broker, queue: str, offset: int, limit: int
    ) -> list[DeadLetter]:
        return self._ranked(broker, queue, offset, offset + limit - 1)

    def _ranked(
        self, broker: dramatiq.Broker, queue: str, start: int, stop: int
    ) -> list[DeadLetter]:
        """Dead letters by rank in the order of death (``stop`` -1: to the end)."""
        try:
            scored: Any = self._client(broker).zrange(
                _Keys(queue).dead, start, stop, withscores=True
            )
        except redis.exceptions.RedisError as error:
            raise self._unavailable(error) from error
        return self._letters(broker, queue, [(_text(i), float(score)) for i, score in scored])

    def find_dead_letters(
        self, broker: dramatiq.Broker, queue: str, message_ids: Sequence[str] | None
    ) -> list[DeadLetter]:
        if message_ids is None:
            return self._ranked(broker, queue, 0, -1)
        keys = _Keys(queue)
        try:
            pipe = self._client(broker).pipeline(transaction=False)
            for message_id in message_ids:
                pipe.zscore(keys.dead, message_id)
            scores = pipe.execute()
        except redis.exceptions.RedisError as error:
            raise self._unavailable(error) from error
        found = [(i, s) for i, s in zip(message_ids, scores, strict=True) if s is not None]
        return self._letters(broker, queue, found)

    def _letters(
        self, broker: dramatiq.Broker, queue: str, scored: Sequence[tuple[str, float]]
    ) -> list[DeadLetter]:
        if not scored:
            return []
        try:
            stored = self._client(broker).hmget(_Keys(queue).dead_messages, [i for i, _ in scored])
        except redis.exceptions.RedisError as error:
            raise self._unavailable(error) from error
        letters = []
        for (message_id, score), data in zip(scored, stored, strict=True):
            message = decode(data)
            died_at = from_millis(score)
            if message is None:
                letters.append(unreadable_letter(message_id, queue, died_at))
            else:
                letters.append(dead_letter(message, message_id, died_at))
        return letters

    def requeue_dead_letters(
        self, broker: dramatiq.Broker, queue: str, message_ids: Sequence[str]
    ) -> dict[str, str]:
        if not message_ids:
            return {}
        client = self._client(broker)
        keys = _Keys(queue)
        moved: dict[str, str] = {}
        try:
            requeue = client.register_script(_REQUEUE_SCRIPT)
            for message_id, data in zip(
                message_ids, client.hmget(keys.dead_messages, list(message_ids)), strict=True
            ):
                message = decode(data)
                if message is None:
                    continue  # gone meanwhile, or unreadable: nothing to send
                new_id = str(uuid.uuid4())
                fresh = fresh_copy(message, queue, message_id).copy(
                    options={"redis_message_id": new_id}
                )
                script_keys = [keys.dead, keys.dead_messages, keys.ready, keys.messages]
                if requeue(keys=script_keys, args=[message_id, new_id, fresh.encode()]):
                    moved[message_id] = new_id
        except redis.exceptions.RedisError as error:
            raise self._unavailable(error) from error
        return moved

    def purge_dead_letters(
        self, broker: dramatiq.Broker, queue: str, message_ids: Sequence[str]
    ) -> list[str]:
        if not message_ids:
            return []
        keys = _Keys(queue)
        try:
            pipe = self._client(broker).pipeline(transaction=True)
            for message_id in message_ids:
                pipe.zrem(keys.dead, message_id)
                pipe.hdel(keys.dead_messages, message_id)
            removed = pipe.execute()
        except redis.exceptions.RedisError as error:
            raise self._unavailable(error) from error
        # Every id gives two answers (zrem, hdel); the hash is what holds the message.
        return [i for i, gone in zip(message_ids, removed[1::2], strict=True) if gone]

    def _unavailable(self, error: redis.exceptions.RedisError) -> BaseException:
        return self.translate(error) or BrokerUnavailable(f"Redis at {_safe(self.url)}: {error}")


class _Keys:
    """Dramatiq's Redis keys for one queue (see dramatiq/brokers/redis/dispatch.lua)."""

    def __init__(self, queue: str) -> None:
        base = f"{NAMESPACE}:{queue}"
        self.ready = base
        self.messages = f"{base}.msgs"
        self.delayed_messages = f"{base}.DQ.msgs"
        self.dead = f"{base}.XQ"
        self.dead_messages = f"{base}.XQ.msgs"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _safe(url: str) -> str:
    """``url`` without its password, for messages."""
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
