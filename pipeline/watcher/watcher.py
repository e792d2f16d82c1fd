"""The watcher: notices files in watched roots and admits the complete ones.

Threads, and why each exists::

    watchdog (inotify)   reader of the inotify descriptor, one emitter per
                         root, the observer thread calling our handlers
    watchdog (polling)   one emitter per root, the observer thread
    dispatch             examines noticed paths, admits or refuses them, and
                         settles files no close event completed
    scan                 the startup scan, periodic and overflow rescans,
                         scans of new directories

Handlers only queue work, so a slow ``admit`` never stalls the inotify reader.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import structlog
from watchdog.events import FileSystemEventHandler
from watchdog.observers.api import BaseObserver

from pipeline.errors import ValidationError
from pipeline.ingest.candidates import NamePatterns
from pipeline.settings import FilesSettings, WatchSettings
from pipeline.watcher.dispatch import Dispatcher
from pipeline.watcher.events import RootEventHandler
from pipeline.watcher.examine import Selection
from pipeline.watcher.model import Admit, Counters, Refuse, WatcherStats, WatchRoot
from pipeline.watcher.observe import Observation
from pipeline.watcher.outcomes import DEFAULT_MEMORY, Outcomes
from pipeline.watcher.scan import Scanner

__all__ = ["Watcher"]

log = structlog.get_logger(__name__)


class Watcher:
    """Watches ``roots`` and hands complete files to ``admit`` in batches.

    A file is complete when it is closed after writing, renamed into a root,
    or unchanged (size and mtime) for ``watch.settle_seconds``. Paths that
    resolve outside their root, FIFOs, devices, sockets and directories named
    like candidates go to ``refuse`` instead, once per distinct state. Both
    callbacks are called from the watcher's threads. Roots must exist when
    the watcher is built (ValidationError naming the root otherwise).

    ``memory`` bounds how many recently admitted paths are remembered to
    avoid offering an unchanged file twice (the database dedupes the rest).
    """

    def __init__(
        self,
        roots: Sequence[str | Path],
        watch: WatchSettings,
        files: FilesSettings,
        admit: Admit,
        refuse: Refuse,
        *,
        memory: int = DEFAULT_MEMORY,
    ) -> None:
        self._roots = _resolve_roots(roots)
        self._counters = Counters()
        selection = Selection(NamePatterns(files))
        outcomes = Outcomes(admit, refuse, self._counters, memory)
        self._dispatcher = Dispatcher(watch.settle_seconds, selection, outcomes, self._counters)
        self._observation = Observation(self._roots, watch, self._handler_for, self._overflowed)
        self._scanner = Scanner(
            self._roots,
            selection,
            outcomes,
            self._dispatcher,
            self._counters,
            self._observation,
            settle_seconds=watch.settle_seconds,
            rescan_interval_seconds=watch.rescan_interval_seconds,
        )
        self._polling = watch.polling
        self._started = False

    @property
    def roots(self) -> tuple[Path, ...]:
        """The resolved roots, in the order given."""
        return tuple(root.path for root in self._roots)

    @property
    def observer(self) -> BaseObserver | None:
        """The watchdog observer (inotify or polling) once started, for diagnostics and tests."""
        return self._observation.observer

    def start(self) -> None:
        """Watch every root, then scan every root (a file dropped meanwhile has an event)."""
        if self._started:
            raise RuntimeError("a Watcher is started once")
        self._started = True
        self._dispatcher.start()
        self._scanner.start()
        try:
            self._observation.start()
        except BaseException:
            self._scanner.stop(1.0)
            self._dispatcher.stop(1.0)
            raise
        log.info("watching", roots=[r.text for r in self._roots], polling=self._polling)
        self._scanner.request_all("startup")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching and join every thread started, within ``timeout`` seconds overall.

        Events already queued are still handled; files still settling are
        not (the next startup scan finds them).
        """
        deadline = time.monotonic() + timeout
        self._observation.stop(_left(deadline))
        self._scanner.stop(_left(deadline))
        self._dispatcher.stop(_left(deadline))
        log.info("watcher stopped", **_loggable(self.stats()))

    def request_rescan(self, reason: str) -> None:
        """Scan every root again as soon as possible (e.g. an operator's request)."""
        self._scanner.request_all(reason)

    def stats(self) -> WatcherStats:
        """The counters as they are now."""
        return self._counters.snapshot()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued, scanning or settling; False if ``timeout`` passed.

        For tests and one-shot runs; a busy directory may never be idle.
        """
        deadline = time.monotonic() + timeout
        while self._scanner.busy() or self._dispatcher.busy():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def __enter__(self) -> Watcher:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _handler_for(self, root: WatchRoot) -> FileSystemEventHandler:
        return RootEventHandler(
            root,
            self._dispatcher.notify,
            self._scanner.request_directory,
            self._observation.root_gone,
            self._counters,
        )

    def _overflowed(self) -> None:
        self._counters.add("overflows")
        log.warning("inotify event queue overflowed; rescanning every root")
        self._scanner.request_all("overflow")


def _resolve_roots(roots: Sequence[str | Path]) -> tuple[WatchRoot, ...]:
    if not roots:
        raise ValidationError(
            "no directory to watch (setting watch.roots)", details={"setting": "watch.roots"}
        )
    resolved: dict[Path, WatchRoot] = {}
    for given in roots:
        path = Path(os.path.abspath(given)).resolve()
        if not path.is_dir():
            raise ValidationError(
                f"watch root {given} does not exist or is not a directory (setting watch.roots)",
                details={"setting": "watch.roots", "root": str(given)},
            )
        resolved.setdefault(path, WatchRoot.of(path))
    return tuple(resolved.values())


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _loggable(stats: WatcherStats) -> dict[str, object]:
    return {
        "events": stats.events,
        "admitted": stats.admitted,
        "refused": stats.refused,
        "overflows": stats.overflows,
        "rescans": stats.rescans,
    }
