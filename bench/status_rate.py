"""An open-loop, fixed-rate load on the status API: requests sent on a schedule.

    python -m bench.status_rate --base http://127.0.0.1:8000 --rows 1000000 --rate 500

Request ``i`` is due at ``start + i / rate`` whatever happened to the ones
before it, and its latency is measured from that due moment to the end of
its response body. A server that falls behind therefore shows its queue in
the figures instead of slowing the client down (no coordinated omission):
with one request in flight a stall of 200 ms is one slow request, here it is
a hundred.

The mix (:func:`mix`) is a quarter each of ``/jobs/{id}`` (random existing
ids), ``/files?path=`` (random existing paths), ``/summary`` and a product
search — one telescope's exposures of one night, first page of 50
(``/products?telescope=VLT&start=2024-03-14&end=2024-03-15&limit=50``, a
random night of the filled catalogue): the paths and their order are drawn
before the clock starts from a fixed seed.

The client is a few lines of asyncio in this process (run it apart from the
server so that it does not share the server's interpreter): ``--connections``
kept-alive HTTP/1.1 connections, one request in flight on each; a request due
while all are busy waits for one, and the wait counts. A warm-up at the same
rate (not counted) opens the connections and fills the caches. How late the
client itself queued each request (``send lag``) is reported with the
results: when it is large the client, not the server, was behind. Prints
one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from bench.status_load import _percentile

__all__ = ["GOAL_P95_MS", "GOAL_P99_MS", "KINDS", "KindResult", "mix", "run_load"]

#: The issue's goal for every kind of request at 500 requests/s.
GOAL_P95_MS: Final = 10.0
GOAL_P99_MS: Final = 50.0
#: How many nights a filled catalogue of ``rows`` products spans (bench.status_fill).
_PER_NIGHT: Final = 2000
_FIRST_NIGHT: Final = 1704067200  # 2024-01-01T00:00:00Z

_TIMEOUT_SECONDS: Final = 10.0

KINDS: Final = ("/jobs/{id}", "/files?path=", "/summary", "/products (search)")


def _night(number: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(_FIRST_NIGHT + number * 86400))


def mix(rows: int) -> dict[str, Callable[[random.Random], str]]:
    """Each kind of request and how to draw one of its paths (rows: of bench.status_fill)."""

    def file_path(rng: random.Random) -> str:
        number = rng.randint(1, rows)
        return f"/data/raw/{_night(number // _PER_NIGHT)}/exp-{number:07d}.fits"

    def search(rng: random.Random) -> str:
        night = rng.randrange(max(1, rows // _PER_NIGHT))
        return f"/products?telescope=VLT&start={_night(night)}&end={_night(night + 1)}&limit=50"

    return {
        "/jobs/{id}": lambda rng: f"/jobs/{rng.randint(1, rows)}",
        "/files?path=": lambda rng: f"/files?path={file_path(rng)}",
        "/summary": lambda rng: "/summary",
        "/products (search)": search,
    }


@dataclass(frozen=True)
class KindResult:
    """Latencies (milliseconds, from each request's due moment) of one kind of request."""

    kind: str
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def meets_goal(self) -> bool:
        return self.errors == 0 and self.p95_ms <= GOAL_P95_MS and self.p99_ms <= GOAL_P99_MS


def _summarise(kind: str, latencies: list[float]) -> KindResult:
    answered = sorted(ms for ms in latencies if ms >= 0)
    if not answered:
        answered = [float("nan")]
    return KindResult(
        kind=kind,
        requests=len(latencies),
        errors=sum(1 for ms in latencies if ms < 0),
        p50_ms=round(_percentile(answered, 0.50), 2),
        p95_ms=round(_percentile(answered, 0.95), 2),
        p99_ms=round(_percentile(answered, 0.99), 2),
        max_ms=round(answered[-1], 2),
    )


class _Connection:
    """One kept-alive HTTP/1.1 connection, one GET at a time (answers carry Content-Length).

    Not httpx: its pool examines every connection and every waiting request on
    each event, and even one client per connection costs ~1.2 ms of CPU per
    request here — 60 % of a core at 500 requests/s, taken from the server
    on a two-core machine. This costs about a tenth of that.
    """

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> int:
        """The status code of ``GET path``, its body read; OSError/TimeoutError when lost."""
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._streams
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {self._host}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            lowered = head.lower()
            at = lowered.find(b"\r\ncontent-length:")
            if at < 0 or b"connection: close" in lowered:
                raise OSError(f"unexpected answer to {path}: {head[:200]!r}")
            length = int(lowered[at + 17 : lowered.index(b"\r\n", at + 2)])
            await reader.readexactly(length)
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.close()
            raise OSError(f"connection lost during {path}") from None
        return status

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


async def _schedule(
    connections: list[_Connection], plan: list[tuple[str, str]], rate: float
) -> tuple[dict[str, list[float]], list[float], float]:
    """Send ``plan`` at ``rate``; per kind the latencies in ms (errors: -1), send lags, wall s.

    Each connection carries one request at a time: a request due while every
    connection is busy waits in the queue, and that wait counts.
    """
    latencies: dict[str, list[float]] = {kind: [] for kind, _ in plan}
    lags: list[float] = []
    due_queue: asyncio.Queue[tuple[str, str, float] | None] = asyncio.Queue()

    async def send(connection: _Connection) -> None:
        while (item := await due_queue.get()) is not None:
            kind, path, due = item
            try:
                async with asyncio.timeout(_TIMEOUT_SECONDS):
                    ok = await connection.get(path) == 200
            except (OSError, TimeoutError):
                connection.close()
                ok = False
            latencies[kind].append((time.perf_counter() - due) * 1000 if ok else -1.0)

    senders = [asyncio.create_task(send(connection)) for connection in connections]
    start = time.perf_counter() + 0.05
    for i, (kind, path) in enumerate(plan):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        # How late this process itself was: large values mean the client fell behind.
        lags.append((time.perf_counter() - due) * 1000)
        due_queue.put_nowait((kind, path, due))
    for _ in senders:
        due_queue.put_nowait(None)
    await asyncio.gather(*senders)
    return latencies, lags, time.perf_counter() - start


async def run_load(
    bases: list[str],
    rows: int,
    rate: float,
    seconds: float,
    warmup: float,
    connections: int,
    seed: int,
) -> dict[str, Any]:
    """Warm up, then ``seconds`` of the mix at ``rate``; the figures as a JSON-able dict."""
    rng = random.Random(seed)
    kinds = mix(rows)
    names = list(kinds)

    def plan(count: int) -> list[tuple[str, str]]:
        drawn = [names[i % len(names)] for i in range(count)]
        rng.shuffle(drawn)
        return [(name, kinds[name](rng)) for name in drawn]

    warm, measured = plan(int(rate * warmup)), plan(int(rate * seconds))
    # Several servers (bases): the connections are dealt out among them in turn.
    urls = [urlsplit(base) for base in bases]
    pool = [
        _Connection(url.hostname or "127.0.0.1", url.port or 80)
        for url in (urls[i % len(urls)] for i in range(connections))
    ]
    try:
        await _schedule(pool, warm, rate)
        latencies, lags, wall = await _schedule(pool, measured, rate)
    finally:
        for connection in pool:
            connection.close()
    results = [_summarise(kind, latencies[kind]) for kind in names]
    everything = [ms for kind in names for ms in latencies[kind]]
    total = _summarise("all", everything)
    ordered_lags = sorted(lags)
    answered = total.requests - total.errors
    return {
        "rate": rate,
        "seconds": seconds,
        "bases": bases,
        "connections": connections,
        "requests": len(measured),
        "answered": answered,
        "errors": total.errors,
        # Answers per second, from the first request's due moment to the last answer.
        "achieved_per_second": round(answered / wall, 1),
        "send_lag_p99_ms": round(_percentile(ordered_lags, 0.99), 2),
        "send_lag_max_ms": round(ordered_lags[-1], 2),
        "kinds": [r.as_dict() for r in [*results, total]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--base", required=True, action="append", help="http://host:port of a status API"
    )
    parser.add_argument("--rows", type=int, required=True, help="products and jobs filled")
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second, total")
    parser.add_argument("--seconds", type=float, default=25.0, help="measured")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds at the rate, not counted"
    )
    parser.add_argument(
        "--connections", type=int, default=64, help="kept alive, one request on each at a time"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    found = asyncio.run(
        run_load(args.base, args.rows, args.rate, args.seconds, args.warmup, args.connections,
                 args.seed)
    )  # fmt: skip
    json.dump(found, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
