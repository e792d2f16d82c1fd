"""Reader processes: real spawned processes reading real files.

What they send back must equal what ``parse_file`` gives in the process
itself; one file's error stays its own; a process that dies fails only the
files it held (transiently) and is replaced; closed, they refuse work as a
shut-down executor does.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import metrics
from pipeline.errors import NotFits, ReaderCrashed, TruncatedFits
from pipeline.ingest.parse import parse_file
from pipeline.ingest.parsing import ReadingRefused
from pipeline.ingest.reader_processes import ReaderProcesses
from pipeline.samples import SampleKind, rng_for, write_sample
from pipeline.settings import ReaderSettings
from tests.support.processes import processes_gone

LIMITS = ReaderSettings()


@pytest.fixture
def readers() -> Iterator[ReaderProcesses]:
    processes = ReaderProcesses(1, LIMITS)
    processes.start()
    asyncio.run(processes.read_group([]))  # started and ready
    yield processes
    processes.close()


def _samples(directory: Path) -> list[Path]:
    return [write_sample(directory, i, kind, rng_for(7, i)) for i, kind in enumerate(SampleKind)]


def _huge_image(path: Path, side: int = 46_000) -> Path:
    """A valid FITS image of ~4 GB of (sparse) zeros: seconds of hashing."""
    cards = [
        "SIMPLE  =                    T",
        "BITPIX  =                   16",
        "NAXIS   =                    2",
        f"NAXIS1  = {side:20d}",
        f"NAXIS2  = {side:20d}",
        "END",
    ]
    header = "".join(card.ljust(80) for card in cards).ljust(2880).encode()
    with path.open("wb") as sink:
        sink.write(header)
        sink.truncate(2880 + -(-side * side * 2 // 2880) * 2880)
    return path


async def _reading(path: Path, seconds: float = 10.0) -> int:
    """The reader process's pid, once it has ``path`` open."""
    [process] = multiprocessing.active_children()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            fds = Path(f"/proc/{process.pid}/fd")
            if any(os.readlink(fd) == str(path) for fd in fds.iterdir()):
                return process.pid
        await asyncio.sleep(0.01)
    raise AssertionError(f"the reader process did not open {path} within {seconds} s")


def test_rows_from_a_reader_process_equal_parse_file_in_this_one(
    tmp_path: Path, readers: ReaderProcesses
) -> None:
    paths = _samples(tmp_path)
    outcomes = asyncio.run(readers.read_group([(str(p), None) for p in paths]))
    assert [error for _, error in outcomes] == [None] * len(paths)
    assert [parsed for parsed, _ in outcomes] == [parse_file(str(p), LIMITS, None) for p in paths]


def test_one_files_error_is_its_own_and_keeps_its_class(
    tmp_path: Path, readers: ReaderProcesses
) -> None:
    good = _samples(tmp_path)[0]
    html = tmp_path / "page.fits"
    html.write_bytes(b"<!DOCTYPE html><html>not found</html>\n")
    cut = tmp_path / "cut.fits"
    cut.write_bytes(good.read_bytes()[:4000])
    before = metrics.INGEST_SECONDS.labels("read")._sum.get()
    outcomes = asyncio.run(readers.read_group([(str(p), None) for p in (html, good, cut)]))
    assert outcomes[0][0] is None and isinstance(outcomes[0][1], NotFits)
    assert outcomes[0][1].details["detected"] == "markup"
    assert outcomes[1] == (parse_file(str(good), LIMITS, None), None)
    assert isinstance(outcomes[2][1], TruncatedFits) and outcomes[2][1].code == "truncated"
    # The reader process's timings are observed here, where metrics are scraped.
    assert metrics.INGEST_SECONDS.labels("read")._sum.get() > before


def test_a_reader_that_dies_mid_read_fails_its_files_transiently_and_is_replaced(
    tmp_path: Path, readers: ReaderProcesses
) -> None:
    huge = _huge_image(tmp_path / "huge.fits")
    small = _samples(tmp_path)[0]

    async def scenario() -> None:
        reading = asyncio.ensure_future(readers.read_group([(str(huge), None), (str(small), None)]))
        process = await _reading(huge)  # hashing the gigabytes
        os.kill(process, signal.SIGKILL)
        with pytest.raises(ReaderCrashed) as crashed:
            await reading
        assert crashed.value.code == "reader_crashed" and crashed.value.transient
        # A new process reads the next group.
        [(parsed, error)] = await readers.read_group([(str(small), None)])
        assert error is None and parsed == parse_file(str(small), LIMITS, None)

    asyncio.run(scenario())


def test_a_reader_that_died_while_idle_is_replaced(
    tmp_path: Path, readers: ReaderProcesses
) -> None:
    small = _samples(tmp_path)[0]
    asyncio.run(readers.read_group([(str(small), None)]))
    [process] = multiprocessing.active_children()
    os.kill(process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    [(parsed, error)] = asyncio.run(readers.read_group([(str(small), None)]))
    assert error is None and parsed is not None


def test_closing_ends_reads_in_progress_and_queued_as_refused_not_crashed(
    tmp_path: Path,
) -> None:
    """Stopping the service is not a crash: its jobs end ``worker_stopping``."""
    huge = _huge_image(tmp_path / "huge.fits")
    small = _samples(tmp_path)[0]

    async def scenario() -> None:
        readers = ReaderProcesses(1, LIMITS)
        readers.start()
        reading = asyncio.ensure_future(readers.read_group([(str(huge), None)]))
        queued = [asyncio.ensure_future(readers.read_group([(str(small), None)])) for _ in "ab"]
        await _reading(huge)
        readers.close()
        for read in (reading, *queued):
            with pytest.raises(ReadingRefused):
                await read

    asyncio.run(scenario())


def test_closed_readers_refuse_work(tmp_path: Path) -> None:
    readers = ReaderProcesses(1, LIMITS)
    readers.start()
    readers.close()
    small = _samples(tmp_path)[0]
    with pytest.raises(ReadingRefused):
        asyncio.run(readers.read_group([(str(small), None)]))
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert multiprocessing.active_children() == []


ORPHANED_PARENT = """
import asyncio, multiprocessing, os
from pipeline.ingest.reader_processes import ReaderProcesses
from pipeline.settings import ReaderSettings

readers = ReaderProcesses(1, ReaderSettings())
readers.start()
asyncio.run(readers.read_group([]))
[child] = [p for p in multiprocessing.active_children() if "resource_tracker" not in p.name]
print(child.pid, flush=True)
os._exit(0)  # as SIGKILL would: no clean-up of any kind
"""


def test_readers_of_a_parent_killed_outright_leave_by_themselves() -> None:
    parent = subprocess.run(
        [sys.executable, "-c", ORPHANED_PARENT], capture_output=True, text=True, timeout=60
    )
    assert parent.returncode == 0, parent.stderr
    child = int(parent.stdout.split()[0])
    assert processes_gone([child])  # an orphan nobody reaps here: a zombie counts
