"""Reading files off the event loop, many to a thread hand-off.

A file is read and extracted in a thread: it is CPU and I/O work that would
stall the loop. One hand-off per file cost the embedded process about a sixth
of its CPU a file: the loop wakes an executor thread, that thread takes the
interpreter's lock from the others and wakes the loop when it is done — two
context switches per file, and up to six reading threads queueing for the
lock each time one of them reads, stats or hashes. Here the files that arrive
while others are being read gather and go to a thread together: a few
hand-offs per group instead of two per file, and at most ``max_running``
reading threads.

A file larger than ``small_file_bytes`` (or of unknown size) is read alone,
in its own hand-off, as before: hashing it takes long enough to hold up the
small files it would be grouped with.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

__all__ = ["ParseGroups", "ReadingRefused"]

T = TypeVar("T")
Roots = Sequence[Path] | None
#: One file's outcome in a group: what the parser returned, or what it raised.
Outcome = tuple[T | None, BaseException | None]

#: Files per hand-off (what gathered while the running groups were read).
MAX_GROUP = 64
#: Groups being read at once: two threads, so that one hashes (without the
#: interpreter's lock) while the other parses.
MAX_RUNNING = 2
#: Larger files are read alone (~2.5 ms of SHA-256 at 4 MiB).
SMALL_FILE_BYTES = 4 * 1024 * 1024


class ReadingRefused(RuntimeError):
    """The loop's executor refuses work: the process is shutting down."""


class ParseGroups(Generic[T]):
    """Runs ``read(path, roots)`` in threads, small files grouped per hand-off."""

    def __init__(
        self,
        read: Callable[[str, Roots], T],
        *,
        max_group: int = MAX_GROUP,
        max_running: int = MAX_RUNNING,
        small_file_bytes: int = SMALL_FILE_BYTES,
    ) -> None:
        self._read = read
        self._max_group = max_group
        self._max_running = max_running
        self._small_file_bytes = small_file_bytes
        self._pending: list[tuple[str, Roots, asyncio.Future[T]]] = []
        self._running = 0
        self.groups = 0
        self.files = 0

    async def parse(self, path: str, roots: Roots, size: int | None) -> T:
        """What ``read(path, roots)`` returns, or raises, run in a thread.

        Raises :class:`ReadingRefused` when the loop's executor refuses work
        (the process is shutting down).
        """
        loop = asyncio.get_running_loop()
        if size is None or size > self._small_file_bytes:
            try:
                alone = loop.run_in_executor(None, self._read, path, roots)
            except RuntimeError as error:
                raise ReadingRefused(str(error)) from error
            return await alone
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((path, roots, future))
        self._start_groups(loop)
        return await future

    def _start_groups(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._pending and self._running < self._max_running:
            group = self._pending[: self._max_group]
            del self._pending[: self._max_group]
            files = [(path, roots) for path, roots, _ in group]
            try:
                work = loop.run_in_executor(None, _read_all, self._read, files)
            except RuntimeError as error:  # the executor is shut down
                refused = ReadingRefused(str(error))
                refused.__cause__ = error
                for _, _, future in group:
                    if not future.done():
                        future.set_exception(refused)
                continue
            self._running += 1
            self.groups += 1
            self.files += len(group)
            work.add_done_callback(functools.partial(self._finished, loop, group))

    def _finished(
        self,
        loop: asyncio.AbstractEventLoop,
        group: list[tuple[str, Roots, asyncio.Future[T]]],
        work: asyncio.Future[list[Outcome[T]]],
    ) -> None:
        self._running -= 1
        # A BaseException (the thread's interpreter shutting down) ends every
        # read of the group alike; a cancelled waiter (its time limit) is skipped.
        failure = work.exception() if not work.cancelled() else asyncio.CancelledError()
        outcomes = work.result() if failure is None else [(None, failure)] * len(group)
        for (_, _, future), (value, error) in zip(group, outcomes, strict=True):
            if future.done():
                continue
            if error is None:
                future.set_result(value)  # type: ignore[arg-type]  # None only with an error
            else:
                future.set_exception(error)
        self._start_groups(loop)


def _read_all(read: Callable[[str, Roots], T], files: list[tuple[str, Roots]]) -> list[Outcome[T]]:
    """Each file's outcome, in order: one file's error is its own."""
    outcomes: list[Outcome[T]] = []
    for path, roots in files:
        try:
            outcomes.append((read(path, roots), None))
        except Exception as error:  # noqa: BLE001 - handed to that file's waiter
            outcomes.append((None, error))
    return outcomes
