"""From watchdog events to the watcher's notices.

Only the events the watcher acts on are subscribed (watchdog's
``event_filter``, which also narrows the inotify mask): every event type
subscribed costs room in the kernel's bounded queue during a burst. Handlers
run on watchdog's observer thread and do no I/O: they route each event to
the dispatcher's queue or the scanner's requests and return.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import Final

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)

from pipeline.watcher.dispatch import Notice, NoticeKind
from pipeline.watcher.guard import guarded
from pipeline.watcher.model import Counters, WatchRoot

__all__ = ["INOTIFY_EVENTS", "POLLING_EVENTS", "RootEventHandler"]

_COMMON: Final[list[type[FileSystemEvent]]] = [
    FileCreatedEvent,  # settle a file no close event will complete (a hard link, a stalled writer)
    FileMovedEvent,  # a rename into the root: complete at once
    DirCreatedEvent,  # scan a new directory: files may land before its watch exists
    DirMovedEvent,  # a directory renamed into the root arrives with its files
    DirDeletedEvent,  # only the root's own removal (see QuietDeleteEmitter)
]
#: inotify: the close-after-write event completes most files.
INOTIFY_EVENTS: Final[list[type[FileSystemEvent]]] = [FileClosedEvent, *_COMMON]
#: Polling: no close events; a rewritten file shows as modified and settles again.
POLLING_EVENTS: Final[list[type[FileSystemEvent]]] = [FileModifiedEvent, *_COMMON]


class RootEventHandler(FileSystemEventHandler):
    """Routes the events of one root's watch."""

    def __init__(
        self,
        root: WatchRoot,
        notify: Callable[[Notice], None],
        scan_directory: Callable[[str, WatchRoot], None],
        root_gone: Callable[[WatchRoot], None],
        counters: Counters,
    ) -> None:
        self._root = root
        self._notify = notify
        self._scan_directory = scan_directory
        self._root_gone = root_gone
        self._counters = counters

    def dispatch(self, event: FileSystemEvent) -> None:
        """Route ``event``; never raises (that would end watchdog's observer thread)."""
        guarded(partial(self._route, event), "observer")

    def _route(self, event: FileSystemEvent) -> None:
        self._counters.add("events")
        source = os.fsdecode(event.src_path)
        destination = os.fsdecode(event.dest_path)
        if event.is_directory:
            self._route_directory(event, source, destination)
        elif isinstance(event, FileClosedEvent):
            self._notify(Notice(NoticeKind.CLOSED, source, self._root))
        elif isinstance(event, FileMovedEvent):
            if destination:  # empty: moved out of the watched tree
                self._notify(Notice(NoticeKind.MOVED_IN, destination, self._root))
        else:
            self._notify(Notice(NoticeKind.CHANGED, source, self._root))

    def _route_directory(self, event: FileSystemEvent, source: str, destination: str) -> None:
        if isinstance(event, DirDeletedEvent):
            if source == self._root.text:
                self._root_gone(self._root)
            return
        target = destination if isinstance(event, DirMovedEvent) else source
        if target and target != self._root.text:
            self._scan_directory(target, self._root)
