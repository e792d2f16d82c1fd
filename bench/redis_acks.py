"""What acknowledging in batches saves: an empty actor on Dramatiq's RedisBroker and on fitsflow's.

    python -m bench.redis_acks                        # 10,000 messages, 5 repetitions (~1 min)
    python -m bench.redis_acks --messages 2000 --repetitions 1

One process, one Dramatiq ``Worker`` with ``fitsflow worker``'s thread count,
an actor that does nothing, on the Redis of ``FITSFLOW_BENCH_REDIS`` with a
queue of its own (removed afterwards). Each repetition stores the same
number of messages (in batches, untimed), starts the worker and times it
until the queue's ``.msgs`` hash is empty — every message fetched, run and
acknowledged — once with Dramatiq's ``RedisBroker`` (one dispatch-script call
per acknowledgement) and once with fitsflow's ``AckBatchingRedisBroker``
(:mod:`workers.brokers.redis_acks`), in an order that alternates. Reported:
messages/s, this process's CPU and the Redis server's CPU per message
(``INFO cpu``; the server is shared, so other clients' work counts too), and
the ratio within each repetition.
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from bench.e2e import REDIS, THREADS
from bench.harness import Spread
from workers.brokers.redis import NAMESPACE, RedisAdapter
from workers.brokers.redis_acks import AckBatchingRedisBroker

BROKERS: dict[str, type[RedisBroker]] = {
    "Dramatiq RedisBroker": RedisBroker,
    "fitsflow AckBatchingRedisBroker": AckBatchingRedisBroker,
}

#: Longest a drain may take before the benchmark gives up.
DRAIN_TIMEOUT_SECONDS = 300


def _process_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _redis_cpu(client: redis.Redis) -> float:
    info: dict[str, Any] = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def measure(kind: type[RedisBroker], messages: int, threads: int) -> dict[str, float]:
    """One timed drain of ``messages`` empty messages through a ``kind`` broker."""
    queue = f"bench-acks-{secrets.token_hex(4)}"
    broker = kind(url=REDIS, namespace=NAMESPACE)
    client: redis.Redis = broker.client

    @dramatiq.actor(broker=broker, queue_name=queue, max_retries=0)
    def empty(index: int) -> None:
        """Nothing: what the queue costs on its own."""

    pending = f"{NAMESPACE}:{queue}.msgs"
    queued = [empty.message(index) for index in range(messages)]
    adapter = RedisAdapter(REDIS)
    for first in range(0, messages, adapter.batch_size):
        adapter.enqueue_batch(broker, queued[first : first + adapter.batch_size])
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    cpu, server, started = _process_cpu(), _redis_cpu(client), time.perf_counter()
    worker.start()
    try:
        while client.hlen(pending):
            if time.perf_counter() - started > DRAIN_TIMEOUT_SECONDS:
                raise SystemExit(f"{kind.__name__}: the queue did not drain")
            time.sleep(0.005)
        seconds = time.perf_counter() - started
        cpu, server = _process_cpu() - cpu, _redis_cpu(client) - server
    finally:
        worker.stop()
        broker.flush(queue)
        client.zrem(f"{NAMESPACE}:__heartbeats__", broker.broker_id)
    return {
        "messages_per_second": messages / seconds,
        "client_us_per_message": cpu / messages * 1e6,
        "redis_us_per_message": server / messages * 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--threads", type=int, default=THREADS)
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in BROKERS}
    names = list(BROKERS)
    for repetition in range(args.repetitions):
        for name in names if repetition % 2 == 0 else names[::-1]:
            runs[name].append(measure(BROKERS[name], args.messages, args.threads))
    print(
        f"{args.messages:,} empty messages, 1 process x {args.threads} threads, "
        f"{args.repetitions} repetitions: median (min-max)\n"
    )
    print("| broker | messages/s | client CPU us/message | Redis CPU us/message |")
    print("|---|---|---|---|")
    for name, samples in runs.items():
        cells = [
            Spread.of([s[key] for s in samples]).text()
            for key in ("messages_per_second", "client_us_per_message", "redis_us_per_message")
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    stock, batched = (runs[name] for name in names)
    ratios = [
        b["messages_per_second"] / s["messages_per_second"]
        for s, b in zip(stock, batched, strict=True)
    ]
    print(f"\nbatched / Dramatiq's, same repetition: {Spread.of(ratios).text(2)}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
