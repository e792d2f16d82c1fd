"""Prometheus metrics: every ``fitsflow_*`` metric, defined once, and what moves them.

============================================  =======  ==========================================
metric                                        type     moved by
============================================  =======  ==========================================
``fitsflow_files_detected_total{reason}``     counter  the watcher: files found complete (closed,
                                                       moved_in, settled, scan) and offered for
                                                       admission (read from its stats at scrape)
``fitsflow_files_admitted_total{source}``     counter  the outbox: a job committed for a new file
``fitsflow_files_refused_total{code}``        counter  the outbox: a refusal recorded (FIFO,
                                                       outside the root...)
``fitsflow_watcher_events_total``,            counter  the watcher's own counters (at scrape)
``…_overflows_total``, ``…_rescans_total``,
``…_admit_failures_total``;
``fitsflow_watcher_settling_files``           gauge
``fitsflow_jobs_finished_total``              counter  the ingest actor: one per job ended,
``{state, outcome, error_code}``                       ``succeeded`` with its outcome or
                                                       ``failed`` with its error code
``fitsflow_job_retries_total{error_code}``    counter  the ingest actor: a transient failure
                                                       recorded, the job to be tried again
``fitsflow_ingest_duration_seconds{phase}``   histo.   ``read`` (headers), ``extract`` (fields,
                                                       rows), ``commit`` (the one transaction)
``fitsflow_db_pool_*{pool}``                  mixed    each process's connection pools
                                                       (:func:`track_pool`, :func:`sync_pools`)
``fitsflow_reconciler_resent_total{round}``   counter  the reconciler: messages sent again
``fitsflow_reconciler_requeued_total``        counter  the reconciler: dead workers' fetched
``{queue}``                                            messages put back on the queue
``fitsflow_queue_messages{queue,state}``,     gauge    the status API, asking the broker at
``fitsflow_queue_dead_letter_messages{queue}``,        scrape time (:mod:`pipeline.api.metrics`)
``fitsflow_broker_up``
============================================  =======  ==========================================

Everything is registered in prometheus_client's default registry, whose
values are per process — or, when ``PROMETHEUS_MULTIPROC_DIR`` is set before
this module is imported (``fitsflow worker`` does it for its Dramatiq worker
processes), kept in files that one endpoint per host adds up
(:mod:`pipeline.metrics_http`). Gauges therefore name how processes combine:
``livesum`` for what several processes hold at once, ``livemax`` for a peak.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import prometheus_client
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from pipeline.db.base import Database, PoolStats
    from pipeline.watcher import Watcher, WatcherStats

__all__ = [
    "DURATION_BUCKETS",
    "INGEST_SECONDS",
    "JOBS_FINISHED",
    "JOB_RETRIES",
    "multiprocess_active",
    "observe_phase",
    "record_admitted",
    "record_job_failed",
    "record_job_retry",
    "record_job_succeeded",
    "record_refused",
    "record_resent",
    "sync_pools",
    "timed",
    "track_pool",
    "track_watcher",
]

# ``*_created`` series double the output and no dashboard reads them.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

#: Seconds: a header read takes milliseconds; the reader gives up at 60 s.
DURATION_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip

FILES_ADMITTED = Counter(
    "fitsflow_files_admitted_total",
    "Files admitted: a queued job committed by the outbox, by what found them.",
    ["source"],
)
FILES_REFUSED = Counter(
    "fitsflow_files_refused_total",
    "Paths refused before any worker read them, recorded as failed jobs, by error code.",
    ["code"],
)
JOBS_FINISHED = Counter(
    "fitsflow_jobs_finished_total",
    "Jobs ended: succeeded (by outcome) or failed (by error code).",
    ["state", "outcome", "error_code"],
)
JOB_RETRIES = Counter(
    "fitsflow_job_retries_total",
    "Transient failures recorded with the job to be tried again, by error code.",
    ["error_code"],
)
INGEST_SECONDS = Histogram(
    "fitsflow_ingest_duration_seconds",
    "Time per file in each ingest phase: read (headers), extract (fields), commit.",
    ["phase"],
    buckets=DURATION_BUCKETS,
)
RECONCILER_RESENT = Counter(
    "fitsflow_reconciler_resent_total",
    "Messages sent again for jobs whose message was lost (periodic) or died with "
    "the last run's in-memory queue (startup).",
    ["round"],
)

# Labelled, as every counter here: in multiprocess mode a counter without
# labels writes its file in every process that imports this module.
RECONCILER_REQUEUED = Counter(
    "fitsflow_reconciler_requeued_total",
    "Messages a dead worker had fetched, put back on the queue once its heartbeat stopped (Redis).",
    ["queue"],
)


def timed(phase: str) -> contextlib.AbstractContextManager[None]:
    """``with timed("read"):`` observes the block's duration, even when it raises."""
    return _Timer(INGEST_SECONDS.labels(phase))


def observe_phase(phase: str, seconds: float) -> None:
    """Observe a phase timed elsewhere (in a reader process)."""
    INGEST_SECONDS.labels(phase).observe(seconds)


class _Timer(contextlib.AbstractContextManager[None]):
    __slots__ = ("_histogram", "_started")

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *exc_info: object) -> None:
        self._histogram.observe(time.perf_counter() - self._started)


def record_admitted(source: str, count: int) -> None:
    """``count`` new files got a queued job."""
    if count:
        FILES_ADMITTED.labels(source).inc(count)


def record_refused(code: str) -> None:
    """A path was refused and recorded."""
    FILES_REFUSED.labels(code).inc()


def record_job_succeeded(outcome: str) -> None:
    JOBS_FINISHED.labels("succeeded", outcome, "").inc()


def record_job_failed(error_code: str) -> None:
    JOBS_FINISHED.labels("failed", "", error_code).inc()


def record_job_retry(error_code: str) -> None:
    JOB_RETRIES.labels(error_code).inc()


def record_resent(round_kind: str, count: int) -> None:
    """The reconciler sent ``count`` messages again (``periodic`` or ``startup``)."""
    if count:
        RECONCILER_RESENT.labels(round_kind).inc(count)


def record_requeued(queue: str, count: int) -> None:
    """The reconciler put ``count`` messages of dead workers back on ``queue``."""
    if count:
        RECONCILER_REQUEUED.labels(queue).inc(count)


def multiprocess_active() -> bool:
    """Whether values live in ``PROMETHEUS_MULTIPROC_DIR`` files (set before import)."""
    from prometheus_client import values

    return values.ValueClass is not values.MutexValue


# --- database pools -------------------------------------------------------------------


def _pool_gauge(name: str, documentation: str, mode: str = "livesum") -> Gauge:
    return Gauge(name, documentation, ["pool"], multiprocess_mode=mode)  # type: ignore[arg-type]


POOL_CONNECTIONS = _pool_gauge("fitsflow_db_pool_connections", "Connections open in the pool.")
POOL_MAX = _pool_gauge("fitsflow_db_pool_max_connections", "Most connections the pool may open.")
POOL_IN_USE = _pool_gauge("fitsflow_db_pool_in_use_connections", "Connections handed out now.")
POOL_WAITING = _pool_gauge(
    "fitsflow_db_pool_waiting_callers", "Callers waiting for a connection now."
)
POOL_WAIT_MAX = _pool_gauge(
    "fitsflow_db_pool_acquire_wait_max_seconds",
    "Longest wait for a connection since the process started.",
    mode="livemax",
)
POOL_ACQUIRED = Counter("fitsflow_db_pool_acquires_total", "Connections handed out.", ["pool"])
POOL_WAITED = Counter(
    "fitsflow_db_pool_acquire_wait_seconds_total",
    "Time spent waiting for a connection (divide by acquires for the mean).",
    ["pool"],
)
POOL_EXHAUSTED = Counter(
    "fitsflow_db_pool_exhausted_total",
    "Acquires that gave up after database.acquire_timeout (pool_exhausted).",
    ["pool"],
)
POOL_RECYCLED = Counter(
    "fitsflow_db_pool_recycled_total", "Connections replaced (age, idleness, failure).", ["pool"]
)
#: PoolStats field (summed over a name's pools) → the gauge that shows it.
_POOL_GAUGES: Final = {
    "size": POOL_CONNECTIONS,
    "max_size": POOL_MAX,
    "in_use": POOL_IN_USE,
    "waiting": POOL_WAITING,
    "acquire_wait_seconds_max": POOL_WAIT_MAX,
}
#: PoolStats field → the counter that follows it (by increments of the difference).
_POOL_TOTALS: Final = {
    "acquired_total": POOL_ACQUIRED,
    "acquire_wait_seconds_total": POOL_WAITED,
    "exhausted_total": POOL_EXHAUSTED,
    "recycled_total": POOL_RECYCLED,
}


@dataclass(slots=True)
class _TrackedPool:
    name: str
    database: weakref.ref[Database]
    #: The totals already added to the counters.
    last: dict[str, float]
    #: Its counters' children exist (shown at 0 from the first sync).
    touched: bool = False


_pools: list[_TrackedPool] = []
#: The pool gauges' values as last set, by pool name (see sync_pools).
_gauges_shown: dict[str, dict[str, float]] = {}
_pools_lock = threading.Lock()


def _forget_shown_gauges() -> None:
    # A forked child keeps its metrics in files of its own (multiprocess
    # mode): nothing the parent set is set there yet.
    _gauges_shown.clear()


os.register_at_fork(after_in_child=_forget_shown_gauges)


def track_pool(name: str, database: Database) -> None:
    """Report ``database``'s pool as ``pool=name`` from now on (held weakly).

    Several databases under one name (tests, a restarted runtime) add up.
    """
    with _pools_lock:
        _pools.append(_TrackedPool(name, weakref.ref(database), dict.fromkeys(_POOL_TOTALS, 0.0)))


def sync_pools() -> None:
    """Copy every tracked pool's statistics into the metrics.

    Cheap (no I/O): call it before rendering, and in worker processes after
    each message, whose metrics another process renders. A value that has not
    changed since it was last set is not set again: after every message that
    is most of them, and each ``labels().set()`` costs a lock and a lookup
    (a multiprocess value, a write to its file).
    """
    gauges: dict[str, dict[str, float]] = {}
    with _pools_lock:
        _pools[:] = [pool for pool in _pools if pool.database() is not None]
        for pool in _pools:
            database = pool.database()
            if database is not None:
                _sync_one(pool, database.stats(), gauges.setdefault(pool.name, {}))
        for name, values in gauges.items():
            shown = _gauges_shown.setdefault(name, {})
            for field, value in values.items():
                if shown.get(field) != value:
                    _POOL_GAUGES[field].labels(name).set(value)
                    shown[field] = value


def _sync_one(pool: _TrackedPool, stats: PoolStats, gauges: dict[str, float]) -> None:
    now = {
        "size": stats.size,
        "max_size": stats.max_size,
        "in_use": stats.in_use,
        "waiting": stats.waiting,
    }
    for field, value in now.items():
        gauges[field] = gauges.get(field, 0) + value
    peak = gauges.get("acquire_wait_seconds_max", 0.0)
    gauges["acquire_wait_seconds_max"] = max(peak, stats.acquire_wait_seconds_max)
    totals = {
        "acquired_total": stats.acquired_total,
        "acquire_wait_seconds_total": stats.acquire_wait_seconds_total,
        "exhausted_total": stats.exhausted_total,
        "recycled_total": stats.recycled_total,
    }
    for field, total in totals.items():
        # The adapter's totals only grow; the counter follows by the difference,
        # so it keeps counting across processes (multiprocess files) and pools.
        # Touching the child makes a pool's counters visible at 0 from the start.
        if total > pool.last[field] or not pool.touched:
            counter = _POOL_TOTALS[field].labels(pool.name)
            if total > pool.last[field]:
                counter.inc(total - pool.last[field])
        pool.last[field] = total
    pool.touched = True


# --- the watcher ------------------------------------------------------------------------

_watchers: weakref.WeakSet[Watcher] = weakref.WeakSet()


def track_watcher(watcher: Watcher) -> None:
    """Report ``watcher``'s counters at every scrape of this process (held weakly)."""
    _watchers.add(watcher)


class WatcherCollector(Collector):
    """The watchers' own counters, read at scrape time: nothing to increment on the
    watcher's hot paths, and the numbers are exactly :meth:`Watcher.stats`."""

    def collect(self) -> Iterator[Metric]:
        stats = [watcher.stats() for watcher in list(_watchers)]
        detected = CounterMetricFamily(
            "fitsflow_files_detected",
            "Files the watcher found complete and offered for admission, by why.",
            labels=["reason"],
        )
        by_reason: dict[str, int] = {}
        for snapshot in stats:
            for reason, count in snapshot.admitted_by_reason.items():
                by_reason[reason] = by_reason.get(reason, 0) + count
        for reason, count in sorted(by_reason.items()):
            detected.add_metric([reason], count)
        yield detected
        yield from _watcher_totals(stats)


_WATCHER_COUNTERS: Final = {
    "events": "Filesystem events received (after the event filter).",
    "overflows": "inotify event-queue overflows (each triggers a rescan).",
    "rescans": "Full rescans after the startup scan (periodic, overflow, requested).",
    "admit_failures": "Batches whose admission failed (offered again by a rescan).",
}


def _watcher_totals(snapshots: Sequence[WatcherStats]) -> Iterator[Metric]:
    totals = {
        "events": sum(snapshot.events for snapshot in snapshots),
        "overflows": sum(snapshot.overflows for snapshot in snapshots),
        "rescans": sum(snapshot.rescans for snapshot in snapshots),
        "admit_failures": sum(snapshot.admit_failures for snapshot in snapshots),
    }
    for name, documentation in _WATCHER_COUNTERS.items():
        yield CounterMetricFamily(f"fitsflow_watcher_{name}", documentation, value=totals[name])
    settling = sum(snapshot.tracked for snapshot in snapshots)
    yield GaugeMetricFamily(
        "fitsflow_watcher_settling_files", "Files waiting to settle.", value=settling
    )


REGISTRY.register(WatcherCollector())
