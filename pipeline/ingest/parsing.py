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
small files it would be grouped with. And a group still being read after
``patience_seconds`` (a slow or hung mount) gives the files it has not
started back to the front of the line and stops counting as running: one
stuck read holds up only itself, as it did with a thread per file.

With ``run_group`` (ingest.reader_processes) a group goes to a reader
process instead, larger files alone in groups of one. Such a group is given
``patience_elsewhere_seconds`` (a reader process may still be starting, or
busy with a large file's group), and which of its files the process has
started is not known here: an overdue group gives back every file still
waiting, and until it ends the groups are read in threads — a process stuck
on a hung mount holds up only its own group, as a thread would. A file read
twice that way counts once (the first outcome resolves its waiter).
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

__all__ = ["SMALL_FILE_BYTES", "Outcome", "ParseGroups", "ReadingRefused", "refused"]

T = TypeVar("T")
Roots = Sequence[Path] | None
#: One file's outcome in a group: what the parser returned, or what it raised.
Outcome = tuple[T | None, BaseException | None]
Waiting = tuple[str, Roots, asyncio.Future[T]]
#: Reads a group elsewhere (a reader process): each file's outcome, in order.
RunGroup = Callable[[Sequence[tuple[str, Roots]]], Awaitable[list[Outcome[T]]]]

#: Files per hand-off (what gathered while the running groups were read).
MAX_GROUP = 64
#: Groups being read at once: two threads, so that one hashes (without the
#: interpreter's lock) while the other parses.
MAX_RUNNING = 2
#: Larger files are read alone (~2.5 ms of SHA-256 at 4 MiB).
SMALL_FILE_BYTES = 4 * 1024 * 1024
#: A group of 64 small files takes ~15 ms (up to ~0.2 s at 4 MiB each).
PATIENCE_SECONDS = 1.0
#: A reader process takes ~1 s to start (imports), longer on a loaded machine.
PATIENCE_ELSEWHERE_SECONDS = 10.0


class ReadingRefused(RuntimeError):
    """The loop's executor refuses work: the process is shutting down."""


def refused(error: RuntimeError) -> ReadingRefused:
    """``ReadingRefused`` for the executor's refusal ``error``."""
    refusal = ReadingRefused(str(error))
    refusal.__cause__ = error
    return refusal


class _Group(Generic[T]):
    """One hand-off: the files its thread has yet to start, and every waiter."""

    def __init__(self, files: list[Waiting[T]]) -> None:
        # The thread takes files from the left; the loop may take back the
        # rest. deque.popleft is atomic, so each file goes to exactly one.
        self.unstarted: deque[Waiting[T]] = deque(files)
        self.waiters = [future for _, _, future in files]
        self.handed_back: list[Waiting[T]] = []
        self.counted = True  # toward max_running
        self.overdue: asyncio.TimerHandle | None = None
        self.elsewhere = False  # read by run_group

    def hand_back(self) -> list[Waiting[T]]:
        while True:
            try:
                self.handed_back.append(self.unstarted.popleft())
            except IndexError:
                return self.handed_back


class ParseGroups(Generic[T]):
    """Runs ``read(path, roots)`` in threads (or ``run_group``), small files
    grouped per hand-off."""

    def __init__(
        self,
        read: Callable[[str, Roots], T],
        *,
        max_group: int = MAX_GROUP,
        max_running: int = MAX_RUNNING,
        small_file_bytes: int = SMALL_FILE_BYTES,
        patience_seconds: float = PATIENCE_SECONDS,
        run_group: RunGroup[T] | None = None,
        patience_elsewhere_seconds: float = PATIENCE_ELSEWHERE_SECONDS,
    ) -> None:
        self._read = read
        self._run_group = run_group
        self._max_group = max_group
        self._max_running = max_running
        self._small_file_bytes = small_file_bytes
        self._patience = patience_seconds
        self._patience_elsewhere = patience_elsewhere_seconds
        self._stuck_elsewhere = 0  # overdue groups of run_group not yet ended
        self._pending: list[Waiting[T]] = []
        self._running = 0
        self.groups = 0
        self.files = 0
        self.handed_back = 0

    async def parse(self, path: str, roots: Roots, size: int | None) -> T:
        """What ``read(path, roots)`` returns, or raises, run in a thread.

        Raises :class:`ReadingRefused` when the loop's executor refuses work
        (the process is shutting down).
        """
        loop = asyncio.get_running_loop()
        if size is None or size > self._small_file_bytes:
            if self._run_group is not None and not self._stuck_elsewhere:
                [(value, error)] = await self._run_group([(path, roots)])
                if error is not None:
                    raise error
                return value  # type: ignore[return-value]  # None only with an error
            try:
                alone = loop.run_in_executor(None, self._read, path, roots)
            except RuntimeError as error:
                raise refused(error) from error
            return await alone
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((path, roots, future))
        self._start_groups(loop)
        return await future

    def _start_groups(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._pending and self._running < self._max_running:
            taken = self._pending[: self._max_group]
            del self._pending[: self._max_group]
            # A file whose waiter gave up (its time limit) while it waited is not read.
            group = _Group([waiting for waiting in taken if not waiting[2].done()])
            if not group.waiters:
                continue
            run_group = None if self._stuck_elsewhere else self._run_group
            group.elsewhere = run_group is not None
            try:
                work = (
                    loop.create_task(_run_elsewhere(run_group, group))
                    if run_group is not None
                    else loop.run_in_executor(None, _read_all, self._read, group.unstarted)
                )
            except RuntimeError as error:  # the executor is shut down
                for future in group.waiters:
                    future.set_exception(refused(error))
                continue
            self._running += 1
            self.groups += 1
            self.files += len(group.waiters)
            patience = self._patience_elsewhere if group.elsewhere else self._patience
            group.overdue = loop.call_later(patience, self._overdue, loop, group)
            work.add_done_callback(functools.partial(self._finished, loop, group))

    def _overdue(self, loop: asyncio.AbstractEventLoop, group: _Group[T]) -> None:
        if group.elsewhere:
            self._stuck_elsewhere += 1
        group.counted = False
        self._running -= 1
        back = group.hand_back()
        self.handed_back += len(back)
        self.files -= len(back)
        self._pending[:0] = back
        self._start_groups(loop)

    def _finished(
        self,
        loop: asyncio.AbstractEventLoop,
        group: _Group[T],
        work: asyncio.Future[list[tuple[asyncio.Future[T], Outcome[T]]]],
    ) -> None:
        if group.overdue is not None:
            group.overdue.cancel()
        if group.counted:
            self._running -= 1
        elif group.elsewhere:  # it was overdue: stuck until now
            self._stuck_elsewhere -= 1
        if work.cancelled() or work.exception() is not None:
            # A BaseException (the interpreter shutting down) ends every read
            # the thread had; the files it handed back are read again.
            failure = asyncio.CancelledError() if work.cancelled() else work.exception()
            back = {id(future) for _, _, future in group.handed_back}
            outcomes: list[tuple[asyncio.Future[T], Outcome[T]]] = [
                (future, (None, failure)) for future in group.waiters if id(future) not in back
            ]
        else:
            outcomes = work.result()
        for future, (value, error) in outcomes:
            if future.done():  # its waiter gave up (the time limit)
                continue
            if error is None:
                future.set_result(value)  # type: ignore[arg-type]  # None only with an error
            else:
                future.set_exception(error)
        self._start_groups(loop)


async def _run_elsewhere(
    run_group: RunGroup[T], group: _Group[T]
) -> list[tuple[asyncio.Future[T], Outcome[T]]]:
    """``group`` read by ``run_group``; its files stay in ``unstarted`` (for
    ``hand_back``): which of them the other side has begun is not known."""
    files = list(group.unstarted)
    outcomes = await run_group([(path, roots) for path, roots, _ in files])
    return [(future, outcome) for (_, _, future), outcome in zip(files, outcomes, strict=True)]


def _read_all(
    read: Callable[[str, Roots], T], unstarted: deque[Waiting[T]]
) -> list[tuple[asyncio.Future[T], Outcome[T]]]:
    """Each file's outcome, with its waiter (only carried: a future is the
    loop's to resolve). One file's error is its own."""
    outcomes: list[tuple[asyncio.Future[T], Outcome[T]]] = []
    while True:
        try:
            path, roots, future = unstarted.popleft()
        except IndexError:
            return outcomes
        try:
            outcomes.append((future, (read(path, roots), None)))
        except Exception as error:  # noqa: BLE001 - handed to that file's waiter
            outcomes.append((future, (None, error)))
