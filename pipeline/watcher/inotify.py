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
"""

from __future__ import annotations

from collections.abc import Callable

from watchdog.observers.api import DEFAULT_OBSERVER_TIMEOUT, BaseObserver
from watchdog.observers.inotify import InotifyFullEmitter
from watchdog.observers.inotify_c import InotifyConstants, InotifyEvent, InotifyFD, Mask

__all__ = ["OverflowReportingInotifyFD", "OverflowReportingObserver", "QuietDeleteEmitter"]


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
    """Full-events inotify emitter that does not subscribe to ``IN_DELETE``."""

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
