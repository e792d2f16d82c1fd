"""The scanner: one thread for the startup scan, rescans and new directories.

Scans catch what events cannot report: files present before the watches
existed, files whose events the kernel dropped (an inotify queue overflow),
files written on another NFS client, files that landed in a new directory
before its watch was added. Requests are coalesced: a pending full rescan
absorbs pending directory scans, and requests made during a scan run after
it (events lost while it ran may concern parts it already walked).

A file found quiet (by its mtime) for ``settle_seconds`` plus
:data:`CLOCK_SKEW_ALLOWANCE_SECONDS` is admitted at once with reason
``scan``; a warmer one may still be written, so it goes to the dispatcher to
settle by two samples of its own.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final, Protocol

import structlog

from pipeline.watcher.dispatch import BATCH_SIZE, Dispatcher, Notice, NoticeKind
from pipeline.watcher.examine import Selection, examine
from pipeline.watcher.guard import guarded
from pipeline.watcher.model import Counters, Refusal, SeenFile, WatchRoot
from pipeline.watcher.outcomes import Outcomes
from pipeline.watcher.walk import walk_candidates

__all__ = ["CLOCK_SKEW_ALLOWANCE_SECONDS", "RootPresence", "Scanner"]

log = structlog.get_logger(__name__)

#: On a network filesystem mtimes come from the server's clock, which may lag
#: ours: a file modified this recently is settled by sampling, never judged
#: quiet by its mtime alone.
CLOCK_SKEW_ALLOWANCE_SECONDS: Final = 10.0


class RootPresence(Protocol):
    """Told by each full scan whether a root is there (to log, and to watch it again)."""

    def root_missing(self, root: WatchRoot) -> None: ...
    def root_present(self, root: WatchRoot) -> None: ...


class Scanner:
    """The thread behind :meth:`request_all` and :meth:`request_directory`."""

    def __init__(
        self,
        roots: Sequence[WatchRoot],
        selection: Selection,
        outcomes: Outcomes,
        dispatcher: Dispatcher,
        counters: Counters,
        presence: RootPresence,
        *,
        settle_seconds: float,
        rescan_interval_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._roots = tuple(roots)
        self._selection = selection
        self._outcomes = outcomes
        self._dispatcher = dispatcher
        self._counters = counters
        self._presence = presence
        self._quiet_ns = int((settle_seconds + CLOCK_SKEW_ALLOWANCE_SECONDS) * 1e9)
        self._interval = rescan_interval_seconds
        self._clock = clock
        self._wake = threading.Condition()
        self._full_reasons: set[str] = set()
        self._directories: dict[str, WatchRoot] = {}
        self._next_periodic: float | None = None
        self._scanning = False
        self._startup_done = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fitsflow-watcher-scan", daemon=True)

    def start(self) -> None:
        """Start the thread; it waits for requests (the caller asks for the startup scan)."""
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Abandon any scan in progress (between entries) and end the thread."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def busy(self) -> bool:
        """Whether a scan runs or is pending (periodic rescans not counted)."""
        with self._wake:
            return self._scanning or bool(self._full_reasons or self._directories)

    def request_all(self, reason: str) -> None:
        """Scan every root as soon as the thread is free."""
        with self._wake:
            self._full_reasons.add(reason)
            self._wake.notify_all()

    def request_directory(self, path: str, root: WatchRoot) -> None:
        """Scan the tree below ``path`` (a directory that appeared under ``root``)."""
        with self._wake:
            self._directories[path] = root
            self._wake.notify_all()

    def _run(self) -> None:
        while guarded(self._step, "scan") is not False:
            pass

    def _step(self) -> bool:
        work = self._next_work()
        if work is None:
            return False
        reason, directories = work
        try:
            if reason:
                self._scan_all(reason)
            for path, root in directories:
                self._scan_directory(path, root)
        finally:
            with self._wake:
                self._scanning = False
        return True

    def _next_work(self) -> tuple[str, list[tuple[str, WatchRoot]]] | None:
        with self._wake:
            while not self._stopping.is_set():
                now = self._clock()
                if self._next_periodic is not None and now >= self._next_periodic:
                    self._full_reasons.add("periodic")
                if self._full_reasons or self._directories:
                    return self._claim_work(now)
                wait = None if self._next_periodic is None else self._next_periodic - now
                self._wake.wait(wait)
            return None

    def _claim_work(self, now: float) -> tuple[str, list[tuple[str, WatchRoot]]]:
        reason = "+".join(sorted(self._full_reasons))
        # A full scan covers every pending directory.
        directories = [] if reason else list(self._directories.items())
        self._full_reasons.clear()
        self._directories.clear()
        if reason and self._interval > 0:
            self._next_periodic = now + self._interval
        self._scanning = True
        return reason, directories

    def _scan_all(self, reason: str) -> None:
        startup = not self._startup_done
        if not startup:
            self._counters.add("rescans")
        started = self._clock()
        log.info("scan started", reason=reason, roots=len(self._roots))
        tally = _Tally()
        for root in self._roots:
            if not os.path.isdir(root.text):
                self._presence.root_missing(root)
                continue
            self._presence.root_present(root)
            self._walk(root.text, root, tally)
        if self._stopping.is_set():
            return
        self._startup_done = True
        self._counters.add("scans_completed")
        log.info(
            "scan finished",
            reason=reason,
            seconds=round(self._clock() - started, 3),
            offered=tally.offered,
            settling=tally.settling,
        )

    def _scan_directory(self, path: str, root: WatchRoot) -> None:
        if not self._selection.wants_directory(path, root):
            return
        if self._selection.patterns.wants(os.path.basename(path)):
            # A directory named like a FITS file: refused (and still descended).
            refusal = examine(path, root, "scan")
            if isinstance(refusal, Refusal):
                self._outcomes.refuse(refusal)
        self._walk(path, root, _Tally())

    def _walk(self, top: str, root: WatchRoot, tally: _Tally) -> None:
        batch: list[SeenFile] = []
        for path, status in walk_candidates(top, self._selection.patterns, self._stopping.is_set):
            examined = examine(path, root, "scan", status)
            if isinstance(examined, Refusal):
                self._outcomes.refuse(examined)
            elif examined is not None and not self._outcomes.already_admitted(
                path, examined.size, examined.mtime_ns
            ):
                self._offer(examined, root, batch, tally)
            if len(batch) >= BATCH_SIZE:
                self._outcomes.admit(batch)
                batch = []
        if batch:
            self._outcomes.admit(batch)

    def _offer(self, seen: SeenFile, root: WatchRoot, batch: list[SeenFile], tally: _Tally) -> None:
        if time.time_ns() - seen.mtime_ns < self._quiet_ns:
            # Modified recently: it may still be written.
            self._dispatcher.notify(Notice(NoticeKind.CHANGED, seen.path, root))
            tally.settling += 1
        else:
            batch.append(seen)
            tally.offered += 1


class _Tally:
    """What one scan found, for its log line."""

    __slots__ = ("offered", "settling")

    def __init__(self) -> None:
        self.offered = 0
        self.settling = 0
