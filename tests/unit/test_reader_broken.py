"""Every broken input of the catalogue ends in its own code, within bounds.

Nothing here measures time. Bombs are shown to be bounded by construction:
the limit named in ``details`` is the one that stopped them, and the memory
the reader allocated meanwhile (traced in-process, and as peak RSS in a fresh
process) stays far below what the file claims.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest

from pipeline.errors import FitsflowError, LimitExceeded, PermanentError, error_class_for_code
from pipeline.fits import FitsFile, read_fits
from pipeline.settings import ReaderSettings
from tests.support.broken import CASES, BrokenCase, Built

MIB = 1024**2
#: What reading any catalogue file may allocate at its peak: the cards the
#: default max_header_cards lets a file keep (100,000 parsed cards, ~20 MiB)
#: plus a few chunks — nothing near what the bombs claim.
PEAK_BUDGET = 32 * MIB
REPOSITORY = Path(__file__).resolve().parents[2]


def _read_traced(case: BrokenCase, built: Built) -> tuple[FitsFile | FitsflowError, int]:
    """The reader's result or error, and the peak of Python allocations while reading."""
    tracemalloc.start()
    try:
        outcome: FitsFile | FitsflowError = read_fits(built.path, case.settings(), built.roots)
    except FitsflowError as error:
        outcome = error
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return outcome, peak


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_broken_input_ends_in_its_code(case: BrokenCase, tmp_path: Path) -> None:
    built = case.build(tmp_path)
    before = _state(built.path)
    outcome, peak = _read_traced(case, built)
    if case.error is None:
        assert isinstance(outcome, FitsFile), f"{case.name}: expected a record, got {outcome!r}"
        assert case.warning in {warning.code for warning in outcome.warnings}
    else:
        assert isinstance(outcome, FitsflowError), f"{case.name}: read without error"
        assert outcome.code == case.error, outcome.to_dict()
        assert type(outcome) is error_class_for_code(case.error)
        assert isinstance(outcome, PermanentError)  # bad input is never retried
        if case.limit is not None:
            assert outcome.details["limit"] == case.limit
            assert outcome.details["value"] == getattr(case.settings(), case.limit)
        if case.cause is not None:
            assert isinstance(outcome.__cause__, case.cause), repr(outcome.__cause__)
    assert peak < PEAK_BUDGET, f"{case.name}: reading allocated {peak / MIB:.1f} MiB"
    assert _state(built.path) == before  # the input is left untouched


def _state(path: Path) -> tuple[int, int] | None:
    if not os.path.lexists(path):
        return None
    status = os.stat(path, follow_symlinks=False)
    return status.st_size, status.st_mtime_ns


def test_catalogue_covers_every_input_the_reader_must_refuse() -> None:
    codes = {case.error for case in CASES} | {case.warning for case in CASES}
    assert codes >= {
        "truncated",
        "empty_file",
        "not_fits",
        "malformed_header",
        "limit_exceeded",
        "corrupt_compression",
        "outside_root",
        "not_regular_file",
        "unsupported_compression",
        "unparsable_card",
        "non_ascii_card",
    }
    limits = {case.limit for case in CASES}
    assert limits >= {"max_header_cards", "max_hdus", "max_inflated_bytes", "max_seconds_per_file"}
    assert len({case.name for case in CASES}) == len(CASES)


def test_unparsable_cards_are_recorded_raw(tmp_path: Path) -> None:
    case = next(case for case in CASES if case.name == "unparsable_values")
    built = case.build(tmp_path)
    result = read_fits(built.path, case.settings())
    by_keyword = {card.keyword: card for card in result.hdus[0].cards}
    for keyword in ("AIRMASS", "SKYLEVEL", "FILTER", "OBJECT"):
        assert by_keyword[keyword].value is None
        raw = by_keyword[keyword].raw
        assert raw is not None and raw.startswith(keyword) and "\0" not in raw
    flagged = [w for w in result.warnings if w.code == "unparsable_card"]
    assert len(flagged) == 4 and all(w.hdu == 0 for w in flagged)
    assert by_keyword["SIMPLE"].value is True  # the rest of the header is intact


class _FakeClock:
    """A monotonic clock that advances one second every time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now


def test_deadline_is_checked_while_one_raw_chunk_inflates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = next(case for case in CASES if case.name == "gzip_bomb").build(tmp_path)
    monkeypatch.setattr("pipeline.fits.source.time", _FakeClock())
    # The first 2 MiB read inflates to 2 GiB: if the clock were read only per
    # raw chunk, the 1 GiB inflation limit would stop it first.
    limits = ReaderSettings(
        chunk_bytes=2 * MIB, max_inflated_bytes=1024 * MIB, max_seconds_per_file=10
    )
    with pytest.raises(LimitExceeded) as caught:
        read_fits(bomb.path, limits)
    assert caught.value.details["limit"] == "max_seconds_per_file"


_RSS_PROBE = textwrap.dedent(
    """
    import json, resource, sys
    from pipeline.errors import FitsflowError
    from pipeline.fits import read_fits
    from pipeline.settings import ReaderSettings

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

    cases = json.loads(sys.argv[1])
    baseline = peak()
    codes = {}
    for name, path, limits in cases:
        try:
            read_fits(path, ReaderSettings(**limits))
            codes[name] = None
        except FitsflowError as error:
            codes[name] = [error.code, error.details.get("limit")]
    print(json.dumps({"codes": codes, "growth": peak() - baseline}))
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux only")
def test_bombs_leave_peak_rss_flat(tmp_path: Path) -> None:
    bombs = [case for case in CASES if case.bomb]
    assert len(bombs) >= 4
    arguments = []
    for case in bombs:
        directory = tmp_path / case.name
        directory.mkdir()
        arguments.append([case.name, str(case.build(directory).path), dict(case.limits)])
    # A fresh process: the files were built here, so its peak RSS starts low.
    completed = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, json.dumps(arguments)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPOSITORY,
        timeout=120,
    )
    report = json.loads(completed.stdout)
    assert report["codes"] == {case.name: [case.error, case.limit] for case in bombs}
    assert report["growth"] < 64 * MIB, f"peak RSS grew by {report['growth'] / MIB:.0f} MiB"
