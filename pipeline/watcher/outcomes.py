"""Handing files to ``admit`` and paths to ``refuse``, without obvious repeats.

Several threads report outcomes (the event dispatcher, the scanner). A file
is often seen more than once in the same state — a close event and the
startup scan, a rescan after an overflow, a settle after a close — so the
last admitted ``(size, mtime_ns)`` of recently admitted paths is remembered
and an identical state is not offered again. The memory is bounded: past it,
the oldest paths are forgotten and the database, which decides what is new,
absorbs the repeat. Refusals are remembered the same way, per distinct state.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Final

import structlog

from pipeline.errors import FitsflowError
from pipeline.watcher.model import Admit, Counters, Refusal, Refuse, SeenFile

__all__ = ["DEFAULT_MEMORY", "Outcomes"]

log = structlog.get_logger(__name__)

#: Paths whose last admitted (or refused) state is remembered.
DEFAULT_MEMORY: Final = 65_536


class _BoundedMemory:
    """path → last state, forgetting the least recently touched past ``limit``."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._states: OrderedDict[str, Hashable] = OrderedDict()

    def same(self, path: str, state: Hashable) -> bool:
        return self._states.get(path) == state

    def remember(self, path: str, state: Hashable) -> None:
        self._states[path] = state
        self._states.move_to_end(path)
        while len(self._states) > self._limit:
            self._states.popitem(last=False)

    def forget(self, path: str, state: Hashable) -> None:
        if self._states.get(path) == state:
            del self._states[path]


class Outcomes:
    """The one way out of the watcher: deduplicated calls to ``admit`` and ``refuse``."""

    def __init__(
        self, admit: Admit, refuse: Refuse, counters: Counters, memory: int = DEFAULT_MEMORY
    ) -> None:
        self._admit = admit
        self._refuse = refuse
        self._counters = counters
        self._lock = threading.Lock()
        self._admitted = _BoundedMemory(memory)
        self._refused = _BoundedMemory(memory)

    def already_admitted(self, path: str, size: int, mtime_ns: int) -> bool:
        """Whether ``path`` was recently admitted in exactly this state."""
        with self._lock:
            return self._admitted.same(path, (size, mtime_ns))

    def admit(self, files: Sequence[SeenFile]) -> None:
        """Offer ``files`` to ``admit``, minus those already admitted unchanged.

        If ``admit`` raises a :class:`FitsflowError` (database or broker
        down), the batch is logged and forgotten here, so the next rescan
        offers it again.
        """
        fresh = self._claim(files)
        if not fresh:
            return
        try:
            self._admit(fresh)
        except FitsflowError as error:
            self._release(fresh)
            self._counters.add("admit_failures")
            log.error("admission failed", files=len(fresh), code=error.code, error=error.message)
            return
        except BaseException:
            self._release(fresh)  # not a FitsflowError: the thread's boundary logs it
            raise
        self._counters.add_admitted(fresh)

    def refuse(self, refusal: Refusal) -> None:
        """Hand ``refusal`` to ``refuse`` unless this path was refused in this state."""
        with self._lock:
            if self._refused.same(refusal.path, refusal.state):
                return
            self._refused.remember(refusal.path, refusal.state)
        log.info("path refused", path=refusal.path, code=refusal.error.code)
        try:
            self._refuse(refusal.path, refusal.error)
        except BaseException:
            with self._lock:
                self._refused.forget(refusal.path, refusal.state)
            raise
        self._counters.add("refused")

    def _claim(self, files: Sequence[SeenFile]) -> list[SeenFile]:
        fresh: dict[str, SeenFile] = {}
        with self._lock:
            for seen in files:
                state = (seen.size, seen.mtime_ns)
                if self._admitted.same(seen.path, state):
                    continue
                self._admitted.remember(seen.path, state)
                fresh[seen.path] = seen  # a later state of the same path replaces an earlier one
        return list(fresh.values())

    def _release(self, files: Sequence[SeenFile]) -> None:
        with self._lock:
            for seen in files:
                self._admitted.forget(seen.path, (seen.size, seen.mtime_ns))
