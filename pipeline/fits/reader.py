"""Reading every HDU header of a FITS file without loading its data.

Headers are read block by block up to their END card
(:mod:`pipeline.fits.header_blocks`); each HDU's data size
comes from its mandatory keywords and the data is passed over (hashed, and
summed where CHECKSUM/DATASUM ask for it), never kept. A file shorter than its
headers imply is ``TruncatedFits`` — astropy opens such files with a warning,
fitsflow does not record them. Every input is bounded by the reader settings;
``max_header_cards`` counts the cards of all of a file's headers together,
since every card is kept.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from pipeline.errors import (
    EmptyFile,
    FileNotComplete,
    LimitExceeded,
    PermanentError,
    TruncatedFits,
)
from pipeline.fits.card import CARD_LENGTH
from pipeline.fits.cards import parse_cards
from pipeline.fits.checksum import OnesComplementSum, checksum_verdict, sum32
from pipeline.fits.header_blocks import TrailingBytes, read_header, too_many_cards
from pipeline.fits.model import FitsFile, Hdu, ReadWarning
from pipeline.fits.sniff import sniff
from pipeline.fits.source import ByteSource, Deadline, GzipSource, PlainSource, RawChunks
from pipeline.fits.structure import BLOCK_SIZE, HduLayout, describe_hdu, first_values
from pipeline.paths import open_within
from pipeline.settings import ReaderSettings

__all__ = ["read_fits"]


def read_fits(
    path: str | os.PathLike[str],
    limits: ReaderSettings,
    roots: Sequence[Path] | None = None,
) -> FitsFile:
    """Read every header of the file at ``path``.

    ``roots`` (resolved directories) confine where ``path`` may resolve to.
    Raises the permanent errors of :mod:`pipeline.errors` for bad input and
    ``FileNotComplete`` when the file changes while it is read.
    """
    file, before = open_within(path, roots)
    with file:
        try:
            compression, raw, hdus, notes = _read_open_file(file, before, limits, str(path))
        except PermanentError as error:
            # Whatever a file looked like while it changed under the reader, it
            # was not its final content: it is retried later, not failed now.
            _require_unchanged(file, before, str(path), cause=error)
            raise
        _require_unchanged(file, before, str(path))
    return FitsFile(
        path=str(path),
        size=raw.bytes_read,
        mtime=before.st_mtime,
        mtime_ns=before.st_mtime_ns,
        sha256=raw.sha256.hexdigest(),
        compression="none" if compression == "fits" else compression,
        hdus=tuple(hdus),
        warnings=tuple(notes),
    )


def _read_open_file(
    file: io.FileIO, before: os.stat_result, limits: ReaderSettings, path: str
) -> tuple[str, RawChunks, list[Hdu], list[ReadWarning]]:
    if before.st_size == 0:
        raise EmptyFile(f"{path} is empty (0 bytes)", details={"path": path})
    deadline = Deadline(limits.max_seconds_per_file)
    raw = RawChunks(file, limits.chunk_bytes, deadline)
    compression = sniff(raw.peek()[:BLOCK_SIZE])
    source: ByteSource
    if compression == "gzip":
        source = GzipSource(raw, limits.max_inflated_bytes, limits.chunk_bytes)
    else:
        source = PlainSource(raw)
    hdus, notes = _read_hdus(source, limits, before.st_size if compression == "fits" else None)
    return compression, raw, hdus, notes


def _require_unchanged(
    file: io.FileIO, before: os.stat_result, path: str, cause: BaseException | None = None
) -> None:
    after = os.fstat(file.fileno())
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise FileNotComplete(
            f"{path} changed while it was read (size {before.st_size} -> {after.st_size})",
            details={"path": path, "size_before": before.st_size, "size_after": after.st_size},
        ) from cause


def _read_hdus(
    source: ByteSource, limits: ReaderSettings, file_size: int | None
) -> tuple[list[Hdu], list[ReadWarning]]:
    hdus: list[Hdu] = []
    notes: list[ReadWarning] = []
    # Cards are parsed and kept, so the budget is for the whole file: per
    # header only, a thousand HDUs of 100,000 cards each would still fit.
    card_budget = limits.max_header_cards
    while True:
        header_offset = source.position
        try:
            header = read_header(source, len(hdus), card_budget, limits.max_header_cards)
        except TrailingBytes as trailing:
            extra = len(trailing.args[0]) + source.drain()
            notes.append(
                ReadWarning(
                    "trailing_bytes",
                    f"{extra} bytes after the last HDU do not form an extension; ignored",
                )
            )
            break
        if header is None:
            break
        card_budget -= len(header[0]) // CARD_LENGTH
        if card_budget < 0:
            raise too_many_cards(len(hdus), limits.max_header_cards)
        if len(hdus) >= limits.max_hdus:
            raise LimitExceeded(
                f"file has more than max_hdus ({limits.max_hdus}) HDUs",
                details={"limit": "max_hdus", "value": limits.max_hdus},
            )
        hdus.append(_read_hdu(source, header, header_offset, len(hdus), limits, file_size, notes))
    _check_announced_extensions(hdus, limits.trust_nextend, notes)
    return hdus, notes


def _read_hdu(
    source: ByteSource,
    header_and_end: tuple[bytes, int],
    header_offset: int,
    index: int,
    limits: ReaderSettings,
    file_size: int | None,
    notes: list[ReadWarning],
) -> Hdu:
    header, end_card = header_and_end
    cards, card_notes = parse_cards(header, end_card)
    if card_notes:
        notes.extend(ReadWarning(note.code, note.message, index) for note in card_notes)
    values = first_values(cards)
    layout = describe_hdu(values, index)
    data_offset = source.position
    _check_data_fits(source, layout, index, data_offset, limits, file_size)
    wants_sum = limits.verify_checksums and ("CHECKSUM" in values or "DATASUM" in values)
    data_sum = OnesComplementSum() if wants_sum else None
    padded = layout.padded_data_size
    skipped = source.skip(padded, data_sum.update if data_sum else None)
    if skipped < padded:
        raise TruncatedFits(
            f"HDU {index}: data ends after {skipped} of {padded} bytes the header implies",
            details={
                "hdu": index,
                "expected": data_offset + padded,
                "actual": data_offset + skipped,
            },
        )
    checksum = "absent"
    if data_sum is not None:
        checksum = checksum_verdict(values, sum32(header), data_sum.total)
        if checksum == "bad":
            notes.append(
                ReadWarning(
                    "checksum_mismatch", f"HDU {index}: CHECKSUM/DATASUM do not match", index
                )
            )
    return Hdu(
        index=index,
        layout=layout,
        cards=tuple(cards),
        header_offset=header_offset,
        data_offset=data_offset,
        checksum=checksum,
        keyword_values=values,
    )


def _check_data_fits(
    source: ByteSource,
    layout: HduLayout,
    index: int,
    data_offset: int,
    limits: ReaderSettings,
    file_size: int | None,
) -> None:
    """Refuse impossible sizes before passing over a byte of data."""
    end = data_offset + layout.padded_data_size
    if file_size is not None and end > file_size:
        raise TruncatedFits(
            f"HDU {index}: headers imply at least {end} bytes, the file has {file_size}",
            details={"hdu": index, "expected": end, "actual": file_size},
        )
    if file_size is None and end > limits.max_inflated_bytes:
        raise LimitExceeded(
            f"HDU {index}: data would inflate to {end} bytes, beyond max_inflated_bytes "
            f"({limits.max_inflated_bytes})",
            details={
                "limit": "max_inflated_bytes",
                "value": limits.max_inflated_bytes,
                "hdu": index,
            },
        )


def _check_announced_extensions(
    hdus: list[Hdu], trust_nextend: bool, notes: list[ReadWarning]
) -> None:
    """A plain file cut exactly at an HDU boundary betrays itself only by NEXTEND."""
    announced = hdus[0].values().get("NEXTEND") if hdus else None
    if not isinstance(announced, int) or isinstance(announced, bool):
        return
    present = len(hdus) - 1
    if present >= announced:
        return
    message = f"primary header announces NEXTEND = {announced} extensions, the file holds {present}"
    if trust_nextend:
        raise TruncatedFits(
            message, details={"expected_extensions": announced, "actual_extensions": present}
        )
    notes.append(ReadWarning("nextend_mismatch", message, 0))
