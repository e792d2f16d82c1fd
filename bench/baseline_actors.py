"""The end-to-end benchmark's baselines: two Dramatiq actors as a user would write them.

- ``empty(path)`` does nothing: what the queue and the workers cost on their
  own — the ceiling of any actor on the same broker and worker settings;
- ``straightforward(path)`` reads the primary header with
  ``astropy.io.fits.getheader(path)`` and INSERTs one row (path, OBJECT,
  DATE-OBS, the header's cards as text) into ``baseline_headers``: one
  connection per process (asyncpg for ``postgresql://``, aiosqlite for
  ``sqlite:///``, with the journal settings fitsflow's SQLite adapter uses),
  one INSERT and one commit per message.

The broker is Dramatiq's own, with its default middleware plus AsyncIO (the
straightforward actor is a coroutine, as an asyncpg user writes it):
``RedisBroker(url=…)`` — namespace, heartbeat timeout and prefetch (twice the
threads) are the ones fitsflow's Redis broker uses — or, for ``memory://``,
the StubBroker that fitsflow's embedded mode uses. The environment chooses:
``BENCH_BASELINE_BROKER``, ``BENCH_BASELINE_QUEUE`` (the actors' queues are
``<queue>-empty`` and ``<queue>-straightforward``) and
``BENCH_BASELINE_DATABASE``.

Workers, distributed: ``dramatiq bench.baseline_actors --processes 2
--threads 128 --queues <queue>-empty``. Sending and timing, in another
process: ``python -m bench.baseline_actors empty --paths FILE``; with
``--embedded`` it also runs the worker threads itself, like ``fitsflow run``.
It sends one message per path as fast as it can, one ``send`` at a time, then
waits with ``broker.join`` for the queue to drain — every message acknowledged
(Redis: polled every 10 ms; memory: the queue's own ``join``) — and prints
the seconds from the first send to that moment as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import dramatiq
from astropy.io import fits
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, Middleware

BROKER_URL = os.environ.get("BENCH_BASELINE_BROKER", "memory://")
QUEUE = os.environ.get("BENCH_BASELINE_QUEUE", "fitsflow-baseline")
DATABASE_URL = os.environ.get("BENCH_BASELINE_DATABASE", "")
#: Longest the sender waits for the queue to drain.
JOIN_TIMEOUT_SECONDS = 600


def _broker() -> dramatiq.Broker:
    if BROKER_URL.startswith("memory://"):
        return StubBroker()
    return RedisBroker(url=BROKER_URL)  # type: ignore[no-untyped-call]


broker = _broker()


class CloseConnection(Middleware):
    """Closes this process's connection on the event loop before the loop stops."""

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        from dramatiq.asyncio import get_event_loop_thread

        thread = get_event_loop_thread()
        if thread is not None:
            thread.run_coroutine(_close())


broker.add_middleware(AsyncIO())
broker.add_middleware(CloseConnection())
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name=f"{QUEUE}-empty")
def empty(path: str) -> None:
    """Nothing: the queue's ceiling."""


@dramatiq.actor(queue_name=f"{QUEUE}-straightforward")
async def straightforward(path: str) -> None:
    """Read the primary header and INSERT one row."""
    header = fits.getheader(path)
    row = (path, header.get("OBJECT"), header.get("DATE-OBS"), header.tostring(sep="\n"))
    await _insert(row)


_INSERT = "INSERT INTO baseline_headers (path, object, date_obs, header) VALUES "
_connection: Any = None
_lock = asyncio.Lock()  # one connection: one statement at a time


async def _insert(row: tuple[str, Any, Any, str]) -> None:
    global _connection
    async with _lock:
        if DATABASE_URL.startswith("sqlite"):
            import aiosqlite

            if _connection is None:
                _connection = await aiosqlite.connect(_sqlite_path(DATABASE_URL))
                await _connection.execute("PRAGMA journal_mode = WAL")
                await _connection.execute("PRAGMA synchronous = NORMAL")
            await _connection.execute(_INSERT + "(?, ?, ?, ?)", row)
            await _connection.commit()
        else:
            import asyncpg

            if _connection is None:
                _connection = await asyncpg.connect(DATABASE_URL)
            await _connection.execute(_INSERT + "($1, $2, $3, $4)", *row)


async def _close() -> None:
    global _connection
    async with _lock:
        if _connection is not None:
            await _connection.close()
            _connection = None


def _sqlite_path(url: str) -> str:
    return url.split(":///", 1)[1]


# --- the sender: setup, timing and the check, outside the actors ----------------

_TABLE = (
    "CREATE TABLE IF NOT EXISTS baseline_headers "
    "(path TEXT NOT NULL, object TEXT, date_obs TEXT, header TEXT NOT NULL)"
)


def _database(sql: str) -> int:
    """Run ``sql`` on the baseline database; the first column of its first row, or 0."""
    if DATABASE_URL.startswith("sqlite"):
        with sqlite3.connect(_sqlite_path(DATABASE_URL)) as connection:
            found = connection.execute(sql).fetchone()
        return int(found[0]) if found else 0

    async def run() -> int:
        import asyncpg

        connection = await asyncpg.connect(DATABASE_URL)
        try:
            return int(await connection.fetchval(sql) or 0)
        finally:
            await connection.close()

    return asyncio.run(run())


def drive(actor: dramatiq.Actor[Any, Any], paths: list[str], threads: int | None) -> dict[str, Any]:
    """Send one message per path to ``actor``, wait until every one is processed.

    ``threads`` runs that many worker threads in this process (the memory
    broker); otherwise the workers are someone else's processes.
    """
    if actor is straightforward:
        _database(_TABLE)
        _database("DELETE FROM baseline_headers")
    worker = None
    if threads is not None:
        worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
        worker.start()
    try:
        started = time.perf_counter()
        for path in paths:
            actor.send(path)
        sent = time.perf_counter()
        if isinstance(broker, StubBroker):
            broker.join(actor.queue_name, timeout=JOIN_TIMEOUT_SECONDS * 1000, fail_fast=True)
        else:
            assert isinstance(broker, RedisBroker)
            broker.join(actor.queue_name, interval=10, timeout=JOIN_TIMEOUT_SECONDS * 1000)
        drained = time.perf_counter()
    finally:
        if worker is not None:
            worker.stop()
    if isinstance(broker, RedisBroker):
        broker.flush(actor.queue_name)
    rows = _database("SELECT count(*) FROM baseline_headers") if actor is straightforward else None
    if rows is not None and rows != len(paths):
        raise SystemExit(f"{actor.actor_name}: {rows} rows for {len(paths)} messages")
    return {
        "actor": actor.actor_name,
        "messages": len(paths),
        "seconds": drained - started,
        "send_seconds": sent - started,
        "rows": rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.baseline_actors",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("actor", choices=["empty", "straightforward"])
    parser.add_argument("--paths", type=Path, required=True, help="one file path a line")
    parser.add_argument(
        "--embedded", type=int, metavar="THREADS", help="run this many worker threads here"
    )
    args = parser.parse_args()
    paths = args.paths.read_text().splitlines()
    actor = empty if args.actor == "empty" else straightforward
    print(json.dumps(drive(actor, paths, args.embedded)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
