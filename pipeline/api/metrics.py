"""``GET /metrics``: the process's Prometheus metrics plus the broker's queues.

What the status API adds to its process's registry (:mod:`pipeline.metrics`)
is what only it asks about: the depth of every queue and of its dead
letters. Asking a broker is network I/O, so it never happens inside the
collector: the handler first refreshes a small cache — at most once every
:data:`QUEUE_CACHE_SECONDS`, within :data:`QUEUE_TIMEOUT_SECONDS`, one
refresh at a time however many scrapes arrive — and the collector only reads
it. A broker that does not answer makes ``fitsflow_broker_up`` 0 and leaves
the queue series out, rather than failing the scrape.

``/metrics`` is a read endpoint: open unless ``api.protect_reads`` is set,
then it needs ``api.token`` like the others (Prometheus sends it with
``authorization: {credentials: ...}`` in the scrape config). It is not in the
OpenAPI schema: its body is Prometheus text, not a JSON document.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any, Final

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pipeline import metrics
from pipeline.api.probe import BrokerProbe
from pipeline.api.schemas import QueueDepth
from pipeline.api.summary import queue_depths
from pipeline.errors import FitsflowError

__all__ = ["QUEUE_CACHE_SECONDS", "QUEUE_TIMEOUT_SECONDS", "QueueDepthCache", "install_metrics"]

#: Scrapes within this many seconds of a broker answer reuse it.
QUEUE_CACHE_SECONDS: Final = 2.0
#: How long a scrape waits for the broker before reporting it down.
QUEUE_TIMEOUT_SECONDS: Final = 2.0
_STATES: Final = ("ready", "delayed", "in_flight")

router = APIRouter()


class QueueDepthCache:
    """The broker's last answer, refreshed on demand at most every ``max_age`` seconds."""

    def __init__(
        self,
        broker: BrokerProbe,
        max_age: float = QUEUE_CACHE_SECONDS,
        timeout: float = QUEUE_TIMEOUT_SECONDS,
    ) -> None:
        self._broker = broker
        self._max_age = max_age
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._asked_at = float("-inf")
        self.depths: dict[str, QueueDepth] = {}
        self.up = False

    async def refresh(self) -> None:
        """Ask the broker unless its answer is fresh; concurrent callers share one question."""
        async with self._lock:
            if time.monotonic() - self._asked_at < self._max_age:
                return
            try:
                self.depths = await queue_depths(self._broker, within=self._timeout)
                self.up = True
            except FitsflowError:
                self.depths, self.up = {}, False
            self._asked_at = time.monotonic()


class _QueueCollector(Collector):
    def __init__(self, cache: QueueDepthCache) -> None:
        self._cache = cache

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("fitsflow_broker_up", "1 if the broker answered the last scrape.")
        up.add_metric([], 1.0 if self._cache.up else 0.0)
        yield up
        messages = GaugeMetricFamily(
            "fitsflow_queue_messages",
            "Messages in a queue: ready, delayed (retries waiting) or in flight (unacked).",
            labels=["queue", "state"],
        )
        dead = GaugeMetricFamily(
            "fitsflow_queue_dead_letter_messages",
            "Messages given up on (dead-lettered), by queue.",
            labels=["queue"],
        )
        for queue, depth in sorted(self._cache.depths.items()):
            for state in _STATES:
                value = getattr(depth, state)
                if value is not None:  # a broker that cannot tell leaves the series out
                    messages.add_metric([queue, state], value)
            if depth.dead is not None:
                dead.add_metric([queue], depth.dead)
        yield messages
        yield dead


class _ProcessCollector(Collector):
    """Everything the process's default registry holds, pools brought up to date."""

    def collect(self) -> Iterator[Metric]:
        metrics.sync_pools()
        yield from REGISTRY.collect()


class ApiMetrics:
    """One app's registry: the process's metrics and its broker's queues."""

    def __init__(self, broker: BrokerProbe) -> None:
        self.queues = QueueDepthCache(broker)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_ProcessCollector())
        self.registry.register(_QueueCollector(self.queues))

    async def render(self) -> bytes:
        await self.queues.refresh()
        return generate_latest(self.registry)


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus text exposition of this process and the broker's queues."""
    exporter: ApiMetrics = request.app.state.metrics
    return Response(await exporter.render(), media_type=CONTENT_TYPE_LATEST)


def install_metrics(app: FastAPI, broker: BrokerProbe, dependencies: list[Any]) -> None:
    """Serve ``/metrics`` on ``app``, asking ``broker`` for its queues, behind
    ``dependencies`` (the app's read guard)."""
    app.state.metrics = ApiMetrics(broker)
    app.include_router(router, dependencies=dependencies)
