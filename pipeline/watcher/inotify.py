"""An inotify observer that tells its owner when the kernel dropped events.

When the kernel's inotify queue (``fs.inotify.max_queued_events``, 16,384
here) fills, it drops events and queues one ``IN_Q_OVERFLOW``. watchdog 7
handles that inside ``InotifyFD.handle_event``: its watch groups discard
pending move events, re-add their recursive watches and a warning is logged —
the application is told nothing, and the files whose events were lost are
never reported. :class:`OverflowReportingInotifyFD` calls ``on_overflow``
once per overflow, *after* watchdog has re-added its watches, so a rescan
started from it also covers files created while the watches were rebuilt.

The emitter is watchdog's "full events" emitter, so a file renamed into a
root from outside it arrives as a ``FileMovedEvent`` (not as a creation) and
is admitted at once; and it asks the kernel for no ``IN_DELETE`` — see
:meth:`QuietDeleteEmitter.get_event_mask_from_filter`.

Its watch groups pair a rename's two halves through
:class:`IndexedMoveEventGrouper`: watchdog's own grouper finds a waiting
``IN_MOVED_FROM`` by scanning every event queued behind the emitter, twice per
``IN_MOVED_TO``, so a burst of files renamed into a root — the way ``rsync``
and many acquisition programs deliver — costs time quadratic in the backlog.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from watchdog.observers.api import DEFAULT_OBSERVER_TIMEOUT, BaseObserver
from watchdog.observers.inotify import InotifyFullEmitter, InotifyWatchGroup
from watchdog.observers.inotify_c import InotifyConstants, InotifyEvent, InotifyFD, Mask
from watchdog.observers.inotify_move_event_grouper import (
    GroupedInotifyEvent,
    InotifyMoveEventGrouper,
    PathedInotifyEvent,
)

__all__ = [
    "IndexedMoveEventGrouper",
    "OverflowReportingInotifyFD",
    "OverflowReportingObserver",
    "QuietDeleteEmitter",
]


class IndexedMoveEventGrouper(InotifyMoveEventGrouper):
    """watchdog's move-event grouper with its waiting ``IN_MOVED_FROM`` events
    indexed by cookie.

    The events, their order, the 0.5 s a lone ``IN_MOVED_FROM`` waits for its
    ``IN_MOVED_TO`` and the pairs are watchdog's; only the look-ups differ.
    watchdog scans its whole queue for the cookie, twice per ``IN_MOVED_TO``
    — on every file renamed in from outside the root too, which has no
    ``IN_MOVED_FROM`` to find — so when a burst of renames backs the queue up
    behind a busy emitter thread, each event costs time in proportion to the
    backlog: 10,000 files renamed into a root took 3–5 s of CPU in some runs
    instead of ~1 s (docs/benchmarks.md). Here a look-up is one dict access,
    and only a real pair searches the queue (to take its first half out).

    Thread safety as watchdog's: :meth:`put_event` runs on the inotify reader
    thread (under its watch group's lock), :meth:`read_event` on the emitter's;
    the index is a dict whose single operations the interpreter makes atomic.
    """

    def __init__(self) -> None:
        super().__init__()
        self._moved_from: dict[int, PathedInotifyEvent] = {}

    def put_event(self, event: PathedInotifyEvent) -> None:
        """Queue ``event``; an ``IN_MOVED_TO`` goes with its waiting ``IN_MOVED_FROM``."""
        if event.ev.is_moved_from:
            self._moved_from[event.ev.cookie] = event
            self._queue.put(event, delay=True)
            return
        if event.ev.is_moved_to:
            source = self._moved_from.pop(event.ev.cookie, None)
            # None from remove(): the emitter took the source out meanwhile, as
            # a move out of the tree — then this half goes alone, as in watchdog.
            if source is not None and self._queue.remove(lambda e: e is source) is not None:
                self._queue.put((source, event))
                return
        self._queue.put(event)

    def read_event(self) -> GroupedInotifyEvent | None:
        """The next event (or pair) from watchdog's queue, dropped from the index."""
        event = super().read_event()
        if isinstance(event, PathedInotifyEvent) and event.ev.is_moved_from:
            self._moved_from.pop(event.ev.cookie, None)  # a cookie names one rename
        return event

    def get_queued_moved_from_event(self, cookie: int) -> PathedInotifyEvent | None:
        """The waiting ``IN_MOVED_FROM`` with ``cookie``, left in place."""
        return self._moved_from.get(cookie)

    def discard_pending_events(self) -> None:
        """Drop every waiting event (after an overflow), the index with them."""
        super().discard_pending_events()
        self._moved_from.clear()


@dataclass
class _IndexedWatchGroup(InotifyWatchGroup):
    """watchdog's watch group, pairing moves with :class:`IndexedMoveEventGrouper`."""

    _move_event_grouper: InotifyMoveEventGrouper = field(
        default_factory=IndexedMoveEventGrouper, init=False
    )


class OverflowReportingInotifyFD(InotifyFD):
    """watchdog's inotify reader thread, calling ``on_overflow`` after each overflow."""

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__()
        self._on_overflow = on_overflow

    def handle_event(self, event: InotifyEvent) -> None:
        """Let watchdog handle ``event``; then report it if it was an overflow."""
        super().handle_event(event)
        if event.is_queue_overflow:
            self._on_overflow()


class QuietDeleteEmitter(InotifyFullEmitter):
    """Full-events inotify emitter that does not subscribe to ``IN_DELETE``
    and pairs moves through :class:`IndexedMoveEventGrouper`."""

    def on_thread_start(self) -> None:
        """watchdog's start, with the indexed move grouper in the watch group."""
        self._inotify = _IndexedWatchGroup(
            self._inotify_fd,
            os.fsencode(self.watch.path),
            is_recursive=self.watch.is_recursive,
            event_mask=self.get_event_mask_from_filter(),
            follow_symlink=self.watch.follow_symlink,
        )

    def get_event_mask_from_filter(self) -> Mask:
        """watchdog's mask for the filter, without ``IN_DELETE``.

        ``DirDeletedEvent`` is in the filter only to hear of a root's own
        removal, which arrives as ``IN_DELETE_SELF`` (always subscribed).
        ``IN_DELETE`` would queue one kernel event per file deleted below the
        root — events the watcher ignores, competing for the same queue.
        """
        return Mask(super().get_event_mask_from_filter() & ~InotifyConstants.IN_DELETE)


class OverflowReportingObserver(BaseObserver):
    """An inotify observer with its own reader thread that reports overflows."""

    def __init__(
        self, on_overflow: Callable[[], None], *, timeout: float = DEFAULT_OBSERVER_TIMEOUT
    ) -> None:
        self._inotify_fd = OverflowReportingInotifyFD(on_overflow)
        self._inotify_fd.start()
        super().__init__(QuietDeleteEmitter, timeout=timeout, inotify_fd=self._inotify_fd)

    @property
    def inotify_fd(self) -> InotifyFD:
        """The reader thread (for diagnostics and tests)."""
        return self._inotify_fd

    def on_thread_stop(self) -> None:
        """Stop the emitters, then the reader thread (even if this thread never started)."""
        super().on_thread_stop()
        self._inotify_fd.stop()
        self._inotify_fd.join()
