"""Reading files in helper processes, a group of files per hand-off.

In ``fitsflow run`` one interpreter holds the event loop, SQLite's thread,
the watcher and Dramatiq's threads; reading and extracting in its threads
took about a third of the interpreter's lock a file, and every other thread
queued behind it. Here a few processes of their own read and extract (all of
``parse_file``: their rows already JSON text) and send back rows that cost
~10 µs a file to receive. Groups come from :class:`ParseGroups`, as they do
for threads: one hand-off for many files.

A reader process that dies (killed, out of memory, a crash in compiled code on
some hostile file) fails only the files it held, as the transient
``ReaderCrashed``: they are read again, by a new process, on their next try.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import structlog

from pipeline.errors import FitsflowError, InternalError, ReaderCrashed
from pipeline.ingest.parse import ParsedFile, observe_timings, parse_file_timed
from pipeline.ingest.parsing import Outcome, refused
from pipeline.settings import ReaderSettings

__all__ = ["ReaderProcesses"]

log = structlog.get_logger(__name__)

#: How often a reader process checks that its parent is alive.
ORPHAN_CHECK_SECONDS = 0.5

Roots = Sequence[Path] | None
#: What a reader process sends back per file: the rows or the error, and the
#: phases' seconds (see parse_file_timed).
Returned = tuple[ParsedFile | None, FitsflowError | None, list[float]]


class ReaderProcesses:
    """``count`` reader processes, started at once, made anew when one dies."""

    def __init__(self, count: int, limits: ReaderSettings) -> None:
        if count < 1:
            raise ValueError("at least one reader process")
        self._count = count
        self._limits = limits
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    def start(self) -> None:
        """Start every process now (each imports the reader: ~0.7 s of CPU)."""
        pool = self._current_pool()
        for _ in range(self._count):
            pool.submit(_ready)

    async def read_group(self, files: Sequence[tuple[str, Roots]]) -> list[Outcome[ParsedFile]]:
        """Each file's rows or error, in order (one file's error is its own).

        Raises ``ReadingRefused`` once closed (also for a read that
        ``close()`` interrupted), ``ReaderCrashed`` when the process holding
        the group died.
        """
        loop = asyncio.get_running_loop()
        try:
            pool = self._current_pool()
            try:
                work = loop.run_in_executor(pool, _read_group, list(files), self._limits)
            except BrokenProcessPool:  # a process died while idle: start anew
                self._forget(pool)
                pool = self._current_pool()
                work = loop.run_in_executor(pool, _read_group, list(files), self._limits)
        except RuntimeError as error:  # shut down
            raise refused(error) from error
        try:
            returned = await work
        except BrokenProcessPool as error:
            if self._closed:  # close() stopped the processes: not a crash
                raise refused(error) from error
            self._forget(pool)
            raise ReaderCrashed(
                "a reader process died while reading this file or one read with it",
                details={"files_in_group": len(files)},
            ) from error
        outcomes: list[Outcome[ParsedFile]] = []
        for (path, _), (parsed, failure, timings) in zip(files, returned, strict=True):
            observe_timings(timings)
            if isinstance(failure, InternalError):
                log.error("unexpected error while reading", path=path, detail=failure.__notes__)
            outcomes.append((parsed, failure))
        return outcomes

    def close(self) -> None:
        """Stop the processes, without waiting for a read that hangs."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # A process stuck on a hung mount would hold shutdown(wait=True) for
        # ever: the processes are stopped instead, which breaks the pool and
        # ends every read in progress or queued with BrokenProcessPool (not
        # cancelled: a cancelled read would cancel its job's task).
        processes = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False)
        for process in processes:
            process.terminate()

    def _current_pool(self) -> ProcessPoolExecutor:
        if self._closed:
            raise RuntimeError("the reader processes are closed")
        if self._pool is None:
            # spawn, not fork: the parent runs threads (SQLite's, Dramatiq's,
            # the watcher's) whose locks a forked child would inherit held.
            self._pool = ProcessPoolExecutor(
                self._count,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_reader,
                initargs=(os.getpid(),),
            )
        return self._pool

    def _forget(self, pool: ProcessPoolExecutor) -> None:
        """A broken pool takes no more work: the next group starts a new one."""
        if self._pool is pool:
            self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            if not self._closed:
                self.start()


def _start_reader(parent: int) -> None:
    """In each reader process, before its first group; ``parent``: the pid
    that started it (which may have died already while this one started)."""
    # Ctrl-C reaches the terminal's whole process group; the parent stops
    # its readers itself, after its jobs have let go of their files.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A parent killed outright (SIGKILL, OOM) cannot stop its readers, and
    # they would wait on their queue for ever: they leave once orphaned.
    threading.Thread(target=_leave_when_orphaned, args=(parent,), daemon=True).start()


def _leave_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os._exit(0)


def _ready() -> None:
    """Nothing: submitted once per process so that each starts at once."""


def _read_group(files: list[tuple[str, Roots]], limits: ReaderSettings) -> list[Returned]:
    """In a reader process: every file's rows or error."""
    returned: list[Returned] = []
    for path, roots in files:
        timings: list[float] = []
        try:
            parsed = parse_file_timed(path, limits, roots, timings)
        except FitsflowError as error:
            returned.append((None, _portable(error), timings))
        except Exception as error:  # noqa: BLE001 - the per-file boundary, as in a thread
            unexpected = InternalError(
                f"unexpected {type(error).__name__} while reading: {error}",
                details={"exception": type(error).__name__},
            )
            unexpected.add_note(traceback.format_exc())
            returned.append((None, unexpected, timings))
        else:
            returned.append((parsed, None, timings))
    return returned


def _portable(error: FitsflowError) -> FitsflowError:
    """``error``, or the same error with its details as text if it would not
    cross back: a result that fails to unpickle would break the whole pool."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 - whatever in its details refuses pickling
        return type(error)(error.message, details={k: str(v) for k, v in error.details.items()})
    return error
