"""`--priority idle` (``worker.priority``): a backfill that leaves the CPU to
everything else — the real commands, checked from the outside.

`fitsflow ingest` and `fitsflow worker` must run under Linux's ``SCHED_IDLE``,
and so must the processes they start (the reader processes, Dramatiq's worker
processes), which inherit it only if it is applied before they exist.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.catalogue import write_fits
from tests.support.databases import ONLY_SQLITE
from tests.support.processes import FitsflowProcess, fitsflow_env, wait_for_workers
from tests.support.servers import private_redis_url

__all__ = ["private_redis_url"]  # a fixture, imported to be found

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")


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
    for index in range(3):
        write_fits(tmp_path / "files" / f"image-{index}.fits", index)
    env = fitsflow_env(migrated_database_url, FITSFLOW_READER_PROCESSES="1")
    args = ["ingest", str(tmp_path / "files"), "--json", *flag]
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
