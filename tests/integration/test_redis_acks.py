"""Acknowledgements to Redis in batches (workers.brokers.redis_acks), against
private Redis servers: every acknowledged message leaves Redis as Dramatiq's
own ack leaves it, and none is forgotten when Redis goes away meanwhile."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.errors import ConnectionClosed

from tests.support.servers import PrivateRedis, private_redis
from workers.brokers.redis_acks import POLL_MAX_MS, AckBatchingRedisBroker

pytestmark = pytest.mark.redis

QUEUE = "acks-test"


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


def _broker(url: str) -> AckBatchingRedisBroker:
    return AckBatchingRedisBroker(url=url, namespace="dramatiq")


def _recorder(broker: AckBatchingRedisBroker) -> tuple[dramatiq.Actor[[int], None], list[int]]:
    """An actor on ``broker`` that records its argument, and what it recorded."""
    done: list[int] = []

    @dramatiq.actor(broker=broker, queue_name=QUEUE, max_retries=0)
    def record(i: int) -> None:
        done.append(i)

    return record, done


def _fetched(client: redis.Redis, broker: AckBatchingRedisBroker, ids: list[str]) -> None:
    """Put ``ids`` where Dramatiq's fetch leaves a message: stored, and in the worker's set."""
    pipe = client.pipeline()
    for message_id in ids:
        pipe.hset(f"dramatiq:{QUEUE}.msgs", message_id, b"{}")
        pipe.sadd(f"dramatiq:__acks__.{broker.broker_id}.{QUEUE}", message_id)
    pipe.execute()


def _left(client: redis.Redis, broker: AckBatchingRedisBroker) -> tuple[int, int]:
    return (
        int(client.hlen(f"dramatiq:{QUEUE}.msgs")),
        int(client.scard(f"dramatiq:__acks__.{broker.broker_id}.{QUEUE}")),
    )


def test_a_worker_leaves_nothing_behind_in_fewer_calls_than_messages(
    redis_server: PrivateRedis,
) -> None:
    broker = _broker(redis_server.url)
    record, done = _recorder(broker)

    for i in range(2_000):
        record.send(i)
    worker = dramatiq.Worker(broker, worker_threads=16, worker_timeout=100)
    worker.start()
    client = redis.Redis.from_url(redis_server.url)
    try:
        deadline = time.monotonic() + 60
        while _left(client, broker) != (0, 0) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()
    assert sorted(done) == list(range(2_000))
    assert _left(client, broker) == (0, 0)
    assert int(client.llen(f"dramatiq:{QUEUE}")) == 0
    sender = broker.ack_sender(QUEUE)
    assert sender.sent == 2_000 and sender.waiting == 0
    assert sender.calls < sender.sent  # batched: worker threads acked while one sent


def test_acks_from_many_threads_are_all_sent(redis_server: PrivateRedis) -> None:
    broker = _broker(redis_server.url)
    client = redis.Redis.from_url(redis_server.url)
    per_thread = [[str(uuid.uuid4()) for _ in range(300)] for _ in range(24)]
    _fetched(client, broker, [i for ids in per_thread for i in ids])
    sender = broker.ack_sender(QUEUE)
    start = threading.Barrier(len(per_thread))

    def ack_all(ids: list[str]) -> None:
        start.wait()
        for message_id in ids:
            sender.ack(message_id)

    threads = [threading.Thread(target=ack_all, args=(ids,)) for ids in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _left(client, broker) == (0, 0)
    assert sender.sent == 24 * 300 and sender.waiting == 0
    # Each call also stamps this worker's heartbeat, as Dramatiq's dispatch does.
    stamp = client.zscore("dramatiq:__heartbeats__", broker.broker_id)
    assert stamp is not None and abs(stamp / 1000 - time.time()) < 60


def test_an_ack_only_deletes_messages_this_worker_fetched(redis_server: PrivateRedis) -> None:
    broker = _broker(redis_server.url)
    client = redis.Redis.from_url(redis_server.url)
    # Stored but not in this worker's set (requeued meanwhile, or another
    # worker's): dispatch.lua's "ack" leaves it, and so does the batch.
    client.hset(f"dramatiq:{QUEUE}.msgs", "elsewhere", b"{}")
    broker.ack_sender(QUEUE).ack("elsewhere")
    assert client.hexists(f"dramatiq:{QUEUE}.msgs", "elsewhere")


def test_acks_wait_out_a_redis_outage_and_go_with_the_next_flush(
    redis_server: PrivateRedis,
) -> None:
    broker = _broker(redis_server.url)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    sender = broker.ack_sender(QUEUE)
    redis_server.stop()
    for message_id in ids:
        # As Dramatiq's own ack: a connection error is ConnectionClosed,
        # which Dramatiq's post-processing retries.
        with pytest.raises(ConnectionClosed):
            sender.ack(message_id)
    assert sender.waiting == 3
    redis_server.start()  # no persistence: put back what a fetch had left
    client = redis.Redis.from_url(redis_server.url)
    _fetched(client, broker, ids)
    # A consumer made anew after the error (Dramatiq restarts its consumer on
    # ConnectionClosed) shares the waiting acks and sends them on its turn.
    consumer = broker.consume(QUEUE, prefetch=1, timeout=10)
    assert broker.ack_sender(QUEUE) is sender
    next(consumer)
    assert sender.waiting == 0 and _left(client, broker) == (0, 0)
    consumer.close()


def test_a_consumer_closed_puts_back_what_it_fetched_but_never_handed_over(
    redis_server: PrivateRedis,
) -> None:
    """A fetch takes up to ``prefetch`` messages at once; a consumer thread told
    to stop leaves after the next one it hands over. Dramatiq requeues its work
    and delay queues at a stop, not the consumer's cache: those messages stayed
    in the stopped worker's name (jobs ``queued`` for minutes after a clean
    stop mid-burst)."""
    broker = _broker(redis_server.url)

    @dramatiq.actor(broker=broker, queue_name=QUEUE)
    def noop(i: int) -> None: ...

    for i in range(10):
        noop.send(i)
    client = redis.Redis.from_url(redis_server.url)
    consumer = broker.consume(QUEUE, prefetch=10, timeout=100)
    handed = next(consumer)  # one fetch of ten; one handed to Dramatiq
    assert handed is not None
    assert client.llen(f"dramatiq:{QUEUE}") == 0
    consumer.close()
    # The nine never handed over are ready again; the one handed over stays
    # this worker's until acked or requeued by Dramatiq (its work queue).
    assert client.llen(f"dramatiq:{QUEUE}") == 9
    held = client.smembers(f"dramatiq:__acks__.{broker.broker_id}.{QUEUE}")
    assert held == {handed.options["redis_message_id"].encode()}
    ready = {m.decode() for m in client.lrange(f"dramatiq:{QUEUE}", 0, -1)}
    assert handed.options["redis_message_id"] not in ready
    assert client.hlen(f"dramatiq:{QUEUE}.msgs") == 10


def _turns_until_a_message(consumer: Any, seconds: float = 5.0) -> tuple[Any, float]:
    """Turn ``consumer`` as Dramatiq's consumer thread does until it hands a
    message over: the message and the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        message = next(consumer)
        if message is not None:
            return message, time.monotonic() - start
    raise AssertionError(f"no message in {seconds}s")


def _turn_for(consumer: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert next(consumer) is None


def test_a_full_consumer_fetches_again_within_its_poll_interval_of_a_message_ending(
    redis_server: PrivateRedis,
) -> None:
    """Dramatiq's consumer, its prefetch full, sleeps ever longer (up to the
    worker timeout, 1 s) as if the queue were empty; the slot a finished
    message frees stayed empty until it woke — up to a second of an idle
    thread beside a waiting queue."""
    broker = _broker(redis_server.url)

    @dramatiq.actor(broker=broker, queue_name=QUEUE)
    def noop(i: int) -> None: ...

    noop.send(1)
    noop.send(2)
    consumer = broker.consume(QUEUE, prefetch=1, timeout=1_000)
    first, _ = _turns_until_a_message(consumer)
    _turn_for(consumer, 1.5)  # a long message: the consumer is full all along
    threading.Timer(0.05, consumer.ack, [first]).start()
    second, waited = _turns_until_a_message(consumer)
    assert tuple(second.args) == (2,)
    assert waited - 0.05 < POLL_MAX_MS / 1000 + 0.15, f"the freed slot stayed empty {waited:.3f}s"
    consumer.ack(second)
    consumer.close()


def test_an_idle_consumer_sees_a_new_message_within_its_poll_interval(
    redis_server: PrivateRedis,
) -> None:
    """Dramatiq's idle consumer looks every worker timeout (1 s at its
    default); a file arriving on a quiet queue waited up to that long."""
    broker = _broker(redis_server.url)

    @dramatiq.actor(broker=broker, queue_name=QUEUE)
    def noop(i: int) -> None: ...

    consumer = broker.consume(QUEUE, prefetch=4, timeout=1_000)
    _turn_for(consumer, 1.5)  # idle long enough to back off as far as it goes
    threading.Timer(0.05, noop.send, [1]).start()
    message, waited = _turns_until_a_message(consumer)
    assert waited - 0.05 < POLL_MAX_MS / 1000 + 0.15, f"seen after {waited:.3f}s"
    consumer.ack(message)
    consumer.close()


def test_retries_a_worker_holds_survive_a_redis_outage(redis_server: PrivateRedis) -> None:
    """Dramatiq's consumer thread keeps delayed messages in memory until their
    time, and on a connection error replaces that queue with an empty one:
    after two seconds without Redis (its data kept), the retries stayed in
    the live worker's name for good. The consumer gives them back."""
    broker = _broker(redis_server.url)
    record, done = _recorder(broker)

    for i in range(5):
        record.send_with_options(args=(i,), delay=3_000)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    client = redis.Redis.from_url(redis_server.url)
    held = f"dramatiq:__acks__.{broker.broker_id}.{QUEUE}.DQ"
    try:
        deadline = time.monotonic() + 10
        while client.scard(held) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.scard(held) == 5 and done == []
        client.save()  # the outage loses nothing: only the connections go
        redis_server.stop()
        time.sleep(2)
        redis_server.start()
        client = redis.Redis.from_url(redis_server.url)
        deadline = time.monotonic() + 30
        while len(done) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert sorted(done) == list(range(5))
    assert client.keys(f"dramatiq:{QUEUE}.DQ*") == []


def test_what_a_consumer_could_not_put_back_goes_with_the_next_one(
    redis_server: PrivateRedis,
) -> None:
    broker = _broker(redis_server.url)

    @dramatiq.actor(broker=broker, queue_name=QUEUE)
    def noop(i: int) -> None: ...

    for i in range(10):
        noop.send(i)
    consumer = broker.consume(QUEUE, prefetch=10, timeout=100)
    handed = next(consumer)
    assert handed is not None
    redis.Redis.from_url(redis_server.url).save()
    redis_server.stop()
    with pytest.raises(ConnectionClosed):
        consumer.close()  # Dramatiq's consumer thread takes this in its stride
    assert broker.requeue_backlog(QUEUE).waiting == 9
    redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    successor = broker.consume(QUEUE, prefetch=1, timeout=100)
    taken = next(successor)  # puts the nine back, then fetches one of them
    assert taken is not None and broker.requeue_backlog(QUEUE).waiting == 0
    assert client.llen(f"dramatiq:{QUEUE}") == 8
    held = client.smembers(f"dramatiq:__acks__.{broker.broker_id}.{QUEUE}")
    assert held == {m.options["redis_message_id"].encode() for m in (handed, taken)}
