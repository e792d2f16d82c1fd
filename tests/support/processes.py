"""fitsflow commands running as real processes, and waiting on what they record.

The end-to-end tests drive the same commands an operator runs (``fitsflow
run``, ``watch``, ``worker``), with settings shortened through ``FITSFLOW_*``
variables so that settle windows, reconciliation and redelivery happen in
seconds instead of minutes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support.databases import _run_isolated, opened_database

__all__ = [
    "FAST_SETTINGS",
    "FitsflowProcess",
    "catalogue_facts",
    "fitsflow_env",
    "wait_for_catalogue",
]

FITSFLOW = str(Path(sys.executable).with_name("fitsflow"))

#: Seconds instead of minutes, so faults resolve within a test.
FAST_SETTINGS: dict[str, str] = {
    "FITSFLOW_WATCH_SETTLE_SECONDS": "0.5",
    "FITSFLOW_WATCH_RESCAN_INTERVAL_SECONDS": "20",
    "FITSFLOW_RECONCILER_INTERVAL_SECONDS": "1",
    "FITSFLOW_RECONCILER_STALE_AFTER_SECONDS": "4",
    "FITSFLOW_RECONCILER_LEASE_SECONDS": "20",
    "FITSFLOW_BROKER_HEARTBEAT_TIMEOUT_SECONDS": "3",
    "FITSFLOW_WORKER_MIN_BACKOFF_SECONDS": "0.2",
    "FITSFLOW_WORKER_MAX_BACKOFF_SECONDS": "2",
    "FITSFLOW_WORKER_MAX_RETRIES": "60",
    "FITSFLOW_WORKER_THREADS": "4",
    "FITSFLOW_DATABASE_BUSY_RETRY_SECONDS": "20",
    "FITSFLOW_DATABASE_CONNECT_TIMEOUT": "3",
    "FITSFLOW_DATABASE_ACQUIRE_TIMEOUT": "5",
    "FITSFLOW_LOGGING_FORMAT": "json",
}


def fitsflow_env(database_url: str, broker_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment for a fitsflow process: only FITSFLOW_* from here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITSFLOW_")}
    env.update(FAST_SETTINGS)
    env["FITSFLOW_DATABASE_URL"] = database_url
    if broker_url is not None:
        env["FITSFLOW_BROKER_URL"] = broker_url
    env.update(extra)
    return env


def processes_gone(pids: list[int], seconds: float = 10.0) -> bool:
    """Whether every one of ``pids`` has exited within ``seconds`` (a zombie
    nobody reaps counts as exited: it runs nothing)."""
    deadline = time.monotonic() + seconds
    while True:
        if all(_exited(pid) for pid in pids):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _exited(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


class FitsflowProcess:
    """One ``fitsflow`` command in its own process group, logging to a file."""

    def __init__(
        self, args: list[str], env: Mapping[str, str], log: Path, *, python: bool = False
    ) -> None:
        #: ``python=True``: ``args`` are for the interpreter (``-m dramatiq …``).
        self.program = sys.executable if python else FITSFLOW
        self.args = args
        self.env = dict(env)
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> FitsflowProcess:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [self.program, *self.args],
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def children(self) -> list[int]:
        """Direct child processes (dramatiq's worker processes under `fitsflow worker`)."""
        found = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True)
        return [int(pid) for pid in found.stdout.split()]

    def kill(self) -> None:
        """SIGKILL the whole process group: no clean-up of any kind."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(30)

    def stop(self, timeout: float = 60) -> int:
        """SIGINT (Ctrl-C) and wait; returns the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"{self.args[0]} did not stop within {timeout}s") from None
        return int(self.process.returncode)

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C at a terminal: SIGINT to the whole process group; the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.pid, signal.SIGINT)
        return self.stop(timeout)

    def wait_http(self, url: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.require_alive()
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"{url} did not answer within {seconds}s; log:\n{self.tail()}")

    def wait_log(self, text: str, seconds: float = 60) -> None:
        """Wait until the process has logged a line containing ``text``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.require_alive()
            if text in self.log.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.args[0]} never logged {text!r}; log:\n{self.tail()}")

    def require_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"fitsflow {self.args[0]} exited with {self.process.returncode}:\n{self.tail()}"
            )

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


async def _facts(database_url: str) -> dict[str, Any]:
    async with opened_database(database_url) as database:
        states = await database.fetch_all("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
        products = await database.fetch_value("SELECT COUNT(*) FROM products")
        current = await database.fetch_value("SELECT COUNT(*) FROM products WHERE is_current")
        distinct = await database.fetch_value("SELECT COUNT(DISTINCT sha256) FROM products")
        paths = await database.fetch_all("SELECT path FROM products WHERE is_current")
        workers = await database.fetch_value("SELECT COUNT(DISTINCT worker) FROM jobs")
        failed = await database.fetch_all(
            "SELECT path, error_code FROM jobs WHERE state = 'failed' ORDER BY id"
        )
    return {
        "states": {str(row["state"]): int(row["n"]) for row in states},
        "products": int(products),
        "current": int(current),
        "distinct_contents": int(distinct),
        "current_paths": {str(row["path"]) for row in paths},
        "failed": [(str(row["path"]), str(row["error_code"])) for row in failed],
        "workers": int(workers or 0),
    }


def catalogue_facts(database_url: str) -> dict[str, Any]:
    """Counts that the guarantees are stated in, read through fitsflow's adapter."""
    return _run_isolated(_facts(database_url))


def wait_for_catalogue(
    database_url: str,
    products: int,
    seconds: float,
    watch: list[FitsflowProcess] | None = None,
    current_paths: set[str] | None = None,
) -> dict[str, Any]:
    """Wait until ``products`` are current (at ``current_paths``, if given) and
    no job is unfinished."""
    deadline = time.monotonic() + seconds
    facts: dict[str, Any] = {}
    while time.monotonic() < deadline:
        for process in watch or []:
            process.require_alive()
        facts = catalogue_facts(database_url)
        unfinished = sum(facts["states"].get(s, 0) for s in ("queued", "running", "retrying"))
        placed = current_paths is None or facts["current_paths"] == current_paths
        if facts["current"] >= products and unfinished == 0 and placed:
            return facts
        time.sleep(0.5)
    logs = "\n---\n".join(p.tail() for p in watch or [])
    summary = {k: v for k, v in facts.items() if k != "current_paths"}
    raise AssertionError(f"catalogue did not settle in {seconds}s: {summary}\n{logs}")


async def _registered_workers(database_url: str) -> int:
    async with opened_database(database_url) as database:
        rows = await database.fetch_all("SELECT id FROM workers")
    return len(rows)


def wait_for_workers(database_url: str, count: int, process: FitsflowProcess) -> None:
    """Wait until ``count`` worker processes have booted (their heartbeat rows)."""
    deadline = time.monotonic() + 60
    while (found := _run_isolated(_registered_workers(database_url))) < count:
        process.require_alive()
        assert time.monotonic() < deadline, f"{found} of {count} worker processes booted"
        time.sleep(0.2)
