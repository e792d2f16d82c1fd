"""``fitsflow worker``: Dramatiq's own ``workers`` CLI, under fitsflow's logging and metrics.

``fitsflow worker`` turns its flags into ``FITSFLOW_*`` variables and replaces
itself (exec) with ``python -m pipeline.cli.dramatiq_workers``, which sets up
fitsflow's logging and hands over to ``dramatiq.cli.main`` with
``--skip-logging``. So Dramatiq's parent process logs through the same
renderer as everything else (JSON lines in a service), and its worker
processes, forks of it, inherit that set-up; each worker process's output
still travels through Dramatiq's pipe to the parent's standard error.

With ``metrics.worker_port`` set, the worker processes of this host keep their
metrics in files in one directory (prometheus_client's multiprocess mode,
chosen from ``PROMETHEUS_MULTIPROC_DIR`` when prometheus_client is first
imported — which is why the variable is set here, before the exec, in a
fresh interpreter). The directory is emptied first so one run's totals do not
add to the last one's; :class:`workers.metrics.WorkerMetrics` serves the sum.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from pipeline.settings import Settings

__all__ = ["exec_workers", "main", "multiprocess_dir_for", "queue_prefetch"]


def multiprocess_dir_for(settings: Settings) -> Path:
    """``metrics.multiprocess_dir``, or ``<tmp>/fitsflow-metrics-<uid>-<port>``.

    Keyed by the port, which one ``fitsflow worker`` per host holds: a restart
    reuses (and empties) its directory instead of leaving one per run.
    """
    configured = settings.metrics.multiprocess_dir
    if configured is not None:
        return Path(configured)
    name = f"fitsflow-metrics-{os.getuid()}-{settings.metrics.worker_port}"
    return Path(tempfile.gettempdir()) / name


def queue_prefetch(threads: int, bundle_size: int) -> int:
    """Messages a worker process may hold: as many files as Dramatiq's default
    (twice its threads) would hold at a file a message.

    Dramatiq counts messages; with a burst's files several to a message its
    default would let one process take ``bundle_size`` times as many files,
    most of a burst, while another process idles.
    """
    return max(2, -(-2 * threads // max(1, bundle_size)))


def _empty(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def exec_workers(settings: Settings, config: Path | None) -> None:
    """Replace this process with Dramatiq's workers for ``settings`` (never returns)."""
    environment = dict(os.environ)
    environment["FITSFLOW_DATABASE_URL"] = settings.database.url
    environment["FITSFLOW_BROKER_URL"] = settings.broker.url
    # The flag's priority, for the pool (pipeline.priority.database_at): the
    # scheduling policy itself is inherited.
    environment["FITSFLOW_WORKER_PRIORITY"] = settings.worker.priority.value
    if config is not None:
        environment["FITSFLOW_CONFIG"] = str(config.resolve())
    # Read by Dramatiq when its worker module is imported; an operator's own wins.
    prefetch = queue_prefetch(settings.worker.threads, settings.broker.bundle_size)
    environment.setdefault("dramatiq_queue_prefetch", str(prefetch))
    if settings.metrics.worker_port is not None:
        directory = multiprocess_dir_for(settings)
        _empty(directory)
        environment["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
        environment["FITSFLOW_METRICS_MULTIPROCESS_DIR"] = str(directory)
    command = [
        sys.executable, "-m", __name__, "workers",
        "--processes", str(settings.worker.processes),
        "--threads", str(settings.worker.threads),
        "--queues", settings.broker.queue,
        "--skip-logging",
    ]  # fmt: skip
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, command, environment)


def main() -> int:
    """Dramatiq's CLI with fitsflow's logging configured from the settings."""
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    from pipeline.logs import configure_logging
    from pipeline.settings import load_settings

    settings = load_settings()
    configure_logging(settings.logging.level, settings.logging.format)
    arguments = make_argument_parser().parse_args()  # type: ignore[no-untyped-call]
    return int(dramatiq_main(arguments) or 0)  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    sys.exit(main())
