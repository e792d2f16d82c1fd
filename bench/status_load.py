"""A bounded load generator for HTTP endpoints: latency percentiles and requests per second.

One asyncio httpx client, ``concurrency`` requests in flight (each worker
takes the next request as soon as its last one is answered), over a
keep-alive connection pool on loopback. Requests are prepared before the
clock starts; a warm-up of ``concurrency * 10`` requests (not counted) fills
the server's connection pool and caches first.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx

__all__ = ["Endpoint", "Measurement", "measure", "render"]


@dataclass(frozen=True)
class Endpoint:
    """A name for the report and a function making one request path."""

    name: str
    path: Callable[[random.Random], str]


@dataclass(frozen=True)
class Measurement:
    """Latencies (milliseconds) and throughput of one endpoint."""

    endpoint: str
    requests: int
    concurrency: int
    errors: int
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Measurement:
        return cls(**row)


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, round(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


async def _run(http: httpx.AsyncClient, paths: list[str], concurrency: int) -> list[float]:
    """Send every path, ``concurrency`` at a time; seconds per request (errors as -1)."""
    latencies: list[float] = []
    cursor = iter(paths)

    async def worker() -> None:
        for path in cursor:
            started = time.perf_counter()
            response = await http.get(path)
            elapsed = time.perf_counter() - started
            latencies.append(elapsed if response.status_code == 200 else -1.0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def measure(
    base: str, endpoint: Endpoint, requests: int, concurrency: int, rng: random.Random
) -> Measurement:
    """Warm up, then time ``requests`` requests to ``endpoint``."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        await _run(http, [endpoint.path(rng) for _ in range(concurrency * 10)], concurrency)
        paths = [endpoint.path(rng) for _ in range(requests)]
        started = time.perf_counter()
        latencies = await _run(http, paths, concurrency)
        wall = time.perf_counter() - started
    answered = sorted(seconds * 1000 for seconds in latencies if seconds >= 0)
    if not answered:
        raise SystemExit(f"{endpoint.name}: no request succeeded")
    return Measurement(
        endpoint=endpoint.name,
        requests=requests,
        concurrency=concurrency,
        errors=len(latencies) - len(answered),
        requests_per_second=round(requests / wall, 1),
        p50_ms=round(_percentile(answered, 0.50), 2),
        p95_ms=round(_percentile(answered, 0.95), 2),
        p99_ms=round(_percentile(answered, 0.99), 2),
        max_ms=round(answered[-1], 2),
        mean_ms=round(statistics.fmean(answered), 2),
    )


def render(measurements: list[Measurement]) -> str:
    """An aligned table, one endpoint a row."""
    columns = ["endpoint", "in flight", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms",
               "req/s", "errors"]  # fmt: skip
    rows = [
        [m.endpoint, str(m.concurrency), str(m.requests), f"{m.p50_ms:.1f}", f"{m.p95_ms:.1f}",
         f"{m.p99_ms:.1f}", f"{m.max_ms:.1f}", f"{m.requests_per_second:,.0f}", str(m.errors)]
        for m in measurements
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in [columns, *rows]) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             for row in [columns, *rows]]  # fmt: skip
    return "\n".join(line.rstrip() for line in lines)
