"""The worker side of metrics: pools reported, one endpoint per host, dead processes.

:class:`WorkerMetrics` is a Dramatiq middleware. In every worker process it
copies the process's pool statistics into the (file-backed) metrics when the
worker boots and after each message, since no scrape ever runs in that
process; when a worker shuts down cleanly it marks the process dead, so its
``livesum`` gauges (connections in use...) stop counting while its counters
stay in the totals. With ``metrics.worker_port`` set it also names a *fork*:
Dramatiq's CLI starts that function once, in a process of its own beside the
workers, and it serves the sum of every worker process's files
(:func:`pipeline.metrics_http.serve_worker_metrics`).

The worker processes must write to files for that sum to exist:
``fitsflow worker`` sets ``PROMETHEUS_MULTIPROC_DIR`` (and
``metrics.multiprocess_dir``) before any of them starts. Running plain
``dramatiq workers`` with a worker port, set both variables yourself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import dramatiq
import structlog
from dramatiq.middleware import Middleware

from pipeline import metrics
from pipeline.metrics_http import serve_worker_metrics
from pipeline.settings import MetricsSettings

__all__ = ["WorkerMetrics"]

log = structlog.get_logger(__name__)


class WorkerMetrics(Middleware):
    """Pool statistics after each message; the host's endpoint as a fork."""

    def __init__(self, settings: MetricsSettings) -> None:
        self.settings = settings

    @property
    def forks(self) -> list[Callable[[], int]]:
        return [serve_worker_metrics] if self.settings.worker_port is not None else []

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        if self.settings.worker_port is not None and not metrics.multiprocess_active():
            log.error(
                "metrics.worker_port is set but this worker process keeps its metrics to "
                "itself: start it with `fitsflow worker`, or set PROMETHEUS_MULTIPROC_DIR "
                "and FITSFLOW_METRICS_MULTIPROCESS_DIR to one directory"
            )

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        metrics.sync_pools()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        metrics.sync_pools()

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        metrics.sync_pools()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        directory = self.settings.multiprocess_dir
        if directory is not None and metrics.multiprocess_active():
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]
