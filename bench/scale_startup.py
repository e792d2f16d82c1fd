"""The watcher's start-up scan over a directory whose every file is already recorded.

The files are empty-looking stand-ins (sparse, 2,880 bytes, one fixed mtime
a day old): the scan never opens a file, it lists directories, ``lstat``\\ s
every name the patterns want and asks the database which ``(path, size,
mtime)`` are new. The database is filled beforehand, as after the files were
ingested: a current product and a succeeded job per file, with the same
path, size and mtime (bulk ``INSERT … SELECT`` on the server, secondary
indexes dropped and rebuilt, ``VACUUM ANALYZE``). Then ``fitsflow watch``
starts on the directory with JSON logs; the scan's own figure is the
``seconds`` of its ``scan finished`` line, and the process's peak resident
set (``VmHWM``) is read once that line is out.

Baselines from the same run: the bare walk (``os.scandir`` + ``lstat`` of
every entry, in this process) for the time, and the same command watching an
empty directory for the memory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bench.services import REDIS, Catalogue, fitsflow_env, memory_kib, start

__all__ = ["FILE_SIZE", "Startup", "fill_recorded", "make_tree", "remove_tree", "watch_startup"]

FILE_SIZE: Final = 2880
FILES_PER_DIRECTORY: Final = 1000
#: One mtime for every file: a day before the run, so the scan finds them
#: quiet and offers them at once instead of settling them.
_DAY_NS: Final = 86_400 * 10**9

_PATH_SQL = (
    "CAST(:root AS text) || '/d' || lpad((g / 1000)::text, 4, '0')"
    " || '/f' || lpad(g::text, 7, '0') || '.fits'"
)
PRODUCTS_SQL = f"""
INSERT INTO products (id, sha256, path, size, mtime_ns, version, is_current, compression,
    hdu_count, checksum_status, warnings, created_at, updated_at)
SELECT g + 1, md5(g::text) || md5((-g)::text), {_PATH_SQL}, {FILE_SIZE},
       CAST(:mtime_ns AS bigint), 1, true, 'none', 1, 'absent', '[]'::jsonb, now(), now()
FROM generate_series(0, CAST(:files AS integer) - 1) AS g
"""
JOBS_SQL = """
INSERT INTO jobs (id, path, size, mtime_ns, state, outcome, source, attempts, product_id,
    created_at, updated_at, enqueued_at, started_at, finished_at, worker)
SELECT id, path, size, mtime_ns, 'succeeded', 'created', 'watch', 1, id,
       now(), now(), now(), now(), now(), 'bench'
FROM products
"""
SEQUENCES_SQL = [
    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
    for table in ("products", "jobs")
]
_SECONDARY_INDEXES_SQL = """
SELECT i.indexname, i.indexdef FROM pg_indexes AS i
WHERE i.schemaname = current_schema() AND i.tablename IN ('products', 'jobs')
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conname = i.indexname)
"""


def file_path(root: Path, index: int) -> str:
    """The path of file ``index`` under ``root`` (what :data:`_PATH_SQL` builds)."""
    return f"{root}/d{index // FILES_PER_DIRECTORY:04d}/f{index:07d}.fits"


def make_tree(root: Path, files: int) -> int:
    """``files`` sparse files under ``root``, all with one mtime; returns that mtime (ns)."""
    mtime_ns = time.time_ns() - _DAY_NS
    for index in range(files):
        if index % FILES_PER_DIRECTORY == 0:
            (root / f"d{index // FILES_PER_DIRECTORY:04d}").mkdir(parents=True)
        descriptor = os.open(file_path(root, index), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.ftruncate(descriptor, FILE_SIZE)
            os.utime(descriptor, ns=(mtime_ns, mtime_ns))
        finally:
            os.close(descriptor)
    return mtime_ns


def remove_tree(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)


def fill_recorded(catalogue: Catalogue, root: Path, files: int, mtime_ns: int) -> None:
    """A current product and a succeeded job for each file :func:`make_tree` wrote."""
    indexes = catalogue.rows(_SECONDARY_INDEXES_SQL)
    for index in indexes:
        catalogue.execute(f'DROP INDEX "{index["indexname"]}"')
    params = {"root": str(root), "files": files, "mtime_ns": mtime_ns}
    catalogue.execute(PRODUCTS_SQL, params)
    catalogue.execute(JOBS_SQL)
    for sql in SEQUENCES_SQL:
        catalogue.value(sql)
    for index in indexes:
        catalogue.execute(str(index["indexdef"]))
    catalogue.execute("VACUUM ANALYZE")


def bare_walk(root: Path) -> tuple[float, int]:
    """Seconds to list ``root``'s tree and ``lstat`` every file: the floor of any scan."""
    started = time.perf_counter()
    found = 0
    pending = [str(root)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                else:
                    entry.stat(follow_symlinks=False)
                    found += 1
    return time.perf_counter() - started, found


@dataclass(frozen=True)
class Startup:
    """One ``fitsflow watch`` start-up."""

    files: int
    scan_seconds: float
    """What the ``scan finished`` line says."""
    ready_seconds: float
    """Process start → ``scan finished`` line read (imports, connecting, the scan)."""
    offered: int
    """Files the scan offered for admission (the database then judged them)."""
    admitted: int
    """Jobs the scan added (0: every file was recognised as recorded)."""
    peak_kib: int
    """The process's peak resident set once the scan finished."""
    rss_kib: int
    """Its resident set then."""


def watch_startup(
    catalogue: Catalogue, root: Path, files: int, queue: str, log: Path, timeout: float = 900
) -> Startup:
    """Start ``fitsflow watch`` on ``root`` and wait for its start-up scan to finish."""
    jobs_before = int(catalogue.value("SELECT count(*) FROM jobs"))
    env = fitsflow_env(
        catalogue.url,
        BROKER_URL=REDIS,
        BROKER_QUEUE=queue,
        LOGGING_LEVEL="INFO",
        LOGGING_FORMAT="json",
    )
    with ExitStack() as stack:
        started = time.monotonic()
        watcher = start(stack, ["watch", "--watch", str(root)], env, pipe_stderr=True)
        finished = _scan_finished(watcher, log, timeout)
        ready = time.monotonic() - started
        memory = memory_kib(watcher.pid)
        if memory is None:
            raise SystemExit("fitsflow watch exited during its start-up scan")
    admitted = int(catalogue.value("SELECT count(*) FROM jobs")) - jobs_before
    return Startup(
        files,
        float(finished["seconds"]),
        round(ready, 2),
        int(finished["offered"]),
        admitted,
        memory.peak_kib,
        memory.rss_kib,
    )


def _scan_finished(watcher: subprocess.Popen[bytes], log: Path, timeout: float) -> dict[str, Any]:
    """The start-up scan's ``scan finished`` line, read from the watcher's JSON logs.

    A thread copies every line to ``log`` and keeps draining the pipe after
    (a full pipe would stall the watcher).
    """
    assert watcher.stderr is not None
    stream = watcher.stderr
    found: list[dict[str, Any]] = []
    done = threading.Event()

    def read() -> None:
        with stream, log.open("wb") as sink:
            for line in stream:
                sink.write(line)
                if not done.is_set() and b"scan finished" in line:
                    event = json.loads(line)
                    if event.get("event") == "scan finished" and event.get("reason") == "startup":
                        found.append(event)
                        done.set()
        done.set()

    reader = threading.Thread(target=read, name="watch-log", daemon=True)
    reader.start()
    if not done.wait(timeout):
        raise SystemExit(f"the start-up scan did not finish within {timeout:.0f} s (see {log})")
    if not found:
        raise SystemExit(f"fitsflow watch exited before its start-up scan finished (see {log})")
    return found[0]
