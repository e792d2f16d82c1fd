"""Deciding that a file with no close-after-write event is complete.

A file is settled once its size and mtime are unchanged over
``settle_seconds``. There is no thread or timer per file: the tracker keeps
one heap of due times, and the single thread that owns it asks for
:meth:`SettleTracker.next_due`, sleeps until then, and calls
:meth:`SettleTracker.settled`, which stat()s only the files whose window
ended. A file whose sample changed starts a new window; a file that stays
the same (finished, or truncated and abandoned by its writer) is settled.

Not thread-safe by design: one thread owns a tracker.
"""

from __future__ import annotations

import heapq
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.watcher.model import SeenFile

__all__ = ["SettleTracker", "Stat"]

Stat = Callable[[str], os.stat_result]


@dataclass(slots=True)
class _Sample:
    root: Path
    size: int
    mtime_ns: int
    due: float


class SettleTracker:
    """Files waiting for their size and mtime to stop changing."""

    def __init__(self, settle_seconds: float, stat_path: Stat = os.stat) -> None:
        self._settle_seconds = settle_seconds
        self._stat = stat_path
        self._samples: dict[str, _Sample] = {}
        # (due, sequence, path); entries whose due no longer matches the
        # sample are stale and skipped, which is cheaper than removing them.
        self._heap: list[tuple[float, int, str]] = []
        self._sequence = 0

    def __len__(self) -> int:
        return len(self._samples)

    def __contains__(self, path: object) -> bool:
        return path in self._samples

    def track(self, path: str, root: Path, size: int, mtime_ns: int, now: float) -> None:
        """Start (or, if the sample differs, restart) the settle window of ``path``."""
        sample = self._samples.get(path)
        if sample is not None and (sample.size, sample.mtime_ns) == (size, mtime_ns):
            return  # already waiting on this very state
        self._schedule(path, _Sample(root, size, mtime_ns, now + self._settle_seconds))

    def forget(self, path: str) -> None:
        """Stop tracking ``path`` (it was admitted by an event, or went away)."""
        self._samples.pop(path, None)

    def next_due(self) -> float | None:
        """When the earliest settle window ends (None: nothing is tracked)."""
        while self._heap:
            due, _, path = self._heap[0]
            sample = self._samples.get(path)
            if sample is not None and sample.due == due:
                return due
            heapq.heappop(self._heap)
        return None

    def settled(self, now: float) -> list[SeenFile]:
        """Files whose window ended by ``now`` unchanged; changed ones start a new window."""
        found: list[SeenFile] = []
        while self._heap and self._heap[0][0] <= now:
            due, _, path = heapq.heappop(self._heap)
            sample = self._samples.get(path)
            if sample is None or sample.due != due:
                continue
            seen = self._check(path, sample, now)
            if seen is not None:
                found.append(seen)
        return found

    def _check(self, path: str, sample: _Sample, now: float) -> SeenFile | None:
        try:
            status = self._stat(path)
        except OSError:
            # Gone or unreadable: nothing to admit. If it comes back, its
            # event or the next rescan offers it again.
            del self._samples[path]
            return None
        if not stat.S_ISREG(status.st_mode):
            del self._samples[path]  # replaced by something else; its own event refuses it
            return None
        if (status.st_size, status.st_mtime_ns) != (sample.size, sample.mtime_ns):
            self._schedule(
                path,
                _Sample(
                    sample.root, status.st_size, status.st_mtime_ns, now + self._settle_seconds
                ),
            )
            return None
        del self._samples[path]
        return SeenFile(path, sample.root, sample.size, sample.mtime_ns, "settled")

    def _schedule(self, path: str, sample: _Sample) -> None:
        self._samples[path] = sample
        self._sequence += 1
        heapq.heappush(self._heap, (sample.due, self._sequence, path))
