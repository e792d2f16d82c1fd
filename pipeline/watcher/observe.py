"""The watchdog observer and one watch per root, kept alive as roots come and go.

inotify by default; with ``watch.polling`` a polling observer, for NFS,
Lustre and CIFS mounts where the kernel sees no events for writes made on
other hosts. A root whose directory disappears stops its watch (watchdog
ends the emitter); the next full scan that finds the directory again
schedules a fresh watch.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence

import structlog
from watchdog.events import FileSystemEventHandler
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from pipeline.errors import ValidationError
from pipeline.settings import WatchSettings
from pipeline.watcher.events import INOTIFY_EVENTS, POLLING_EVENTS
from pipeline.watcher.inotify import OverflowReportingObserver
from pipeline.watcher.model import WatchRoot

__all__ = ["Observation"]

log = structlog.get_logger(__name__)


class Observation:
    """Schedules every root on one observer; implements the scanner's ``RootPresence``."""

    def __init__(
        self,
        roots: Sequence[WatchRoot],
        settings: WatchSettings,
        handler_for: Callable[[WatchRoot], FileSystemEventHandler],
        on_overflow: Callable[[], None],
    ) -> None:
        self._roots = tuple(roots)
        self._settings = settings
        self._handler_for = handler_for
        self._lock = threading.Lock()
        self._watches: dict[WatchRoot, ObservedWatch] = {}
        self._handlers: dict[WatchRoot, FileSystemEventHandler] = {}
        self._absent: set[WatchRoot] = set()
        self._on_overflow = on_overflow
        self.observer: BaseObserver | None = None

    def start(self) -> None:
        """Watch every root; the watches are in place when this returns.

        ValidationError naming the root if one cannot be watched (gone since
        the watcher was built, or the inotify watch limit was reached).
        """
        self._require_roots()
        observer = self.observer = (
            PollingObserver(timeout=self._settings.poll_interval_seconds)
            if self._settings.polling
            else OverflowReportingObserver(self._on_overflow)
        )
        for root in self._roots:
            self._handlers[root] = self._handler_for(root)
            self._schedule(observer, root)
        try:
            observer.start()  # starts each emitter, which adds its inotify watches
        except OSError as error:
            self.stop(timeout=1.0)
            raise ValidationError(
                f"cannot watch the roots {[r.text for r in self._roots]}: {error} (setting "
                "watch.roots; for many directories raise fs.inotify.max_user_watches or set "
                "watch.polling)",
                details={"setting": "watch.roots", "error": str(error)},
            ) from error

    def stop(self, timeout: float) -> None:
        """Stop the observer and join its threads (emitters, inotify reader)."""
        if self.observer is None:
            return
        self.observer.stop()
        if self.observer.is_alive():
            self.observer.join(timeout)

    def _require_roots(self) -> None:
        for root in self._roots:
            if not os.path.isdir(root.text):
                raise ValidationError(
                    f"watch root {root.text} does not exist or is not a directory "
                    "(setting watch.roots)",
                    details={"setting": "watch.roots", "root": root.text},
                )

    def root_gone(self, root: WatchRoot) -> None:
        """The root's watch reported the directory removed: its watch has ended."""
        with self._lock:
            if root in self._absent:
                return
            self._absent.add(root)
        log.warning("watched root disappeared; watching the other roots", root=root.text)

    def root_missing(self, root: WatchRoot) -> None:
        """A scan did not find the root (logged once until it is back)."""
        self.root_gone(root)

    def root_present(self, root: WatchRoot) -> None:
        """A scan found the root: if it had gone, watch it again."""
        with self._lock:
            if root not in self._absent:
                return
            self._absent.discard(root)
        try:
            self._reschedule(root)
        except OSError as error:
            with self._lock:
                self._absent.add(root)
            log.warning(
                "watched root is back but cannot be watched", root=root.text, error=str(error)
            )
            return
        log.info("watched root is back; watching it again", root=root.text)

    def _schedule(self, observer: BaseObserver, root: WatchRoot) -> None:
        self._watches[root] = observer.schedule(
            self._handlers[root],
            root.text,
            recursive=self._settings.recursive,
            event_filter=POLLING_EVENTS if self._settings.polling else INOTIFY_EVENTS,
        )

    def _reschedule(self, root: WatchRoot) -> None:
        observer = self.observer
        if observer is None:
            return  # not started (or start failed): nothing to watch again
        old = self._watches.pop(root, None)
        if old is not None:
            with contextlib.suppress(KeyError):  # watchdog already dropped it
                observer.unschedule(old)
        self._schedule(observer, root)
