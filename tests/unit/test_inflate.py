"""zlib-ng inflates gzip FITS exactly as the standard zlib does, and is the one in use."""

from __future__ import annotations

import gzip
import random
import zlib
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import FitsflowError
from pipeline.fits import FitsFile, inflate, read_fits
from pipeline.samples import SampleKind, rng_for, write_sample
from pipeline.settings import ReaderSettings
from tests.support.broken import CASES

LIMITS = ReaderSettings()
#: The catalogue's broken inputs that are gzip streams (bombs included: they
#: must stop at the same limit, whichever library inflates).
GZIP_CASES = [case for case in CASES if "gzip" in case.name]


def test_zlib_ng_inflates_when_installed() -> None:
    # A dependency: without it gzip files read at half the speed, silently.
    assert inflate.implementation == "zlib_ng"


def _outcome(path: Path, limits: ReaderSettings = LIMITS, roots: Any = None) -> object:
    try:
        fits = read_fits(path, limits, roots)
    except FitsflowError as error:
        return (error.code, error.details.get("limit"))
    assert isinstance(fits, FitsFile)
    return fits


def _both(monkeypatch: pytest.MonkeyPatch, read: Any) -> tuple[object, object]:
    """``read()`` inflated by zlib-ng, then by the standard zlib."""
    fast = read()
    with monkeypatch.context() as patched:
        patched.setattr(inflate, "_module", zlib)
        slow = read()
    return fast, slow


def test_every_gzip_sample_reads_identically(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    paths = [write_sample(tmp_path, i, SampleKind.GZIP, rng_for(11, i)) for i in range(30)]
    fast, slow = _both(monkeypatch, lambda: [_outcome(path) for path in paths])
    assert fast == slow
    assert all(isinstance(fits, FitsFile) and fits.compression == "gzip" for fits in fast)


def test_members_padding_and_small_chunks_read_identically(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plain = write_sample(tmp_path, 0, SampleKind.MEF, rng_for(12, 0)).read_bytes()
    cuts = sorted(random.Random(5).sample(range(1, len(plain)), 4))
    pieces = [plain[a:b] for a, b in zip([0, *cuts], [*cuts, len(plain)], strict=True)]
    members = tmp_path / "members.fits.gz"
    members.write_bytes(b"".join(gzip.compress(piece) for piece in pieces) + bytes(300))
    # Chunks of one block: inflated output capped per call, held inside the library.
    small = LIMITS.model_copy(update={"chunk_bytes": 2880})
    fast, slow = _both(monkeypatch, lambda: (_outcome(members), _outcome(members, small)))
    assert fast == slow
    assert all(isinstance(fits, FitsFile) and len(fits.hdus) > 1 for fits in fast)


@pytest.mark.parametrize("case", GZIP_CASES, ids=lambda case: case.name)
def test_broken_gzip_ends_in_the_same_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, case: Any
) -> None:
    built = case.build(tmp_path)
    fast, slow = _both(monkeypatch, lambda: _outcome(built.path, case.settings(), built.roots))
    assert fast == slow
    if case.error is not None:
        assert fast == (case.error, case.limit)
