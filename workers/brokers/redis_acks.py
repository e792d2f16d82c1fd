"""Acknowledgements to Redis in batches.

Dramatiq's Redis consumer acknowledges each message with a call of its
dispatch script of its own: one round trip per message, the largest broker
cost left per file once sends went in batches (docs/benchmarks.md). Here a
worker thread that acknowledges hands its message's id over and goes on; one
thread at a time sends every id waiting, in one script call that does, per
id, what dispatch.lua's "ack" does (remove it from this worker's set of
fetched messages and, only if it was there, delete the stored message) and,
as every dispatch call, stamps this worker's heartbeat. Under load batches
grow by themselves; alone, an acknowledgement goes at once.

Nothing admitted is lost by this. An id leaves the waiting list only once
Redis has run the script over it. If the process dies first, the message is
still in the worker's set of fetched messages, and Dramatiq's maintenance
puts it back on its queue once the worker's heartbeat stops: delivered again,
which the ingest's idempotent writes absorb — what a crash between a
message's end and its acknowledgement always meant. A connection error
leaves the ids waiting and is raised as ``ConnectionClosed``, as Dramatiq's
own ack raises it, so Dramatiq's post-processing tries again; the waiting
list belongs to the broker, not to one consumer, so a consumer Dramatiq
makes anew after the error sends what the old one could not.

The consumer also puts back, when closed, the messages it fetched but never
handed to Dramatiq (``_requeue_cached``), which Dramatiq's stop leaves behind.
"""

from __future__ import annotations

import threading
from typing import Any

import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import current_millis
from dramatiq.errors import ConnectionClosed

from workers.brokers.letters import decode

__all__ = ["AckBatchingRedisBroker", "AckSender"]

#: At most this many ids in one script call (a call blocks Redis while it runs).
ACK_BATCH = 1_000

# KEYS = heartbeats, this worker's fetched set for the queue, the queue's
# .msgs hash; ARGV = timestamp, worker id, message ids...
_ACK_SCRIPT = """
redis.call("zadd", KEYS[1], ARGV[1], ARGV[2])
local acked = 0
for i = 3, #ARGV do
    if redis.call("srem", KEYS[2], ARGV[i]) > 0 then
        redis.call("hdel", KEYS[3], ARGV[i])
        acked = acked + 1
    end
end
return acked
"""


class AckSender:
    """The acknowledgements waiting to be sent for one queue of one broker."""

    def __init__(self, broker: RedisBroker, queue_name: str) -> None:
        namespace = broker.namespace
        self._worker_id: str = broker.broker_id
        self._keys = [
            f"{namespace}:__heartbeats__",
            f"{namespace}:__acks__.{broker.broker_id}.{queue_name}",
            f"{namespace}:{queue_name}.msgs",
        ]
        self._script = broker.client.register_script(_ACK_SCRIPT)
        self._lock = threading.Lock()
        self._waiting: list[str] = []
        self._sending = False
        #: Script calls made and ids they carried (for tests and benchmarks).
        self.calls = 0
        self.sent = 0

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def ack(self, redis_message_id: str) -> None:
        """Acknowledge one message: sent now, or by the thread sending already."""
        with self._lock:
            self._waiting.append(redis_message_id)
            if self._sending:
                return
            self._sending = True
        self._send_waiting()

    def flush(self) -> None:
        """Send whatever is waiting, unless another thread is at it."""
        with self._lock:
            if self._sending or not self._waiting:
                return
            self._sending = True
        self._send_waiting()

    def _send_waiting(self) -> None:
        """Send batches until none is waiting (called as the one sender)."""
        try:
            while batch := self._next_batch():
                self._script(keys=self._keys, args=[current_millis(), self._worker_id, *batch])
                with self._lock:
                    # Others only append meanwhile: the batch is still the head.
                    del self._waiting[: len(batch)]
                self.calls += 1
                self.sent += len(batch)
        except BaseException as error:
            with self._lock:
                self._sending = False
            if isinstance(error, redis.ConnectionError):
                raise ConnectionClosed(error) from None  # type: ignore[no-untyped-call]
            raise

    def _next_batch(self) -> list[str]:
        with self._lock:
            batch = self._waiting[:ACK_BATCH]
            if not batch:
                self._sending = False  # under the lock: no id is left unowned
            return batch


class _BatchedAckConsumer(_RedisConsumer):
    """Dramatiq's Redis consumer, acknowledging through the broker's AckSender."""

    def __init__(self, broker: AckBatchingRedisBroker, queue_name: str, *args: Any) -> None:
        super().__init__(broker, queue_name, *args)  # type: ignore[no-untyped-call]
        self._acks = broker.ack_sender(queue_name)

    def ack(self, message: Any) -> None:
        try:
            self._acks.ack(message.options["redis_message_id"])
        finally:
            self.queued_message_ids.discard(message.message_id)

    def __next__(self) -> Any:
        # Ids left waiting by an error another thread did not retry go with the
        # consumer thread's next turn rather than with some later ack.
        if self._acks.waiting:
            self._acks.flush()
        return super().__next__()  # type: ignore[no-untyped-call]

    def close(self) -> None:
        try:
            self._requeue_cached()
            self._acks.flush()
        finally:
            super().close()

    def _requeue_cached(self) -> None:
        """Put back on the queue what was fetched but never handed to Dramatiq.

        A fetch takes up to ``prefetch`` messages into this consumer's cache;
        Dramatiq's consumer thread hands them over one at a time and, once told
        to stop, leaves after the next one. Dramatiq requeues what its work and
        delay queues hold, but not this cache: those messages stayed in this
        worker's set of fetched messages, waiting for another worker's random
        maintenance after the heartbeat timeout — jobs left ``queued`` for
        minutes after a clean stop mid-burst (53 of 4,000 in one run).
        """
        cached, self.message_cache = self.message_cache, []
        ids = [message.options["redis_message_id"] for message in map(decode, cached) if message]
        if not ids:
            return
        try:
            self.broker.do_requeue(self.queue_name, *ids)
            self.logger.info(
                "Put %d fetched, unstarted messages back on %r.", len(ids), self.queue_name
            )
        except redis.ConnectionError as error:
            # As ack: Dramatiq's consumer thread takes ConnectionClosed in its
            # stride. The messages stay in this worker's set, and go back to
            # the queue once its heartbeat has stopped (the reconciler).
            raise ConnectionClosed(error) from None  # type: ignore[no-untyped-call]


class AckBatchingRedisBroker(RedisBroker):
    """Dramatiq's RedisBroker whose consumers acknowledge in batches."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)  # type: ignore[no-untyped-call]
        self._ack_senders: dict[str, AckSender] = {}
        self._ack_senders_lock = threading.Lock()

    @property
    def consumer_class(self) -> type[_BatchedAckConsumer]:
        return _BatchedAckConsumer

    def ack_sender(self, queue_name: str) -> AckSender:
        """The one AckSender of ``queue_name`` in this broker."""
        with self._ack_senders_lock:
            sender = self._ack_senders.get(queue_name)
            if sender is None:
                sender = self._ack_senders[queue_name] = AckSender(self, queue_name)
            return sender
