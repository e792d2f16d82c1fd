"""What benchmarks of the running services share: a scratch database, processes, memory.

- :func:`scratch_database`: a new PostgreSQL database on
  ``FITSFLOW_BENCH_POSTGRES``, migrated with ``fitsflow db upgrade`` and
  dropped when the stack closes;
- :class:`Catalogue`: blocking queries on it from the benchmark's own thread
  (one connection, one event loop of its own);
- :func:`start`: a ``fitsflow`` command as a real process, stopped (SIGTERM,
  then waited for) when the stack closes;
- :func:`memory_kib`: a process's resident set now and at its peak, from
  ``/proc`` (psutil is not a dependency);
- :class:`CpuClock`: where the machine's CPU time went over a run (the
  whole machine, given processes, a database's sessions);
- :func:`scrape`: a Prometheus endpoint's samples.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from prometheus_client.parser import text_string_to_metric_families

from pipeline.db import Database, open_database
from pipeline.settings import DatabaseSettings

__all__ = [
    "FITSFLOW",
    "POSTGRES_ADMIN",
    "REDIS",
    "Catalogue",
    "CpuClock",
    "Memory",
    "fitsflow_env",
    "free_port",
    "memory_kib",
    "scrape",
    "scratch_database",
    "start",
]

FITSFLOW = str(Path(sys.executable).with_name("fitsflow"))
POSTGRES_ADMIN = os.environ.get(
    "FITSFLOW_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS = os.environ.get("FITSFLOW_BENCH_REDIS", "redis://127.0.0.1:6379/0")


def _settings(url: str) -> DatabaseSettings:
    return DatabaseSettings(url=url, pool_min_size=0, pool_max_size=1, statement_timeout=3600)


class Catalogue:
    """Blocking statements on one database, for a benchmark's driver and samplers.

    Not thread-safe: one thread uses one Catalogue.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._loop = asyncio.new_event_loop()
        self._database: Database = open_database(_settings(url))
        self._loop.run_until_complete(self._database.connect())

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return self._loop.run_until_complete(self._database.execute(sql, dict(params or {})))

    def value(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._loop.run_until_complete(self._database.fetch_value(sql, dict(params or {})))

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Mapping[str, Any]]:
        return list(
            self._loop.run_until_complete(self._database.fetch_all(sql, dict(params or {})))
        )

    @property
    def database(self) -> Database:
        """The connected adapter, for coroutines run with :meth:`run`."""
        return self._database

    def run(self, work: Any) -> Any:
        """Run the coroutine ``work`` on this catalogue's loop."""
        return self._loop.run_until_complete(work)

    def close(self) -> None:
        self._loop.run_until_complete(self._database.close())
        self._loop.close()


def scratch_database(stack: ExitStack, prefix: str) -> str:
    """A new migrated database named ``<prefix>_<hex>``; dropped when ``stack`` closes."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = Catalogue(POSTGRES_ADMIN)
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()

    def drop() -> None:
        admin = Catalogue(POSTGRES_ADMIN)
        try:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            admin.close()

    stack.callback(drop)
    url = POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + name
    subprocess.run(
        [FITSFLOW, "db", "upgrade"], env=fitsflow_env(url), check=True, capture_output=True
    )
    return url


def fitsflow_env(database_url: str, **settings: str) -> dict[str, str]:
    """This environment minus any ``FITSFLOW_*``, plus the database and ``settings``.

    ``settings`` are ``FITSFLOW_`` variables without the prefix
    (``BROKER_URL="redis://…"``). Logs are warnings only unless asked otherwise.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITSFLOW_")}
    env["FITSFLOW_DATABASE_URL"] = database_url
    env["FITSFLOW_LOGGING_LEVEL"] = "WARNING"
    env.update({f"FITSFLOW_{key}": value for key, value in settings.items()})
    return env


def start(
    stack: ExitStack,
    args: list[str],
    env: Mapping[str, str],
    log: Path | None = None,
    *,
    pipe_stderr: bool = False,
    stop_seconds: float = 60.0,
) -> subprocess.Popen[bytes]:
    """``fitsflow ARGS`` as a process, output to ``log`` (or standard error to a pipe,
    which the caller reads to its end and closes).

    Stopped when ``stack`` closes: SIGTERM, as a service manager would, then
    waited for (killed after ``stop_seconds``).
    """
    sink: IO[bytes] | int = subprocess.DEVNULL
    if log is not None:
        sink = stack.enter_context(log.open("wb"))
    process = subprocess.Popen(
        [FITSFLOW, *args],
        env=dict(env),
        stdout=sink,
        stderr=subprocess.PIPE if pipe_stderr else sink,
    )

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(stop_seconds)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    stack.callback(stop)
    return process


@dataclass(frozen=True)
class Memory:
    """A process's resident set size now and its peak so far (KiB)."""

    rss_kib: int
    peak_kib: int


def memory_kib(pid: int) -> Memory | None:
    """``VmRSS`` and ``VmHWM`` of process ``pid``; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    if len(fields) < 2:
        return None  # a zombie has no memory lines
    return Memory(fields["VmRSS"], fields["VmHWM"])


_TICKS = os.sysconf("SC_CLK_TCK")


def _process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _machine_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine since boot, all cores."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return (total - idle) / _TICKS, total / _TICKS


class CpuClock:
    """CPU seconds spent from its creation to :meth:`stop`: by the machine, by
    ``pids`` (processes that live throughout) and by ``sessions()`` (processes
    that come and go, such as a database's server processes: each is read at
    every :meth:`sample`, so one that ends between samples loses only its
    last moments)."""

    def __init__(self, pids: list[int], sessions: Callable[[], list[int]]) -> None:
        self._sessions = sessions
        self._machine = _machine_seconds()
        self._processes = {pid: _process_cpu_seconds(pid) for pid in pids}
        self._session_start = {pid: _process_cpu_seconds(pid) for pid in sessions()}
        self._session_seen = dict(self._session_start)

    def sample(self) -> None:
        """Read the sessions' CPU time now."""
        for pid in self._sessions():
            spent = _process_cpu_seconds(pid)
            self._session_seen[pid] = max(self._session_seen.get(pid, 0.0), spent)

    def stop(self) -> dict[str, float]:
        """``busy_share`` of the machine's cores; ``processes`` and ``sessions`` CPU seconds."""
        self.sample()
        busy, total = (b - a for a, b in zip(self._machine, _machine_seconds(), strict=True))
        processes = sum(_process_cpu_seconds(p) - s for p, s in self._processes.items())
        sessions = sum(
            seen - self._session_start.get(pid, 0.0) for pid, seen in self._session_seen.items()
        )
        return {
            "busy_share": round(busy / total, 3) if total else 0.0,
            "processes_seconds": round(processes, 2),
            "sessions_seconds": round(sessions, 2),
        }


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(url: str, timeout: float = 5.0) -> dict[str, float]:
    """``name{labels}`` → value of every sample a Prometheus endpoint serves.

    Labels are written sorted, ``name{a="x",b="y"}``; a sample without labels
    is just its name.
    """
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        text = answer.read().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples
