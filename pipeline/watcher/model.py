"""What the watcher hands out: files seen complete, refusals, and its counters."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from pipeline.errors import FitsflowError

__all__ = [
    "REASONS",
    "Admit",
    "Reason",
    "Refusal",
    "Refuse",
    "SeenFile",
    "WatchRoot",
    "WatcherStats",
]

Reason = Literal["closed", "moved_in", "settled", "scan"]
#: Why a file was judged complete: a close-after-write event, a rename into a
#: root, size and mtime unchanged for ``settle_seconds``, or found by a scan
#: already quiet for that long.
REASONS: Final[tuple[Reason, ...]] = ("closed", "moved_in", "settled", "scan")


@dataclass(frozen=True, slots=True)
class WatchRoot:
    """A watched directory, resolved once; every path found under it starts with ``text``."""

    path: Path
    text: str

    @classmethod
    def of(cls, resolved: Path) -> WatchRoot:
        """The root for an already resolved directory."""
        return cls(resolved, str(resolved))

    def directories_between(self, path: str) -> list[str]:
        """Names of the directories from the root down to ``path``'s parent."""
        relative = os.path.relpath(os.path.dirname(path), self.text)
        return [] if relative == os.curdir else relative.split(os.sep)


@dataclass(frozen=True, slots=True)
class SeenFile:
    """A complete file, ready for admission."""

    path: str
    """Absolute path as found under the root (symlinks below the root NOT resolved)."""
    root: Path
    """The resolved root it was found under."""
    size: int
    mtime_ns: int
    reason: Reason


@dataclass(frozen=True, slots=True)
class Refusal:
    """A path that must never reach a worker, and the state it was refused in.

    ``state`` identifies what was refused (inode, file type, symlink target),
    so a path is refused once per distinct state rather than on every rescan.
    """

    path: str
    error: FitsflowError
    state: tuple[object, ...]


#: Receives batches of complete files; may be called from any watcher thread.
#: Whatever it returns is ignored.
Admit = Callable[[Sequence[SeenFile]], object]
#: Receives a path refused before any worker sees it, with the reason.
#: Whatever it returns is ignored.
Refuse = Callable[[str, FitsflowError], object]


@dataclass(frozen=True, slots=True)
class WatcherStats:
    """A snapshot of the watcher's counters."""

    events: int = 0
    """Filesystem events received from watchdog (after the event filter)."""
    admitted: int = 0
    """Files handed to ``admit``."""
    refused: int = 0
    """Paths handed to ``refuse``."""
    settled: int = 0
    """Files admitted because they stopped changing (no close event)."""
    overflows: int = 0
    """inotify event-queue overflows seen (each triggers a rescan)."""
    rescans: int = 0
    """Full rescans started after the startup scan (periodic, overflow, requested)."""
    tracked: int = 0
    """Files waiting to settle."""
    scans_completed: int = 0
    """Full passes over every root finished, the startup scan included."""
    admit_failures: int = 0
    """Batches whose ``admit`` call raised (their files are offered again by a rescan)."""
    admitted_by_reason: Mapping[str, int] = field(default_factory=dict)
    """``admitted`` broken down by :data:`Reason`."""


class Counters:
    """The live counters behind :class:`WatcherStats`, shared by the watcher's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._by_reason: Counter[str] = Counter()
        self._tracked = 0

    def add(self, name: str, amount: int = 1) -> None:
        """Add to the counter ``name`` (a :class:`WatcherStats` field)."""
        with self._lock:
            self._counts[name] += amount

    def add_admitted(self, files: Sequence[SeenFile]) -> None:
        """Count files handed to ``admit``."""
        with self._lock:
            self._counts["admitted"] += len(files)
            self._by_reason.update(seen.reason for seen in files)
            self._counts["settled"] += sum(seen.reason == "settled" for seen in files)

    def set_tracked(self, tracked: int) -> None:
        """Record how many files wait to settle."""
        self._tracked = tracked

    def snapshot(self) -> WatcherStats:
        """The counters as they are now."""
        with self._lock:
            counts = self._counts.copy()
            by_reason = dict(self._by_reason)
        return WatcherStats(
            events=counts["events"],
            admitted=counts["admitted"],
            refused=counts["refused"],
            settled=counts["settled"],
            overflows=counts["overflows"],
            rescans=counts["rescans"],
            tracked=self._tracked,
            scans_completed=counts["scans_completed"],
            admit_failures=counts["admit_failures"],
            admitted_by_reason=by_reason,
        )
