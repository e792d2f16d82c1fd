"""Reading one header's 2880-byte blocks, up to and including its END card.

The rules, block after block, are the reader's:

- the first block of an extension must start ``XTENSION``; whole blocks
  after the last HDU that do not are trailing bytes (``TrailingBytes``), a
  partial block there is a file cut short;
- a partial block where a header continues is a file cut short;
- the END card is ``END`` followed by anything that cannot continue a
  keyword, at the start of a card;
- a header may not run past the file's card budget (``max_header_cards``);
- a block without END whose keyword fields are mostly not printable is data
  read as a header: the END card is missing.

Blocks the source already holds (a chunk is a megabyte) are taken several at
a time and scanned together, by the compiled helper when it is built: a
thousand-card header is 35 blocks, and a Python loop per block was a fifth
of its reading time. Blocks read past the END card are given back to the
source. When a group of blocks is anything but clean printable text within
the budget, it is gone through block by block, so that the error raised is
the one the first offending block gives.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.errors import LimitExceeded, MalformedHeader, TruncatedFits
from pipeline.fits.card import CARD_LENGTH
from pipeline.fits.native import native
from pipeline.fits.source import ByteSource
from pipeline.fits.structure import BLOCK_SIZE

__all__ = [
    "CARDS_PER_BLOCK",
    "TrailingBytes",
    "read_header",
    "scan_blocks_python",
    "too_many_cards",
]

CARDS_PER_BLOCK = BLOCK_SIZE // CARD_LENGTH
_KEYWORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_PRINTABLE = bytes(range(0x20, 0x7F))
_XTENSION = b"XTENSION"
# Blocks taken at once from what the source holds: few for the second read
# (most headers end within three blocks), more for each read after that.
_FIRST_GROUP = 4
_LARGEST_GROUP = 64

Blocks = bytes | memoryview


class TrailingBytes(Exception):
    """Bytes after the last HDU that do not begin another extension."""


def read_header(
    source: ByteSource, index: int, budget: int, max_cards: int
) -> tuple[bytes, int] | None:
    """The header blocks of HDU ``index`` up to and including END, and the
    END card's index among them; None at EOF (after the primary HDU).

    ``budget`` is how many more cards the file may hold (of ``max_cards``).
    """
    first = _first_block(source, index)
    if first is None:
        return None
    pieces: list[Blocks] = []
    blocks = 0
    group: Blocks = first
    wanted = _FIRST_GROUP
    while True:
        offset = source.position - len(group)
        end = _take(group, blocks, offset, index, budget, max_cards)
        if end >= 0:
            used = (end // CARDS_PER_BLOCK + 1) * BLOCK_SIZE
            if used < len(group):
                source.unread(len(group) - used)
                group = group[:used]
            pieces.append(group)
            header = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            return bytes(header), blocks * CARDS_PER_BLOCK + end
        pieces.append(group)
        blocks += len(group) // BLOCK_SIZE
        group = _next_blocks(source, index, blocks, wanted)
        wanted = min(2 * wanted, _LARGEST_GROUP)


def _first_block(source: ByteSource, index: int) -> bytes | None:
    block = source.read(BLOCK_SIZE)
    if index > 0:
        if not block:
            return None
        # Whole blocks after the last HDU that do not start an extension
        # are extra (astropy warns and ignores them too).
        if len(block) == BLOCK_SIZE and not block.startswith(_XTENSION):
            raise TrailingBytes(block)
        if len(block) < BLOCK_SIZE and not block.startswith(_XTENSION[: len(block)]):
            # FITS files are whole blocks; like astropy, a ragged end is a cut.
            raise TruncatedFits(
                f"{len(block)} bytes after the last HDU: the file is not a whole number "
                "of 2880-byte blocks (cut short, or damaged in transfer)",
                details={"hdu": index, "offset": source.position - len(block)},
            )
    if len(block) < BLOCK_SIZE:
        raise _cut_short(source, index, 0, block)
    return block


def _next_blocks(source: ByteSource, index: int, blocks: int, wanted: int) -> Blocks:
    """Up to ``wanted`` whole blocks the source holds; else the next block read."""
    held = source.read_buffered(wanted * BLOCK_SIZE)
    whole = len(held) - len(held) % BLOCK_SIZE
    if whole < len(held):
        source.unread(len(held) - whole)
    if whole:
        return held[:whole]
    block = source.read(BLOCK_SIZE)
    if len(block) < BLOCK_SIZE:
        raise _cut_short(source, index, blocks, block)
    return block


def _cut_short(source: ByteSource, index: int, blocks: int, block: bytes) -> TruncatedFits:
    """A partial block where a header starts or continues: the file was cut."""
    return TruncatedFits(
        f"HDU {index}: header ends after {blocks * BLOCK_SIZE + len(block)} bytes, "
        "before its END card",
        details={"hdu": index, "offset": source.position},
    )


def _take(group: Blocks, before: int, offset: int, index: int, budget: int, max_cards: int) -> int:
    """The END card's index in ``group`` (whole blocks), or -1 if it has none.

    ``before`` blocks of this header came first; ``group`` starts at byte
    ``offset`` of the stream. Raises as the first block at fault would.
    """
    end, printable = _scan_blocks(group)
    count = len(group) // BLOCK_SIZE
    without_end = count if end < 0 else end // CARDS_PER_BLOCK
    if printable and (before + without_end) * CARDS_PER_BLOCK <= budget:
        return end  # the usual case: text, within budget
    for number in range(count):
        block = bytes(group[number * BLOCK_SIZE : (number + 1) * BLOCK_SIZE])
        if (found := _end_card_index(block)) >= 0:
            return number * CARDS_PER_BLOCK + found
        if (before + number + 1) * CARDS_PER_BLOCK > budget:
            raise too_many_cards(index, max_cards)
        if _looks_binary(block):
            at = offset + number * BLOCK_SIZE
            raise MalformedHeader(
                f"HDU {index}: no END card before non-header bytes at offset {at}",
                details={"hdu": index, "offset": at},
            )
    return -1


def too_many_cards(index: int, max_cards: int) -> LimitExceeded:
    """The error for a file whose headers hold more than ``max_cards`` cards."""
    return LimitExceeded(
        f"HDU {index}: the headers hold more than max_header_cards ({max_cards}) cards",
        details={"limit": "max_header_cards", "value": max_cards, "hdu": index},
    )


def scan_blocks_python(data: Blocks) -> tuple[int, bool]:
    """The END card's index in ``data`` (whole blocks; the first block that
    has one decides), or -1; and whether every block before that one (every
    block, without END) is printable ASCII."""
    printable = True
    for start in range(0, len(data), BLOCK_SIZE):
        block = bytes(data[start : start + BLOCK_SIZE])
        if (end := _end_card_index(block)) >= 0:
            return start // CARD_LENGTH + end, printable
        printable = printable and not block.translate(None, _PRINTABLE)
    return -1, printable


#: :func:`scan_blocks_python`, or its compiled twin (``scan_blocks`` in
#: ``_cheader.c``): bytes.find of "END" and the printable check cost ~4 µs a
#: block in Python, ~0.1 µs in C.
_scan_blocks: Callable[[Blocks], tuple[int, bool]] = (
    scan_blocks_python if native is None else native.scan_blocks
)


def _end_card_index(data: bytes) -> int:
    """Index of the END card among ``data``'s cards, or -1.

    Like astropy, ``END`` followed by anything that cannot continue a keyword
    — a space included — counts: ``END     junk`` has the keyword END, and an
    END card with junk after it is still the end.
    """
    position = data.find(b"END")
    while position >= 0:
        if position % CARD_LENGTH == 0:
            rest = data[position + 3 : position + CARD_LENGTH]
            if not rest or rest[0] not in _KEYWORD_BYTES:
                return position // CARD_LENGTH
        position = data.find(b"END", position + 1)
    return -1


def _looks_binary(block: bytes) -> bool:
    """Whether most keyword fields of ``block`` hold non-printable bytes."""
    if not block.translate(None, _PRINTABLE):
        return False  # the usual header block: checked in C, at once
    fields = b"".join(block[i : i + 8] for i in range(0, BLOCK_SIZE, CARD_LENGTH))
    return len(fields.translate(None, _PRINTABLE)) > len(fields) // 4
