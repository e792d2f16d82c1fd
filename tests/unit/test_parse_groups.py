"""Reads in threads, small files grouped per hand-off (pipeline.ingest.parsing)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from pipeline.errors import NotFits
from pipeline.ingest.parse import parse_file
from pipeline.ingest.parsing import ParseGroups, ReadingRefused
from pipeline.settings import ReaderSettings
from tests.support.catalogue import write_fits


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Return once ``condition()`` holds; fail after ``seconds``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


class CountingReader:
    """Records which threads read and how many read at once."""

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause
        self.threads: set[int] = set()
        self.at_once = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, path: str, roots: Sequence[Path] | None) -> str:
        with self._lock:
            self.threads.add(threading.get_ident())
            self.at_once += 1
            self.most_at_once = max(self.most_at_once, self.at_once)
        try:
            threading.Event().wait(self.pause)
            if path.endswith("bad"):
                raise NotFits(f"{path} is not FITS")
            return path.upper()
        finally:
            with self._lock:
                self.at_once -= 1


async def test_files_that_arrive_together_share_hand_offs() -> None:
    reader = CountingReader(pause=0.001)
    groups: ParseGroups[str] = ParseGroups(reader, max_group=16, max_running=2)
    loop_thread = threading.get_ident()
    paths = [f"/data/f{n}.fits" for n in range(200)]
    results = await asyncio.gather(*(groups.parse(p, None, 2880) for p in paths))
    assert results == [p.upper() for p in paths]
    assert groups.files == 200
    # The first file goes at once, alone; the rest gather behind it.
    assert 200 / 16 <= groups.groups < 40
    assert reader.most_at_once <= 2
    assert loop_thread not in reader.threads


async def test_one_files_error_is_its_own() -> None:
    groups: ParseGroups[str] = ParseGroups(CountingReader(), max_running=1)
    paths = ["/d/a.fits", "/d/b.bad", "/d/c.fits"]
    results = await asyncio.gather(
        *(groups.parse(p, None, 2880) for p in paths), return_exceptions=True
    )
    assert results[0] == "/D/A.FITS" and results[2] == "/D/C.FITS"
    assert isinstance(results[1], NotFits) and str(results[1]) == "/d/b.bad is not FITS"


@pytest.mark.parametrize("size", [None, 4 * 1024 * 1024 + 1])
async def test_a_large_file_or_one_of_unknown_size_is_read_alone(size: int | None) -> None:
    reader = CountingReader()
    groups: ParseGroups[str] = ParseGroups(reader)
    assert await groups.parse("/d/big.fits", None, size) == "/D/BIG.FITS"
    assert groups.groups == 0 and groups.files == 0 and len(reader.threads) == 1


async def test_a_waiter_that_gives_up_does_not_hold_up_the_others() -> None:
    released = threading.Event()

    def read(path: str, roots: Sequence[Path] | None) -> str:
        if path == "/d/stuck.fits":
            released.wait(10)
        return path

    # Patience longer than the test: the stuck group counts as running until it ends.
    groups: ParseGroups[str] = ParseGroups(read, max_running=2, patience_seconds=60)
    errors: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(groups.parse("/d/stuck.fits", None, 2880), 0.2)
    # One thread is still stuck; the other keeps reading.
    later = [f"/d/later{n}.fits" for n in range(10)]
    assert await asyncio.gather(*(groups.parse(p, None, 2880) for p in later)) == later
    released.set()
    await _until(lambda: groups._running == 0)  # its outcome landed on a cancelled waiter
    assert await groups.parse("/d/after.fits", None, 2880) == "/d/after.fits"
    assert errors == []


async def test_a_stuck_read_holds_up_only_itself() -> None:
    """The files grouped behind a read that hangs (a stuck mount) are handed
    back after ``patience_seconds`` and read by another thread."""
    gate, released = threading.Event(), threading.Event()
    read_by: dict[str, int] = {}

    def read(path: str, roots: Sequence[Path] | None) -> str:
        read_by[path] = threading.get_ident()
        if path == "/d/first.fits":
            gate.wait(10)  # while it runs, the next files gather into one group
        if path == "/d/stuck.fits":
            released.wait(10)
        return path

    groups: ParseGroups[str] = ParseGroups(read, max_running=1, patience_seconds=0.5)
    first = asyncio.ensure_future(groups.parse("/d/first.fits", None, 2880))
    await _until(lambda: "/d/first.fits" in read_by)
    behind = [f"/d/behind{n}.fits" for n in range(5)]
    stuck = asyncio.ensure_future(groups.parse("/d/stuck.fits", None, 2880))
    others = asyncio.gather(*(groups.parse(p, None, 2880) for p in behind))
    await _until(lambda: len(groups._pending) == 6)
    gate.set()
    try:
        assert await first == "/d/first.fits"
        assert await asyncio.wait_for(others, 5) == behind
        assert not stuck.done()
        assert groups.handed_back == 5 and groups.groups == 3
        assert {read_by[p] for p in behind}.isdisjoint({read_by["/d/stuck.fits"]})
    finally:
        released.set()
    assert await stuck == "/d/stuck.fits"
    assert groups.files == 7  # each file counted once, where it was read


async def test_a_file_whose_waiter_gave_up_before_its_turn_is_not_read() -> None:
    gate = threading.Event()
    read_paths: list[str] = []

    def read(path: str, roots: Sequence[Path] | None) -> str:
        read_paths.append(path)
        if path == "/d/first.fits":
            gate.wait(10)
        return path

    groups: ParseGroups[str] = ParseGroups(read, max_running=1)
    first = asyncio.ensure_future(groups.parse("/d/first.fits", None, 2880))
    await _until(lambda: read_paths == ["/d/first.fits"])
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(groups.parse("/d/late.fits", None, 2880), 0.05)
    gate.set()
    assert await first == "/d/first.fits"
    assert await groups.parse("/d/next.fits", None, 2880) == "/d/next.fits"
    assert read_paths == ["/d/first.fits", "/d/next.fits"]


async def test_a_shut_down_executor_refuses_reads() -> None:
    groups: ParseGroups[str] = ParseGroups(CountingReader())
    await asyncio.get_running_loop().shutdown_default_executor()
    for size in (2880, None):
        with pytest.raises(ReadingRefused):
            await groups.parse("/d/a.fits", None, size)


async def test_real_files_read_in_groups_equal_read_one_by_one(tmp_path: Path) -> None:
    limits = ReaderSettings()
    paths = [str(write_fits(tmp_path / f"f{n}.fits", n)) for n in range(24)]

    def read(path: str, roots: Sequence[Path] | None) -> object:
        return parse_file(path, limits, roots)

    groups: ParseGroups[object] = ParseGroups(read, max_group=8)
    grouped = await asyncio.gather(
        *(groups.parse(p, (tmp_path,), Path(p).stat().st_size) for p in paths)
    )
    assert grouped == [parse_file(p, limits, (tmp_path,)) for p in paths]
    assert groups.groups < len(paths)


class ElsewhereReader:
    """A run_group (as reader processes are): its first group hangs until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.groups: list[list[str]] = []

    async def __call__(self, files: Sequence[tuple[str, object]]) -> list[tuple[str, None]]:
        paths = [path for path, _ in files]
        self.groups.append(paths)
        if len(self.groups) == 1:
            await self.release.wait()  # a hung mount
        return [(f"elsewhere:{path}", None) for path in paths]


async def test_groups_go_elsewhere_and_a_stuck_one_hands_over_to_threads() -> None:
    elsewhere = ElsewhereReader()
    groups: ParseGroups[str] = ParseGroups(
        CountingReader(), run_group=elsewhere, patience_elsewhere_seconds=0.2, max_running=1
    )
    first = [asyncio.ensure_future(groups.parse(f"/a/{n}", None, 2880)) for n in range(5)]
    await _until(lambda: len(elsewhere.groups) == 1)  # /a/0; the others wait their turn
    # Overdue: the stuck group's files are read in threads, and so is what follows.
    assert await asyncio.gather(*first) == [f"/A/{n}" for n in range(5)]
    assert await groups.parse("/b/0", None, 2880) == "/B/0"
    assert await groups.parse("/large", None, None) == "/LARGE"
    assert groups.handed_back == 1 and elsewhere.groups == [["/a/0"]]
    # The stuck group ends (its late outcomes change nothing): elsewhere again.
    elsewhere.release.set()
    await _until(lambda: not groups._stuck_elsewhere)
    assert await groups.parse("/c/0", None, 2880) == "elsewhere:/c/0"
    assert await groups.parse("/large", None, None) == "elsewhere:/large"
    assert [await f for f in first] == [f"/A/{n}" for n in range(5)]
