"""The header readers the header benchmark races, each over a list of files.

Each ``*_reader`` returns a function of no arguments that reads every file
once. All materialise every card value of the HDUs they read, so the work
compared is the same:

- ``fitsflow``: :func:`read_fits` + :func:`extract_fields` — every HDU,
  every value, the normalised fields; it also hashes every byte (SHA-256)
  and verifies CHECKSUM/DATASUM where present, which astropy does not.
- ``fitsflow_parse_file``: :func:`parse_file`, what a worker does before its
  commit (the above plus per-HDU footprints and the database rows).
- ``astropy_open``: ``fits.open(path, disable_image_compression=True)`` and
  ``[card.value for hdu in hdul for card in hdu.header.cards]`` (a value
  astropy cannot parse, present in its test data, is skipped). With image
  compression disabled astropy reads the stored headers — the cards
  fitsflow reads and the agreement check compares — and skips building the
  decompressed image's header: the faster astropy, so the ratio is the
  conservative one.
- ``astropy_getheader``: ``fits.getheader(path, index)`` for each HDU (the
  common idiom; it reopens the file per HDU), every value materialised.
- ``image_file_collection``: ccdproc's ``ImageFileCollection`` over the
  corpus directory — it indexes the primary header of each file (its
  default), every keyword, into a table.
- ``floor``: ``os.pread`` of exactly the header bytes of every HDU, no
  parsing (for gzip files: the compressed file, read whole).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from astropy.io import fits
from astropy.io.fits.verify import VerifyError

from pipeline.extract import extract_fields
from pipeline.fits import read_fits
from pipeline.ingest.parse import parse_file
from pipeline.settings import ReaderSettings

__all__ = [
    "HeaderRanges",
    "astropy_getheader_reader",
    "astropy_open_reader",
    "fitsflow_parse_file_reader",
    "fitsflow_reader",
    "floor_reader",
    "header_ranges",
    "image_file_collection_reader",
]

Reader = Callable[[], None]
#: Per file: (offset, length) of each HDU's header (None for a gzip file),
#: and its number of HDUs.
HeaderRanges = list[tuple[Path, list[tuple[int, int]] | None, int]]


def fitsflow_reader(paths: Sequence[Path], limits: ReaderSettings) -> Reader:
    def read() -> None:
        for path in paths:
            extract_fields(read_fits(path, limits).hdus)

    return read


def fitsflow_parse_file_reader(paths: Sequence[Path], limits: ReaderSettings) -> Reader:
    def read() -> None:
        for path in paths:
            parse_file(path, limits, None)

    return read


def astropy_open_reader(paths: Sequence[Path]) -> Reader:
    def read() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for path in paths:
                with fits.open(path, disable_image_compression=True) as hdul:
                    for hdu in hdul:
                        _values(hdu.header)

    return read


def astropy_getheader_reader(paths: Sequence[Path], hdu_counts: Sequence[int]) -> Reader:
    def read() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for path, count in zip(paths, hdu_counts, strict=True):
                for index in range(count):
                    _values(fits.getheader(path, index, disable_image_compression=True))

    return read


def _values(header: fits.Header) -> list[object]:
    """Every card's value; a card astropy cannot parse (astropy's test data has
    some) raises VerifyError on ``.value``, and is skipped as a user would."""
    values: list[object] = []
    for card in header.cards:
        try:
            values.append(card.value)
        except VerifyError:
            values.append(None)
    return values


def image_file_collection_reader(directory: Path) -> Reader | None:
    """None when ccdproc is not installed (``pip install -e '.[bench]'``)."""
    try:
        from ccdproc import ImageFileCollection
    except ImportError:
        return None

    def read() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ImageFileCollection(location=str(directory))

    return read


def header_ranges(paths: Sequence[Path], limits: ReaderSettings) -> HeaderRanges:
    """Where each HDU's header lies, as fitsflow found it (None: gzip, read whole)."""
    ranges: HeaderRanges = []
    for path in paths:
        fits_file = read_fits(path, limits)
        hdus = fits_file.hdus
        spans = [(hdu.header_offset, hdu.data_offset - hdu.header_offset) for hdu in hdus]
        ranges.append((path, None if fits_file.compression == "gzip" else spans, len(hdus)))
    return ranges


def floor_reader(ranges: HeaderRanges) -> Reader:
    def read() -> None:
        for path, spans, _ in ranges:
            descriptor = os.open(path, os.O_RDONLY)
            try:
                if spans is None:
                    os.read(descriptor, os.fstat(descriptor).st_size)
                else:
                    for offset, length in spans:
                        os.pread(descriptor, length, offset)
            finally:
                os.close(descriptor)

    return read
