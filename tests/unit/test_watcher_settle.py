"""The settle tracker: a file without a close event is complete once it stops changing.

Driven by a fake clock and a fake ``stat``, so each window boundary is exact.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pipeline.watcher.settle import SettleTracker

ROOT = Path("/data/root")
SETTLE = 2.0


class FakeFiles:
    """``stat`` over a dict of path → (size, mtime_ns, mode); counts the calls."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, int, int]] = {}
        self.calls: list[str] = []

    def write(self, path: str, size: int, mtime_ns: int, mode: int = stat.S_IFREG) -> None:
        self.files[path] = (size, mtime_ns, mode | 0o644)

    def stat(self, path: str) -> os.stat_result:
        self.calls.append(path)
        if path not in self.files:
            raise FileNotFoundError(path)
        size, mtime_ns, mode = self.files[path]
        fields = (mode, 1, 1, 1, 0, 0, size, 0, mtime_ns // 10**9, 0)
        return os.stat_result(fields, {"st_mtime_ns": mtime_ns})


@pytest.fixture
def files() -> FakeFiles:
    return FakeFiles()


@pytest.fixture
def tracker(files: FakeFiles) -> SettleTracker:
    return SettleTracker(SETTLE, files.stat)


def start(tracker: SettleTracker, files: FakeFiles, path: str, size: int, now: float) -> None:
    files.write(path, size, mtime_ns=int(now * 1e9))
    tracker.track(path, ROOT, size, int(now * 1e9), now)


def test_unchanged_file_settles_when_its_window_ends_not_before(
    tracker: SettleTracker, files: FakeFiles
) -> None:
    start(tracker, files, "/data/root/a.fits", 5760, now=10.0)
    assert tracker.next_due() == 12.0
    assert tracker.settled(11.999) == []
    assert files.calls == []  # nothing is stat()ed before its window ends
    [seen] = tracker.settled(12.0)
    assert (seen.path, seen.root, seen.size, seen.reason) == (
        "/data/root/a.fits",
        ROOT,
        5760,
        "settled",
    )
    assert seen.mtime_ns == 10 * 10**9
    assert len(tracker) == 0 and tracker.next_due() is None


def test_growing_file_is_never_settled_while_it_grows(
    tracker: SettleTracker, files: FakeFiles
) -> None:
    start(tracker, files, "/data/root/slow.fits", 2880, now=0.0)
    now = 0.0
    for chunk in range(1, 20):
        now += 0.5
        files.write("/data/root/slow.fits", 2880 * (chunk + 1), int(now * 1e9))
        due = tracker.next_due()
        assert due is not None
        if due <= now:
            assert tracker.settled(now) == []
    # The writer stops: the next check still sees a change, the one after settles it.
    next_check = tracker.next_due()
    assert next_check is not None
    assert tracker.settled(next_check) == []
    [seen] = tracker.settled(next_check + SETTLE)
    assert seen.size == 2880 * 20


def test_truncated_file_that_stays_truncated_is_settled_with_its_size(
    tracker: SettleTracker, files: FakeFiles
) -> None:
    start(tracker, files, "/data/root/cut.fits", 1000, now=0.0)  # 1000: not a multiple of 2880
    [seen] = tracker.settled(SETTLE)
    assert seen.size == 1000


def test_a_change_seen_at_the_check_starts_a_new_window(
    tracker: SettleTracker, files: FakeFiles
) -> None:
    start(tracker, files, "/data/root/b.fits", 100, now=0.0)
    files.write("/data/root/b.fits", 100, mtime_ns=1_500_000_000)  # rewritten, same size
    assert tracker.settled(2.0) == []
    assert tracker.next_due() == 4.0
    [seen] = tracker.settled(4.0)
    assert seen.mtime_ns == 1_500_000_000


def test_tracking_the_same_state_again_does_not_postpone_settling(
    tracker: SettleTracker, files: FakeFiles
) -> None:
    start(tracker, files, "/data/root/c.fits", 100, now=0.0)
    tracker.track("/data/root/c.fits", ROOT, 100, 0, now=1.5)  # a rescan saw it again
    assert tracker.next_due() == 2.0
    tracker.track("/data/root/c.fits", ROOT, 200, 1, now=1.8)  # an event saw it change
    assert tracker.next_due() == pytest.approx(3.8)


def test_forgotten_files_are_not_checked(tracker: SettleTracker, files: FakeFiles) -> None:
    start(tracker, files, "/data/root/closed.fits", 100, now=0.0)
    tracker.forget("/data/root/closed.fits")  # a close event admitted it
    tracker.forget("/data/root/never-tracked.fits")
    assert tracker.next_due() is None
    assert tracker.settled(100.0) == []
    assert files.calls == []


def test_vanished_or_replaced_files_are_dropped(tracker: SettleTracker, files: FakeFiles) -> None:
    start(tracker, files, "/data/root/gone.fits", 100, now=0.0)
    start(tracker, files, "/data/root/fifo.fits", 0, now=0.0)
    del files.files["/data/root/gone.fits"]
    files.write("/data/root/fifo.fits", 0, 0, mode=stat.S_IFIFO)
    assert tracker.settled(SETTLE) == []
    assert len(tracker) == 0


def test_only_files_whose_window_ended_are_stat_ed(
    tracker: SettleTracker, files: FakeFiles
) -> None:
    for index in range(1000):
        start(tracker, files, f"/data/root/f{index}.fits", 10, now=index / 1000)
    assert len(tracker) == 1000
    settled = tracker.settled(SETTLE + 0.0995)
    assert len(settled) == len(files.calls) == 100  # one stat per due file, no others
    assert tracker.next_due() == pytest.approx(SETTLE + 0.1)
    assert len(tracker.settled(SETTLE + 1.0)) == 900


def test_zero_settle_window_settles_at_the_first_check(files: FakeFiles) -> None:
    tracker = SettleTracker(0.0, files.stat)
    start(tracker, files, "/data/root/now.fits", 10, now=5.0)
    assert [seen.path for seen in tracker.settled(5.0)] == ["/data/root/now.fits"]
