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

The consumer also puts back on the queue, when closed, what Dramatiq would
leave in this worker's name while it lives: messages fetched but never handed
over, and delayed messages its consumer thread dropped after a connection
error (``_put_back_unstarted``).

And it sleeps at most ``POLL_MAX_MS`` between looks at its queue.
Dramatiq's consumer, whenever it fetches nothing — its queue empty, or its
prefetch full — sleeps exponentially longer each turn, up to the worker
timeout (1 s): a file arriving on a quiet queue waited up to a second for a
worker, and a slot a finished message freed stayed empty as long.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import current_millis
from dramatiq.errors import ConnectionClosed

from workers.brokers.letters import decode

__all__ = ["AckBatchingRedisBroker", "AckSender", "RequeueBacklog"]

T = TypeVar("T")

#: A consumer's longest sleep between looks at its queue (Dramatiq's own: the
#: worker timeout, 1 s). One script call a look: cheap for Redis.
POLL_MAX_MS = 100

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


class RequeueBacklog:
    """Messages to put back on one queue, kept by the broker until Redis takes them.

    Like the acknowledgements' waiting list it belongs to the broker, not to
    one consumer: ids a consumer could not put back because Redis was away
    go with the next consumer Dramatiq makes for the queue.
    """

    def __init__(self, broker: RedisBroker, queue_name: str) -> None:
        self._broker = broker
        self._queue_name = queue_name
        self._lock = threading.Lock()
        self._waiting: list[str] = []

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def put_back(self, redis_message_ids: Iterable[str]) -> int:
        """Put these (and any waiting) back on the queue; how many went.

        ``ConnectionClosed`` when Redis is away: they wait for the next call.
        """
        with self._lock:
            self._waiting.extend(redis_message_ids)
            ids = list(dict.fromkeys(self._waiting))
            if not ids:
                return 0
            try:
                # dispatch.lua's requeue: only ids still in this worker's set go back.
                self._broker.do_requeue(self._queue_name, *ids)
            except redis.ConnectionError as error:
                raise ConnectionClosed(error) from None  # type: ignore[no-untyped-call]
            self._waiting.clear()
            return len(ids)


class _BatchedAckConsumer(_RedisConsumer):
    """Dramatiq's Redis consumer, acknowledging through the broker's AckSender,
    and giving back what Dramatiq's consumer thread would leave in its name."""

    def __init__(
        self, broker: AckBatchingRedisBroker, queue_name: str, prefetch: int, timeout: int
    ) -> None:
        # Dramatiq's consumer uses its timeout only as the cap of its back-off.
        capped = min(timeout, POLL_MAX_MS)
        super().__init__(broker, queue_name, prefetch, capped)  # type: ignore[no-untyped-call]
        self._acks = broker.ack_sender(queue_name)
        self._requeues = broker.requeue_backlog(queue_name)
        #: Delayed messages handed over and not yet acked, nacked or requeued.
        self._delayed: set[str] = set()

    def ack(self, message: Any) -> None:
        self._delayed.discard(message.options["redis_message_id"])
        try:
            self._acks.ack(message.options["redis_message_id"])
        finally:
            self.queued_message_ids.discard(message.message_id)

    def nack(self, message: Any) -> None:
        self._delayed.discard(message.options["redis_message_id"])
        super().nack(message)  # type: ignore[no-untyped-call]

    def requeue(self, messages: Iterable[Any]) -> None:
        ids = [message.options["redis_message_id"] for message in messages]
        self._delayed.difference_update(ids)
        self._requeues.put_back(ids)

    def __next__(self) -> Any:
        # Ids left waiting by an error another thread did not retry go with the
        # consumer thread's next turn rather than with some later ack.
        if self._acks.waiting:
            self._acks.flush()
        if self._requeues.waiting:
            self._requeues.put_back(())
        message = super().__next__()  # type: ignore[no-untyped-call]
        if message is not None and message.options.get("eta") is not None:
            # Dramatiq's consumer thread keeps it in memory until its time.
            self._delayed.add(message.options["redis_message_id"])
        return message

    def close(self) -> None:
        try:
            self._put_back_unstarted()
            self._acks.flush()
        finally:
            super().close()

    def _put_back_unstarted(self) -> None:
        """Put back on the queue what this consumer took and Dramatiq let go.

        Two kinds, both left in this worker's set of fetched messages, where
        Redis only gives them to others once the worker is dead:

        - fetched but never handed over. A fetch takes up to ``prefetch``
          messages into the consumer's cache; Dramatiq's consumer thread hands
          them over one at a time and, told to stop, leaves after the next
          one. Its stop requeues the work and delay queues, not this cache:
          jobs stayed ``queued`` for minutes after a clean stop mid-burst
          (53 of 4,000 in one run).
        - delayed messages (retries) handed over and then dropped: on a
          connection error Dramatiq's consumer thread replaces its delay
          queue with an empty one before closing the consumer, so a Redis
          outage of two seconds left retries waiting for good while their
          worker lived (Dramatiq's own stop requeues the delay queue first,
          leaving none here).

        If Redis is away, they wait in the broker's backlog for the next
        consumer of the queue.
        """
        cached, self.message_cache = self.message_cache, []
        ids = [message.options["redis_message_id"] for message in map(decode, cached) if message]
        ids += self._delayed
        self._delayed.clear()
        if ids and self._requeues.put_back(ids):
            self.logger.info(
                "Put %d fetched, unstarted messages back on %r.", len(ids), self.queue_name
            )


class AckBatchingRedisBroker(RedisBroker):
    """Dramatiq's RedisBroker whose consumers acknowledge in batches."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)  # type: ignore[no-untyped-call]
        self._ack_senders: dict[str, AckSender] = {}
        self._requeue_backlogs: dict[str, RequeueBacklog] = {}
        self._per_queue_lock = threading.Lock()

    @property
    def consumer_class(self) -> type[_BatchedAckConsumer]:
        return _BatchedAckConsumer

    def ack_sender(self, queue_name: str) -> AckSender:
        """The one AckSender of ``queue_name`` in this broker."""
        return self._one_per_queue(self._ack_senders, queue_name, AckSender)

    def requeue_backlog(self, queue_name: str) -> RequeueBacklog:
        """The one RequeueBacklog of ``queue_name`` in this broker."""
        return self._one_per_queue(self._requeue_backlogs, queue_name, RequeueBacklog)

    def _one_per_queue(
        self,
        made: dict[str, T],
        queue_name: str,
        make: Callable[[RedisBroker, str], T],
    ) -> T:
        # Every consumer of a queue (Dramatiq makes a new one after an error)
        # must share its queue's waiting ids: made once, under the lock.
        with self._per_queue_lock:
            found = made.get(queue_name)
            if found is None:
                found = made[queue_name] = make(self, queue_name)
            return found
