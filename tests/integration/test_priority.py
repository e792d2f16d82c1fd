"""`--priority idle` (``worker.priority``): a backfill that leaves the CPU to
everything else — the real commands, checked from the outside.

`fitsflow ingest` and `fitsflow worker` must run under Linux's ``SCHED_IDLE``,
and so must the processes they start (the reader processes, Dramatiq's worker
processes), which inherit it only if it is applied before they exist. Beside
a PostgreSQL server on the same host, they also hold their database work to
one connection: the server's backends do not inherit the policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.catalogue import write_fits
from tests.support.databases import ONLY_POSTGRESQL, ONLY_SQLITE, _run_isolated, opened_database
from tests.support.processes import (
    FITSFLOW,
    FitsflowProcess,
    fitsflow_env,
    wait_for_catalogue,
    wait_for_workers,
)
from tests.support.servers import private_redis_url

__all__ = ["private_redis_url"]  # a fixture, imported to be found

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")


def _images(directory: Path, count: int) -> Path:
    """``directory`` with ``count`` distinct images in it."""
    for index in range(count):
        write_fits(directory / f"image-{index}.fits", index)
    return directory


def _ingest_reporting_policies(args: list[str], env: dict[str, str]) -> dict[str, object]:
    """`fitsflow ingest ARGS` run in a fresh interpreter that, at the end, reports
    its own scheduling policy and its reader processes' (caught as they start)."""
    script = f"""
import json, multiprocessing, os, sys
seen = []
start = multiprocessing.process.BaseProcess.start
def recording(self):
    start(self)
    seen.append(os.sched_getscheduler(self.pid))
multiprocessing.process.BaseProcess.start = recording
from pipeline.cli.app import app
try:
    app({args!r})
except SystemExit as end:
    code = end.code
print(json.dumps({{"code": code, "own": os.sched_getscheduler(0), "readers": seen}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# SQLite only: the priority is the process's; the backend changes nothing.
@ONLY_SQLITE
@pytest.mark.parametrize(
    ("flag", "policy"), [(["--priority", "idle"], "SCHED_IDLE"), ([], "SCHED_OTHER")]
)
def test_ingest_and_its_reader_processes_run_at_the_priority_asked(
    flag: list[str], policy: str, migrated_database_url: str, tmp_path: Path
) -> None:
    files = _images(tmp_path / "files", 3)
    env = fitsflow_env(migrated_database_url, FITSFLOW_READER_PROCESSES="1")
    args = ["ingest", str(files), "--json", *flag]
    seen = _ingest_reporting_policies(args, env)
    expected = getattr(os, policy)
    assert seen["code"] in (0, None) and seen["own"] == expected
    assert seen["readers"] and set(seen["readers"]) == {expected}  # type: ignore[arg-type]


@ONLY_SQLITE
def test_the_setting_does_it_without_the_flag(migrated_database_url: str, tmp_path: Path) -> None:
    write_fits(tmp_path / "files" / "image.fits")
    env = fitsflow_env(migrated_database_url, FITSFLOW_WORKER_PRIORITY="idle")
    seen = _ingest_reporting_policies(["ingest", str(tmp_path / "files")], env)
    assert seen["own"] == os.SCHED_IDLE


@ONLY_SQLITE
def test_worker_and_its_dramatiq_processes_run_idle(
    migrated_database_url: str, private_redis_url: str, tmp_path: Path
) -> None:
    env = fitsflow_env(migrated_database_url, private_redis_url)
    worker = FitsflowProcess(
        ["worker", "--processes", "2", "--threads", "1", "--priority", "idle"],
        env,
        tmp_path / "worker.log",
    ).start()
    try:
        wait_for_workers(migrated_database_url, 2, worker)
        children = worker.children()
        assert children, worker.tail()
        # The exec kept it (same pid, now Dramatiq's parent); its forks inherited it.
        assert {os.sched_getscheduler(pid) for pid in [worker.pid, *children]} == {os.SCHED_IDLE}
    finally:
        worker.interrupt()


# fitsflow's own connections to the test database (its pool names them), not this one.
_FITSFLOW_CONNECTIONS = """
SELECT count(*) FROM pg_stat_activity
 WHERE datname = current_database() AND application_name = 'fitsflow'
   AND pid <> pg_backend_pid()
"""


async def _most_connections_during(args: list[str], env: dict[str, str], url: str) -> int:
    """Run ``fitsflow ARGS`` to its end; the most connections it held at once
    to the database at ``url``, sampled every few milliseconds."""
    async with opened_database(url, pool_min_size=1, pool_max_size=1) as database:
        command = await asyncio.create_subprocess_exec(
            FITSFLOW, *args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        most = 0
        while command.returncode is None:
            most = max(most, int(await database.fetch_value(_FITSFLOW_CONNECTIONS)))
            await asyncio.sleep(0.002)
        _, error = await command.communicate()
        assert command.returncode == 0, error.decode()
        return most


# The control (normal priority) shows that the files are enough for ingest
# to open a second connection, so the single one at idle is the priority's doing.
@ONLY_POSTGRESQL
@pytest.mark.parametrize(("flag", "idle"), [(["--priority", "idle"], True), ([], False)])
def test_ingest_at_idle_holds_a_local_postgresql_to_one_connection(
    flag: list[str], idle: bool, migrated_database_url: str, tmp_path: Path
) -> None:
    files = _images(tmp_path / "files", 400)
    env = fitsflow_env(migrated_database_url, FITSFLOW_READER_PROCESSES="1")
    args = ["ingest", str(files), *flag]
    most = _run_isolated(_most_connections_during(args, env, migrated_database_url))
    assert most == 1 if idle else most > 1


def _connections_to(port: int, pid: int) -> int:
    """Established TCP connections from process ``pid`` to ``port`` (its
    sockets in ``/proc/PID/fd``, their peers in ``/proc/net/tcp*``)."""
    sockets = set()
    for descriptor in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(descriptor)
        except OSError:  # closed since the listing
            continue
        if target.startswith("socket:["):
            sockets.add(target[len("socket:[") : -1])
    found = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port, state, inode = int(fields[2].rsplit(":", 1)[1], 16), fields[3], fields[9]
            found += remote_port == port and state == "01" and inode in sockets  # 01: established
    return found


@ONLY_POSTGRESQL
@pytest.mark.parametrize(("flag", "idle"), [(["--priority", "idle"], True), ([], False)])
def test_worker_processes_at_idle_each_hold_a_local_postgresql_to_one_connection(
    flag: list[str],
    idle: bool,
    migrated_database_url: str,
    private_redis_url: str,
    tmp_path: Path,
) -> None:
    files = 300
    root = _images(tmp_path / "root", files)
    env = fitsflow_env(migrated_database_url, private_redis_url)
    port = urlsplit(migrated_database_url).port or 5432
    args = ["worker", "--processes", "2", "--threads", "4", *flag]
    worker = FitsflowProcess(args, env, tmp_path / "worker.log").start()
    watcher = FitsflowProcess(["watch", "--watch", str(root)], env, tmp_path / "w.log")
    most: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:  # each Dramatiq worker process's connections, as they work
        while not done.is_set():
            for pid in worker.children():
                with contextlib.suppress(OSError):  # a process just gone
                    most[pid] = max(most.get(pid, 0), _connections_to(port, pid))
            done.wait(0.002)

    sampler = threading.Thread(target=sample)
    try:
        wait_for_workers(migrated_database_url, 2, worker)
        sampler.start()
        watcher.start()
        facts = wait_for_catalogue(migrated_database_url, files, 120, watch=[worker, watcher])
    finally:
        done.set()
        watcher.interrupt()
        worker.interrupt()
    sampler.join()
    assert facts["states"] == {"succeeded": files}
    assert len(most) == 2, most
    assert set(most.values()) == {1} if idle else max(most.values()) > 1, most
