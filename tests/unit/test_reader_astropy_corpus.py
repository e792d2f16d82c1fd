"""fitsflow against every FITS file astropy ships with its own tests.

The files are found by globbing the installed astropy, never listed by hand.
Where astropy opens a file without warning that it is truncated, fitsflow
must record the same HDUs and, card for card, the same keyword, value and
comment (astropy's ``Undefined`` is None; where astropy raises on ``.value``
fitsflow keeps the card raw with an ``unparsable_card`` warning). Where
astropy refuses a file or warns that it is truncated, fitsflow must fail it
with a specific code. The differences that are understood are listed, with
their reason, in ``KNOWN_DIFFERENCES``: any other difference fails, and so
does a listed difference that no longer shows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import astropy
import pytest
from astropy.io import fits
from astropy.io.fits.card import Undefined
from astropy.io.fits.verify import VerifyError

from pipeline.errors import FitsflowError, PermanentError
from pipeline.fits import FitsFile, Hdu, read_fits
from pipeline.settings import ReaderSettings

ASTROPY_ROOT = Path(astropy.__file__).resolve().parent
PATTERNS = ("*.fits", "*.fit", "*.fts", "*.fz", "*.fits.gz", "*.fit.gz", "*.fts.gz", "*.Z")
CORPUS = sorted(
    {path for pattern in PATTERNS for path in ASTROPY_ROOT.glob(f"**/tests/data/**/{pattern}")}
)
LIMITS = ReaderSettings()

#: file (relative to astropy) -> (a phrase the difference contains, why it is right).
KNOWN_DIFFERENCES: dict[str, tuple[str, str]] = {
    "io/fits/tests/data/double_ext.fits": (
        "fitsflow refused it: truncated",
        "the primary header announces NEXTEND = 36 but the file holds 1 extension; "
        "astropy reads the 2 HDUs present, fitsflow fails the file as truncated "
        "(a file cut at an HDU boundary shows only through NEXTEND)",
    ),
    "io/fits/tests/data/invalid/group_invalid.fits": (
        "HDU 0: 7 cards, astropy has 8",
        "a random-groups header without NAXIS1: astropy inserts NAXIS1 = 0 and "
        "NAXIS = 1 while reading, fitsflow records the header as it is stored",
    ),
}
ASTROPY_KIND = {
    "PrimaryHDU": "primary",
    "GroupsHDU": "random_groups",
    "ImageHDU": "image",
    "BinTableHDU": "bintable",
    "TableHDU": "table",
}


@dataclass
class AstropyView:
    """What astropy makes of a file: per HDU, (kind, cards) — or why it refused."""

    hdus: list[tuple[str, list[tuple[str, Any, str] | None]]]
    refusal: str | None = None


def _relative(path: Path) -> str:
    return path.relative_to(ASTROPY_ROOT).as_posix()


def _astropy_cards(header: fits.Header) -> list[tuple[str, Any, str] | None]:
    """(keyword, value, comment) per card; None where astropy cannot parse the value."""
    cards: list[tuple[str, Any, str] | None] = []
    for card in header.cards:
        try:
            value, comment = card.value, card.comment
        except VerifyError:
            cards.append(None)
            continue
        cards.append((card.keyword, None if isinstance(value, Undefined) else value, comment))
    return cards


def _astropy_view(path: Path) -> AstropyView:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, disable_image_compression=True) as hdus:
                view = AstropyView(
                    [(type(hdu).__name__, _astropy_cards(hdu.header)) for hdu in hdus]
                )
        # Whatever astropy raises (OSError, VerifyError, a missing optional
        # module for LZW...) means the same here: astropy refuses the file.
        except Exception as error:  # noqa: BLE001
            return AstropyView([], refusal=f"{type(error).__name__}: {error}")
    if any("truncated" in str(warning.message) for warning in caught):
        return AstropyView([], refusal="truncated")
    return view


def _same(ours: object, theirs: object) -> bool:
    if type(ours) is not type(theirs):
        return False
    if isinstance(ours, float | complex):
        return repr(ours) == repr(theirs)  # NaN equals NaN here
    return ours == theirs


def _card_differences(index: int, hdu: Hdu, theirs: list[tuple[str, Any, str] | None]) -> list[str]:
    if len(hdu.cards) != len(theirs):
        return [f"HDU {index}: {len(hdu.cards)} cards, astropy has {len(theirs)}"]
    found = []
    for number, (card, wanted) in enumerate(zip(hdu.cards, theirs, strict=True)):
        if wanted is None:
            if card.value is not None or card.raw is None:
                found.append(f"HDU {index} card {number}: astropy cannot parse it, we read {card}")
        elif not (
            card.keyword == wanted[0] and _same(card.value, wanted[1]) and card.comment == wanted[2]
        ):
            found.append(f"HDU {index} card {number}: {card} != astropy {wanted}")
    return found


def _differences(path: Path) -> list[str]:
    """Every way fitsflow's reading of ``path`` differs from astropy's."""
    view = _astropy_view(path)
    try:
        ours: FitsFile | FitsflowError = read_fits(path, LIMITS)
    except FitsflowError as error:
        ours = error
    if view.refusal is not None:
        if isinstance(ours, FitsFile):
            codes = [warning.code for warning in ours.warnings]
            return [f"astropy refused it ({view.refusal}), fitsflow read it, warnings {codes}"]
        if not isinstance(ours, PermanentError) or type(ours) is PermanentError:
            return [f"astropy refused it ({view.refusal}), fitsflow failed it vaguely: {ours!r}"]
        if view.refusal == "truncated" and ours.code != "truncated":
            return [f"astropy warns it is truncated, fitsflow failed it as {ours.code}"]
        return []
    if isinstance(ours, FitsflowError):
        return [f"fitsflow refused it: {ours.code}: {ours.message}"]
    if len(ours.hdus) != len(view.hdus):
        return [f"{len(ours.hdus)} HDUs, astropy has {len(view.hdus)}"]
    found = []
    for index, (hdu, (astropy_type, cards)) in enumerate(zip(ours.hdus, view.hdus, strict=True)):
        kind = "bintable" if hdu.kind == "compressed_image" else hdu.kind
        if ASTROPY_KIND.get(astropy_type, kind) != kind:
            found.append(f"HDU {index}: kind {hdu.kind}, astropy has {astropy_type}")
        found += _card_differences(index, hdu, cards)
    return found


def test_the_corpus_is_found() -> None:
    assert len(CORPUS) >= 40, CORPUS
    assert {_relative(path) for path in CORPUS} >= set(KNOWN_DIFFERENCES)


@pytest.mark.parametrize("path", CORPUS, ids=_relative)
def test_reads_as_astropy_reads(path: Path) -> None:
    differences = _differences(path)
    known = KNOWN_DIFFERENCES.get(_relative(path))
    if known is None:
        assert differences == []
    else:
        phrase, reason = known
        assert any(phrase in difference for difference in differences), (reason, differences)


def _astropy_checksums(path: Path) -> tuple[list[str], bool] | None:
    """Per HDU ok/bad/absent under astropy's checksum=True, and whether it warned.

    None when astropy cannot verify the file at all (it raises).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, checksum=True, disable_image_compression=True) as hdus:
                verdicts = []
                for hdu in hdus:
                    results = {hdu.verify_checksum(), hdu.verify_datasum()}
                    verdicts.append("bad" if 0 in results else "ok" if 1 in results else "absent")
        except Exception:  # noqa: BLE001 -- astropy failing to verify, for any reason
            return None
    warned = any("verification failed" in str(warning.message) for warning in caught)
    return verdicts, warned


def test_checksum_verdicts_agree_where_astropy_can_verify() -> None:
    compared, verified = 0, 0
    for path in CORPUS:
        astropy_says = _astropy_checksums(path)
        if astropy_says is None or _relative(path) in KNOWN_DIFFERENCES:
            continue
        theirs, warned = astropy_says
        ours = [hdu.checksum for hdu in read_fits(path, LIMITS).hdus]
        assert ours == theirs, _relative(path)
        assert warned == ("bad" in ours), _relative(path)
        compared += 1
        verified += sum(verdict != "absent" for verdict in theirs)
    # Not vacuous: the corpus has good and bad checksums, and both were compared.
    assert compared >= 30 and verified >= 8
