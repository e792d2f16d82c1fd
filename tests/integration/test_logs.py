"""Log lines as operators' log shippers see them: JSON, one object a line, and every
line about a job naming its job id and path — fitsflow's own lines and the
lines Dramatiq and uvicorn write through the standard library alike.

The lines are read from the standard error of real processes
(``FITSFLOW_LOGGING_FORMAT=json``): ``fitsflow run`` ingesting good, bad and
truncated files (the truncated one is retried, so Dramatiq logs about it), and
``fitsflow worker``, whose Dramatiq parent process logs too.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.catalogue import write_fits
from tests.support.databases import ONLY_POSTGRESQL
from tests.support.processes import FitsflowProcess, fitsflow_env, wait_for_catalogue
from tests.support.servers import free_port, private_redis

pytestmark = pytest.mark.slow

#: Retries within a second or two; a truncated file fails after 2 s of being untouched.
RETRY_FAST = {
    "FITSFLOW_WORKER_INCOMPLETE_GRACE_SECONDS": "2",
    "FITSFLOW_WORKER_MIN_BACKOFF_SECONDS": "0.2",
    "FITSFLOW_WORKER_MAX_BACKOFF_SECONDS": "0.5",
}


def json_lines(log: Path) -> list[dict[str, Any]]:
    """Every line of ``log`` as a JSON object; fails on the first line that is not one."""
    lines = []
    for number, text in enumerate(log.read_text().splitlines(), 1):
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            raise AssertionError(f"{log.name}:{number} is not JSON: {text!r}") from None
        assert isinstance(line, dict), f"{log.name}:{number} is not an object: {text!r}"
        assert {"event", "level", "timestamp"} <= set(line), f"{log.name}:{number}: {text!r}"
        lines.append(line)
    return lines


def _latest_job(port: int, path: Path) -> dict[str, Any] | None:
    url = f"http://127.0.0.1:{port}/files?path={path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            job: dict[str, Any] | None = json.load(answer)["latest_job"]
            return job
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def wait_final(run: FitsflowProcess, port: int, paths: list[Path], seconds: float = 60) -> dict:
    """path → its latest job, once every path's latest job is succeeded or failed."""
    deadline = time.monotonic() + seconds
    jobs: dict[Path, dict[str, Any] | None] = {}
    while time.monotonic() < deadline:
        run.require_alive()
        jobs = {path: _latest_job(port, path) for path in paths}
        if all(job and job["state"] in ("succeeded", "failed") for job in jobs.values()):
            return jobs
        time.sleep(0.1)
    raise AssertionError(f"jobs did not finish: {jobs}\n{run.tail()}")


def assert_job_lines_name_job_and_path(lines: list[dict[str, Any]], jobs: dict) -> None:
    """Every line about one of ``jobs`` (by id or by path) carries both, consistently."""
    path_of = {job["id"]: job["path"] for job in jobs.values()}
    id_of = {job["path"]: job["id"] for job in jobs.values()}
    about = [line for line in lines if line.get("job_id") in path_of or line.get("path") in id_of]
    assert about, "no line mentions a job"
    for line in about:
        assert "job_id" in line and "path" in line, line
        assert path_of.get(line["job_id"]) == line["path"], line


def test_a_jobs_lines_are_json_and_carry_job_id_and_path(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    port = free_port()
    # The cut file must be read first while it may still be being written, so
    # that it is retried: a grace of a few seconds, as the first reads can
    # wait ~2 s for the reader process to start on a loaded machine.
    grace = {"FITSFLOW_WORKER_INCOMPLETE_GRACE_SECONDS": "6"}
    env = fitsflow_env(f"sqlite:///{tmp_path / 'fitsflow.db'}", **{**RETRY_FAST, **grace})
    log = tmp_path / "run.log"
    run = FitsflowProcess(["run", "--watch", str(root), "--port", str(port)], env, log).start()
    try:
        run.wait_http(f"http://127.0.0.1:{port}/health")
        paths = [write_fits(root / f"good{index}.fits", index) for index in range(3)]
        bad = root / "page.fits"
        bad.write_bytes(b"<!DOCTYPE html><html>404</html>\n")
        truncated = root / "cut.fits"
        truncated.write_bytes(write_fits(tmp_path / "whole.fits", 9).read_bytes()[:4000])
        jobs = wait_final(run, port, [*paths, bad, truncated])
    finally:
        assert run.stop() == 0
    assert jobs[truncated]["error_code"] == "truncated" and jobs[bad]["error_code"] == "not_fits"
    lines = json_lines(log)
    assert_job_lines_name_job_and_path(lines, jobs)
    # Dramatiq's own lines about the retried job got the job's context too.
    retried = [line for line in lines if str(line.get("logger", "")).startswith("dramatiq")]
    about_cut = [line for line in retried if line.get("path") == str(truncated)]
    assert about_cut and all(line["job_id"] == jobs[truncated]["id"] for line in about_cut)
    # ... and uvicorn's, through the same renderer.
    assert any(str(line.get("logger", "")).startswith("uvicorn") for line in lines)
    # Outside a job, nothing is bound: the context does not leak onto later lines.
    assert "job_id" not in lines[-1] and "path" not in lines[-1]


@pytest.mark.redis
@ONLY_POSTGRESQL
def test_worker_processes_and_their_dramatiq_parent_log_json(
    migrated_database_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    with private_redis() as redis:
        env = fitsflow_env(migrated_database_url, redis.url)
        worker = FitsflowProcess(
            ["worker", "--processes", "2", "--threads", "2"], env, tmp_path / "worker.log"
        ).start()
        watch = FitsflowProcess(["watch", "--watch", str(root)], env, tmp_path / "watch.log")
        watch.start()
        try:
            watch.wait_log('"watching"')
            for index in range(10):
                write_fits(root / f"image{index}.fits", index)
            wait_for_catalogue(migrated_database_url, 10, 60, watch=[worker, watch])
        finally:
            watch.stop()
            assert worker.stop() == 0
    lines = json_lines(tmp_path / "worker.log")
    loggers = {str(line.get("logger", "")) for line in lines}
    assert "dramatiq.MainProcess" in loggers  # the parent, not only the workers
    assert any(name.startswith("dramatiq.WorkerProcess") for name in loggers)
    succeeded = [line for line in lines if line["event"] == "job succeeded"]
    assert len(succeeded) == 10
    assert all(isinstance(line["job_id"], int) and line["path"] for line in succeeded)
    json_lines(tmp_path / "watch.log")
