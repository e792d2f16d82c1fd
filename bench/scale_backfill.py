"""A backfill through ``fitsflow worker`` processes, watched from outside.

One *run*: the catalogue emptied, ``fitsflow worker --processes N`` started
(PostgreSQL + Redis, its metrics endpoint on), ``fitsflow scan ROOT`` as a
backfill batch, and until every job ended, every ``interval`` seconds a
:class:`Sample`: jobs ended so far, the resident set of each worker process
(the pids the workers record in their heartbeat rows, read from ``/proc``)
and the pool statistics the workers expose on their metrics endpoint.

The files are small 2-D images from :mod:`pipeline.samples`, written once
into a scratch directory: ``head/`` holds the first ones (the throughput
runs scan it), ``tail/`` the rest (the long backfill scans both).
"""

from __future__ import annotations

import http.client
import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from bench.services import (
    REDIS,
    Catalogue,
    CpuClock,
    fitsflow_env,
    free_port,
    memory_kib,
    scrape,
    start,
)
from pipeline.samples import SampleKind, rng_for, sample_bytes

__all__ = ["Run", "Sample", "empty_catalogue", "forget_queue", "ingest_run", "write_corpus"]

SEED: Final = 4242
FILES_PER_DIRECTORY: Final = 1000

#: Pool statistics read from the worker metrics endpoint (``pool="worker"``,
#: summed over the worker processes by prometheus_client's multiprocess mode).
POOL_METRICS: Final = {
    "size": "fitsflow_db_pool_connections",
    "max_size": "fitsflow_db_pool_max_connections",
    "in_use": "fitsflow_db_pool_in_use_connections",
    "waiting": "fitsflow_db_pool_waiting_callers",
    "acquire_wait_max_seconds": "fitsflow_db_pool_acquire_wait_max_seconds",
    "acquires": "fitsflow_db_pool_acquires_total",
    "acquire_wait_seconds_total": "fitsflow_db_pool_acquire_wait_seconds_total",
    "exhausted": "fitsflow_db_pool_exhausted_total",
}

_ENDED_SQL = "SELECT count(*) FROM jobs WHERE state IN ('succeeded', 'failed')"
_FAILED_SQL = "SELECT count(*) FROM jobs WHERE state = 'failed'"
_SPAN_SQL = (
    "SELECT count(*) AS jobs, min(created_at) AS first_admitted, max(finished_at) AS last_ended"
    " FROM jobs"
)
_WORKER_PIDS_SQL = "SELECT pid FROM workers"
_TABLES_SQL = (
    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    " AND tablename <> 'alembic_version'"
)


def write_corpus(directory: Path, files: int, head: int) -> tuple[Path, Path]:
    """``files`` distinct small images under ``directory``; returns (head root, whole root).

    The first ``head`` files go below ``head/``, the others below ``tail/``,
    :data:`FILES_PER_DIRECTORY` to a directory (nightly directories).
    """
    for index in range(files):
        part, number = ("head", index) if index < head else ("tail", index - head)
        folder = directory / part / f"d{number // FILES_PER_DIRECTORY:04d}"
        if number % FILES_PER_DIRECTORY == 0:
            folder.mkdir(parents=True, exist_ok=True)
        data = sample_bytes(index, SampleKind.IMAGE, rng_for(SEED, index))
        (folder / f"img-{index:07d}.fits").write_bytes(data)
    return directory / "head", directory


def empty_catalogue(catalogue: Catalogue) -> None:
    """Every table but Alembic's emptied, identities restarted."""
    tables = [str(row["tablename"]) for row in catalogue.rows(_TABLES_SQL)]
    catalogue.execute(
        "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
    )


@dataclass(frozen=True)
class Sample:
    """The workers at one moment of a run."""

    seconds: float
    """Since the scan started."""
    ended: int
    """Jobs succeeded or failed so far."""
    rss_kib: int
    """Resident set, summed over the worker processes."""
    peak_kib: int
    """Each worker process's peak resident set so far (``VmHWM``), summed."""
    rss_by_process_kib: tuple[int, ...]
    pool: dict[str, float]


@dataclass
class Run:
    """What one run measured."""

    processes: int
    files: int
    failed: int
    seconds: float
    """First job admitted → last job ended (database time stamps)."""
    files_per_second: float
    cpu: dict[str, float] = field(default_factory=dict)
    """From the scan's start to the last job ended: the machine's busy share,
    worker and PostgreSQL CPU milliseconds per file."""
    samples: list[Sample] = field(default_factory=list)

    def as_json(self, with_samples: bool) -> dict[str, Any]:
        data = asdict(self)
        if not with_samples:
            del data["samples"]
        return data


def ingest_run(
    catalogue: Catalogue,
    root: Path,
    files: int,
    processes: int,
    scratch: Path,
    queue: str,
    *,
    interval: float,
    say: Callable[[str], None] = print,
) -> Run:
    """Backfill ``root`` (``files`` files) through ``processes`` worker processes."""
    empty_catalogue(catalogue)
    port = free_port()
    env = fitsflow_env(
        catalogue.url,
        BROKER_URL=REDIS,
        BROKER_QUEUE=queue,
        METRICS_WORKER_PORT=str(port),
        METRICS_MULTIPROCESS_DIR=str(scratch / "metrics"),
    )
    logs = scratch / "logs"
    logs.mkdir(exist_ok=True)
    with ExitStack() as stack:
        log = logs / f"worker-{processes}p-{files}.log"
        workers = start(stack, ["worker", "--processes", str(processes)], env, log)
        pids = _wait_for_workers(catalogue, workers, processes, log)
        _wait_for_endpoint(workers, port, log)
        clock = CpuClock(pids, lambda: _sessions(catalogue))
        scan = start(
            stack, ["scan", str(root), "--no-wait"], env, logs / f"scan-{processes}p-{files}.log"
        )
        samples = _follow(catalogue, workers, scan, pids, files, port, interval, say, log, clock)
        used = clock.stop()
    span = catalogue.rows(_SPAN_SQL)[0]
    seconds = (span["last_ended"] - span["first_admitted"]).total_seconds()
    return Run(
        processes,
        int(span["jobs"]),
        int(catalogue.value(_FAILED_SQL)),
        round(seconds, 2),
        round(files / seconds, 1),
        {
            "machine_busy_share": used["busy_share"],
            "worker_ms_per_file": round(used["processes_seconds"] * 1000 / files, 2),
            "postgres_ms_per_file": round(used["sessions_seconds"] * 1000 / files, 2),
        },
        samples,
    )


def _wait_for_workers(
    catalogue: Catalogue,
    workers: subprocess.Popen[bytes],
    processes: int,
    log: Path,
    timeout: float = 120,
) -> list[int]:
    """The pids of the worker processes once each has recorded its heartbeat."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if workers.poll() is not None:
            raise SystemExit(_exited(workers, log))
        pids = [int(row["pid"]) for row in catalogue.rows(_WORKER_PIDS_SQL)]
        alive = [pid for pid in pids if memory_kib(pid) is not None]
        if len(alive) >= processes:
            return sorted(alive)
        time.sleep(0.1)
    raise SystemExit(f"{processes} worker processes did not start within {timeout:.0f} s")


def _wait_for_endpoint(
    workers: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 60
) -> None:
    """Once the workers are up Dramatiq starts the metrics fork: wait until it answers."""
    deadline = time.monotonic() + timeout
    while True:
        if workers.poll() is not None:
            raise SystemExit(_exited(workers, log))
        try:
            _pool(port)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def _follow(
    catalogue: Catalogue,
    workers: subprocess.Popen[bytes],
    scan: subprocess.Popen[bytes],
    pids: list[int],
    files: int,
    port: int,
    interval: float,
    say: Callable[[str], None],
    log: Path,
    clock: CpuClock,
) -> list[Sample]:
    """Samples every ``interval`` seconds until ``files`` jobs ended (and the scan exited)."""
    started = time.monotonic()
    # Generous: a tenth of the slowest rate anyone would call working.
    deadline = started + 120 + files / 10
    samples: list[Sample] = []
    next_report = started + 30
    while True:
        ended = int(catalogue.value(_ENDED_SQL))
        samples.append(_sample(time.monotonic() - started, ended, pids, port))
        clock.sample()
        if ended >= files and scan.poll() is not None:
            break
        if workers.poll() is not None:
            raise SystemExit(_exited(workers, log))
        if scan.poll() not in (None, 0):
            raise SystemExit(f"fitsflow scan exited with status {scan.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"only {ended} of {files} files ingested in {deadline - started} s")
        if time.monotonic() >= next_report:
            latest = samples[-1]
            say(f"  {ended:,}/{files:,} files, workers {latest.rss_kib / 1024:.0f} MiB")
            next_report += 30
        time.sleep(interval)
    return samples


_SESSIONS_SQL = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    " AND pid <> pg_backend_pid()"
)


def _sessions(catalogue: Catalogue) -> list[int]:
    """The server processes of the benchmark's database but its own."""
    return [int(row["pid"]) for row in catalogue.rows(_SESSIONS_SQL)]


def _exited(workers: subprocess.Popen[bytes], log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()[-20:]
    return f"fitsflow worker exited with status {workers.returncode}:\n" + "\n".join(lines)


def _sample(seconds: float, ended: int, pids: list[int], port: int) -> Sample:
    memories = [memory_kib(pid) for pid in pids]
    present = [m for m in memories if m is not None]
    if len(present) < len(pids):
        raise SystemExit("a worker process died during the run")
    return Sample(
        round(seconds, 2),
        ended,
        sum(m.rss_kib for m in present),
        sum(m.peak_kib for m in present),
        tuple(m.rss_kib for m in present),
        _pool(port),
    )


#: Tries of one scrape of the worker metrics endpoint, a fifth of a second apart.
SCRAPE_TRIES = 5


def _pool(port: int) -> dict[str, float]:
    """The worker pool's statistics as the endpoint serves them now.

    A scrape that fails (the endpoint reading the files of a worker process
    that is starting or stopping) is tried again: the figures are cumulative,
    so one lost sample would zero them.
    """
    for attempt in range(1, SCRAPE_TRIES + 1):
        try:
            served = scrape(f"http://127.0.0.1:{port}/metrics")
            break
        except (OSError, http.client.HTTPException):
            if attempt == SCRAPE_TRIES:
                raise
            time.sleep(0.2)
    return {
        name: served.get(f'{metric}{{pool="worker"}}', 0.0) for name, metric in POOL_METRICS.items()
    }


def forget_queue(queue: str) -> None:
    """Delete the Redis keys of ``queue`` (a benchmark's own, empty by now)."""
    import redis

    client = redis.Redis.from_url(REDIS)
    try:
        keys = list(client.scan_iter(match=f"dramatiq:*{queue}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
