"""From a path to the rows that record it: read, extract, shape (no database)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import metrics
from pipeline.extract import ProductFields, extract_fields, hdu_footprint
from pipeline.fits import Card, FitsFile, Hdu, ReadWarning, read_fits
from pipeline.fits.native import native
from pipeline.jsonutil import dumps
from pipeline.repositories.products import FIELD_COLUMNS, NewHdu, NewProduct
from pipeline.settings import ReaderSettings

__all__ = ["ParsedFile", "header_object", "observe_timings", "parse_file", "parse_file_timed"]

_LISTED_KEYWORDS = frozenset({"COMMENT", "HISTORY"})


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """A file read and extracted, ready to be recorded.

    Only rows: the HDUs' headers and cards already JSON text, so that a
    parsed file crosses from a reader process in a few microseconds
    (ingest.reader_processes) instead of a tenth of a millisecond.
    """

    mtime_ns: int
    product: NewProduct
    hdus: tuple[NewHdu, ...]


def parse_file(
    path: str | os.PathLike[str], limits: ReaderSettings, roots: Sequence[Path] | None
) -> ParsedFile:
    """Read ``path`` and build its product and HDU rows.

    Raises the reader's errors (permanent for bad input, ``FileNotComplete``
    when the file changed while it was read).
    """
    timings: list[float] = []
    try:
        return parse_file_timed(path, limits, roots, timings)
    finally:
        observe_timings(timings)


def parse_file_timed(
    path: str | os.PathLike[str],
    limits: ReaderSettings,
    roots: Sequence[Path] | None,
    timings: list[float],
) -> ParsedFile:
    """:func:`parse_file` with its phases' seconds appended to ``timings``
    instead of observed — read (also when it raises), then extract (once
    read): a reader process's metrics are not scraped, its parent observes them."""
    started = time.perf_counter()
    try:
        fits = read_fits(path, limits, roots)
    finally:
        timings.append(time.perf_counter() - started)
    started = time.perf_counter()
    try:
        return _shape(fits, extract_fields(fits.hdus))
    finally:
        timings.append(time.perf_counter() - started)


def observe_timings(timings: Sequence[float]) -> None:
    """Observe what :func:`parse_file_timed` recorded: read, then extract."""
    for phase, seconds in zip(("read", "extract"), timings, strict=False):
        metrics.observe_phase(phase, seconds)


def _shape(fits: FitsFile, fields: ProductFields) -> ParsedFile:
    mtime_ns = fits.mtime_ns
    product = NewProduct(
        sha256=fits.sha256,
        path=fits.path,
        size=fits.size,
        mtime_ns=mtime_ns,
        version=1,
        compression=fits.compression,
        hdu_count=len(fits.hdus),
        checksum_status=fits.checksum,
        fields=_field_values(fields),
        warnings=[_warning(note) for note in (*fits.warnings, *fields.warnings)],
    )
    return ParsedFile(mtime_ns, product, tuple(_hdu_row(hdu, fields) for hdu in fits.hdus))


def _field_values(fields: ProductFields) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in FIELD_COLUMNS:
        value = getattr(fields, name)
        if name == "footprint" and value is not None:
            value = [list(corner) for corner in value]
        elif name == "naxis" and value is not None:
            value = list(value)
        values[name] = value
    return values


def _warning(note: ReadWarning) -> dict[str, Any]:
    return {"code": note.code, "message": note.message, "hdu": note.hdu}


def _hdu_row(hdu: Hdu, fields: ProductFields) -> NewHdu:
    # extract_fields has already computed the science HDU's footprint.
    science = hdu.index == fields.science_hdu
    footprint = fields.footprint if science else hdu_footprint(hdu)
    return NewHdu(
        hdu_index=hdu.index,
        name=hdu.name,
        kind=hdu.kind,
        naxis=list(hdu.layout.science_naxis),
        bitpix=hdu.layout.science_bitpix,
        data_size=hdu.layout.data_size,
        header_offset=hdu.header_offset,
        data_offset=hdu.data_offset,
        checksum_status=hdu.checksum,
        footprint=[list(corner) for corner in footprint] if footprint else None,
        header_json=dumps(header_object(hdu.cards)),
        cards_json=dumps(card_rows(hdu.cards)),
    )


def header_object_python(cards: Sequence[Card]) -> dict[str, Any]:
    """Keyword → value (first occurrence), COMMENT/HISTORY as lists: for queries."""
    header: dict[str, Any] = {}
    # Cards unpacked as the tuples they are: a thousand-card header makes
    # attribute look-ups a measurable share of shaping its rows.
    for keyword, value, _, _ in cards:
        if keyword in header:
            if keyword in _LISTED_KEYWORDS:
                header[keyword].append(value)
        elif keyword in _LISTED_KEYWORDS:
            header[keyword] = [value]
        elif keyword:
            header[keyword] = value
    return header


def card_rows_python(cards: Sequence[Card]) -> list[list[Any]]:
    """``[keyword, value, comment]`` per card, ``raw`` appended when kept."""
    return [
        [keyword, value, comment] if raw is None else [keyword, value, comment, raw]
        for keyword, value, comment, raw in cards
    ]


# The compiled twins (pipeline/fits/_cheader.c) when built: the same rows,
# the same dict in the same order, without a trip through the interpreter
# per card (a sixth of parse_file's time for a 100-card image).
_compiled_header_object = None if native is None else native.header_object
card_rows: Callable[[Sequence[Card]], list[list[Any]]] = (
    card_rows_python if native is None else native.card_rows
)


def header_object(cards: Sequence[Card]) -> dict[str, Any]:
    """Keyword → value (first occurrence), COMMENT/HISTORY as lists: for queries."""
    if _compiled_header_object is None:
        return header_object_python(cards)
    return _compiled_header_object(cards, _LISTED_KEYWORDS)
