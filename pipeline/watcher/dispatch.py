"""The dispatcher: one thread that turns notices into admissions and settles files.

Event handlers run on watchdog's threads and only put a :class:`Notice` on
this thread's queue, so a slow ``admit`` callback never holds up the thread
reading the inotify descriptor. The same thread owns the
:class:`~pipeline.watcher.settle.SettleTracker`: it waits on the queue no
longer than until the next settle window ends, so settling costs no thread
or timer per file.
"""

from __future__ import annotations

import enum
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from pipeline.watcher.examine import Selection, examine
from pipeline.watcher.guard import guarded
from pipeline.watcher.model import Counters, Reason, Refusal, SeenFile, WatchRoot
from pipeline.watcher.outcomes import Outcomes
from pipeline.watcher.settle import SettleTracker, Stat

__all__ = ["BATCH_SIZE", "Dispatcher", "Notice", "NoticeKind"]

#: Most files handed to ``admit`` in one call (and notices taken in one step).
BATCH_SIZE: Final = 500


class NoticeKind(enum.Enum):
    """What was noticed about a path."""

    CLOSED = "closed"
    """Closed after writing: complete now."""
    MOVED_IN = "moved_in"
    """Renamed into a root: complete now (a rename is atomic)."""
    CHANGED = "changed"
    """Created or modified with no close seen (yet): complete once settled."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One path for the dispatcher."""

    kind: NoticeKind
    path: str
    root: WatchRoot


_REASONS: Final[dict[NoticeKind, Reason]] = {
    NoticeKind.CLOSED: "closed",
    NoticeKind.MOVED_IN: "moved_in",
    NoticeKind.CHANGED: "settled",
}


class Dispatcher:
    """The thread behind :meth:`notify`: examine, admit or refuse, settle."""

    def __init__(
        self,
        settle_seconds: float,
        selection: Selection,
        outcomes: Outcomes,
        counters: Counters,
        *,
        clock: Callable[[], float] = time.monotonic,
        stat_path: Stat = os.stat,
    ) -> None:
        self._selection = selection
        self._outcomes = outcomes
        self._counters = counters
        self._clock = clock
        self._tracker = SettleTracker(settle_seconds, stat_path)
        self._queue: queue.Queue[Notice | None] = queue.Queue()
        self._thread = threading.Thread(
            target=self._run, name="fitsflow-watcher-dispatch", daemon=True
        )

    def notify(self, notice: Notice) -> None:
        """Queue ``notice``; cheap and non-blocking, safe from any thread."""
        self._queue.put(notice)

    def busy(self) -> bool:
        """Whether notices wait or are being handled, or files wait to settle."""
        return self._queue.unfinished_tasks > 0 or len(self._tracker) > 0

    def start(self) -> None:
        """Start the dispatcher thread."""
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Handle the notices already queued, then end the thread (tracked files are dropped)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        while guarded(self._step, "dispatch") is not False:
            pass

    def _step(self) -> bool:
        notices = self._take()
        batch: list[SeenFile] = []
        try:
            for notice in notices:
                if notice is not None:
                    self._handle(notice, batch)
            batch.extend(self._tracker.settled(self._clock()))
            for start in range(0, len(batch), BATCH_SIZE):
                self._outcomes.admit(batch[start : start + BATCH_SIZE])
        finally:
            self._counters.set_tracked(len(self._tracker))
            for _ in notices:
                self._queue.task_done()
        return None not in notices

    def _take(self) -> Sequence[Notice | None]:
        due = self._tracker.next_due()
        timeout = None if due is None else max(0.0, due - self._clock())
        try:
            taken = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            return ()
        while len(taken) < BATCH_SIZE and taken[-1] is not None:
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return taken

    def _handle(self, notice: Notice, batch: list[SeenFile]) -> None:
        path, root = notice.path, notice.root
        if not self._selection.wants_file(path, root):
            return
        examined = examine(path, root, _REASONS[notice.kind])
        if examined is None or isinstance(examined, Refusal):
            self._tracker.forget(path)
            if examined is not None:
                self._outcomes.refuse(examined)
        elif notice.kind is not NoticeKind.CHANGED:
            self._tracker.forget(path)
            batch.append(examined)
        elif not self._outcomes.already_admitted(path, examined.size, examined.mtime_ns):
            self._tracker.track(path, root.path, examined.size, examined.mtime_ns, self._clock())
