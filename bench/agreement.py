"""Before timing a reader, prove it reads what astropy reads.

A faster wrong reader is not faster: the header benchmark compares fitsflow
with astropy (``fits.open(..., disable_image_compression=True)``, the stored
headers) on every card of every file it is about to time — same HDUs, and
per card the same keyword, value (same type; floats by ``repr``, so NaN and
-0.0 count) and comment. astropy's ``Undefined`` is None; where astropy
cannot parse a value fitsflow must keep the card raw with a None value.

Files that either reader refuses are not timed (they are listed, with the
reason), nor are the differences understood and listed in
``KNOWN_DIFFERENCES`` (as in ``tests/unit/test_reader_astropy_corpus.py``);
any other difference stops the benchmark.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astropy.io import fits
from astropy.io.fits.card import Undefined
from astropy.io.fits.verify import VerifyError

from pipeline.errors import FitsflowError
from pipeline.fits import FitsFile, read_fits
from pipeline.settings import ReaderSettings

__all__ = ["KNOWN_DIFFERENCES", "Agreement", "check_agreement"]

AstropyCard = tuple[str, Any, str] | None

#: File name -> why fitsflow's reading differs from astropy's, and is right.
KNOWN_DIFFERENCES = {
    "group_invalid.fits": "a random-groups header without NAXIS1: astropy inserts "
    "NAXIS1 = 0 while reading, fitsflow records the header as it is stored",
}


@dataclass
class Agreement:
    """Which files both readers read alike, which were left out and why."""

    agreed: list[Path] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)
    differences: dict[str, list[str]] = field(default_factory=dict)
    cards_compared: int = 0


def check_agreement(paths: list[Path] | tuple[Path, ...], limits: ReaderSettings) -> Agreement:
    """Compare fitsflow and astropy on every card of ``paths``."""
    result = Agreement()
    for path in paths:
        theirs = _astropy_cards(path)
        try:
            ours = read_fits(path, limits)
        except FitsflowError as error:
            result.excluded[path.name] = f"fitsflow refuses it: {error.code}"
            continue
        if isinstance(theirs, str):
            result.excluded[path.name] = f"astropy refuses it: {theirs}"
            continue
        found = _differences(ours, theirs)
        if found and path.name in KNOWN_DIFFERENCES:
            result.excluded[path.name] = f"known difference: {KNOWN_DIFFERENCES[path.name]}"
            continue
        if found:
            result.differences[path.name] = found
            continue
        result.agreed.append(path)
        result.cards_compared += sum(len(hdu.cards) for hdu in ours.hdus)
    return result


def _astropy_cards(path: Path) -> list[list[AstropyCard]] | str:
    """Per HDU, per card (keyword, value, comment) — or why astropy refused the file."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, disable_image_compression=True) as hdus:
                cards = [[_astropy_card(card) for card in hdu.header.cards] for hdu in hdus]
        # astropy refusing a file, for whatever reason (OSError, VerifyError,
        # a missing optional module for LZW...), is one outcome here.
        except Exception as error:  # noqa: BLE001
            return f"{type(error).__name__}: {error}"
    if any("truncated" in str(warning.message) for warning in caught):
        return "truncated"
    return cards


def _astropy_card(card: fits.Card) -> AstropyCard:
    try:
        value, comment = card.value, card.comment
    except VerifyError:
        return None
    return (card.keyword, None if isinstance(value, Undefined) else value, comment)


def _differences(ours: FitsFile, theirs: list[list[AstropyCard]]) -> list[str]:
    if len(ours.hdus) != len(theirs):
        return [f"{len(ours.hdus)} HDUs, astropy has {len(theirs)}"]
    found = []
    for hdu, cards in zip(ours.hdus, theirs, strict=True):
        if len(hdu.cards) != len(cards):
            found.append(f"HDU {hdu.index}: {len(hdu.cards)} cards, astropy has {len(cards)}")
            continue
        for number, (card, wanted) in enumerate(zip(hdu.cards, cards, strict=True)):
            if wanted is None:
                same = card.value is None and card.raw is not None
            else:
                same = (
                    card.keyword == wanted[0]
                    and _same(card.value, wanted[1])
                    and card.comment == wanted[2]
                )
            if not same:
                found.append(f"HDU {hdu.index} card {number}: {card} != astropy {wanted}")
    return found


def _same(ours: object, theirs: object) -> bool:
    if type(ours) is not type(theirs):
        return False
    if isinstance(ours, float | complex):
        return repr(ours) == repr(theirs)
    return ours == theirs
