"""Reading a header's blocks several at a time changes nothing a reader sees.

:func:`pipeline.fits.header_blocks.read_header` takes the blocks its source
already holds in groups, scans them with the compiled ``scan_blocks`` (or its
Python twin) and gives back what it read past the END card. Here it is
compared with the plain block-by-block algorithm it replaced — kept below as
the oracle — on generated streams cut into chunks anywhere: the same header
or the same error (type, message, details), and after a header the source
at the same position with the bytes after it intact.
"""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.errors import FitsflowError, LimitExceeded, MalformedHeader, TruncatedFits
from pipeline.fits import header_blocks
from pipeline.fits.header_blocks import TrailingBytes, read_header, scan_blocks_python
from pipeline.fits.native import native
from pipeline.fits.source import ByteSource

BLOCK = 2880
CARDS = 36
KEYWORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
PRINTABLE = bytes(range(0x20, 0x7F))


def _oracle(
    source: ByteSource, index: int, budget: int, max_cards: int
) -> tuple[bytes, int] | None:
    """The reader's block loop before blocks were taken in groups."""
    blocks: list[bytes] = []
    while True:
        block = source.read(BLOCK)
        if not blocks and index > 0:
            if not block:
                return None
            if len(block) == BLOCK and not block.startswith(b"XTENSION"):
                raise TrailingBytes(block)
            if len(block) < BLOCK and not block.startswith(b"XTENSION"[: len(block)]):
                raise TruncatedFits(
                    f"{len(block)} bytes after the last HDU: the file is not a whole number "
                    "of 2880-byte blocks (cut short, or damaged in transfer)",
                    details={"hdu": index, "offset": source.position - len(block)},
                )
        if len(block) < BLOCK:
            raise TruncatedFits(
                f"HDU {index}: header ends after {len(blocks) * BLOCK + len(block)} bytes, "
                "before its END card",
                details={"hdu": index, "offset": source.position},
            )
        blocks.append(block)
        if (end := _end_card_index(block)) >= 0:
            return b"".join(blocks), (len(blocks) - 1) * CARDS + end
        if len(blocks) * CARDS > budget:
            raise LimitExceeded(
                f"HDU {index}: the headers hold more than max_header_cards ({max_cards}) cards",
                details={"limit": "max_header_cards", "value": max_cards, "hdu": index},
            )
        if _looks_binary(block):
            raise MalformedHeader(
                f"HDU {index}: no END card before non-header bytes at offset "
                f"{source.position - BLOCK}",
                details={"hdu": index, "offset": source.position - BLOCK},
            )


def _end_card_index(data: bytes) -> int:
    position = data.find(b"END")
    while position >= 0:
        if position % 80 == 0:
            rest = data[position + 3 : position + 80]
            if not rest or rest[0] not in KEYWORD_BYTES:
                return position // 80
        position = data.find(b"END", position + 1)
    return -1


def _looks_binary(block: bytes) -> bool:
    if not block.translate(None, PRINTABLE):
        return False
    fields = b"".join(block[i : i + 8] for i in range(0, BLOCK, 80))
    return len(fields.translate(None, PRINTABLE)) > len(fields) // 4


def _card(text: str) -> bytes:
    return text.encode("latin-1")[:80].ljust(80)


TEXT_CARD = _card("KEY     = 'value'")
END_CARD = _card("END")
block_kinds = st.sampled_from(["text", "end", "end-late", "binary", "noisy", "xtension", "end-ish"])


def _block(kind: str, seed: int) -> bytes:
    if kind == "text":
        return TEXT_CARD * CARDS
    if kind == "end":
        return TEXT_CARD * (seed % CARDS) + END_CARD * (CARDS - seed % CARDS)
    if kind == "end-late":
        return TEXT_CARD * 35 + _card("END     junk")
    if kind == "binary":
        return bytes(range(256)) * 11 + bytes(64)
    if kind == "noisy":  # a few bytes of junk in a text block: not binary
        return (TEXT_CARD * CARDS)[:100] + b"\x00\x01" + (TEXT_CARD * CARDS)[102:]
    if kind == "xtension":
        return _card("XTENSION= 'IMAGE   '") + TEXT_CARD * 35
    return _card("ENDX    = 1") * CARDS  # END-like, not END


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    kinds = draw(st.lists(block_kinds, min_size=0, max_size=12))
    data = b"".join(_block(kind, draw(st.integers(0, 1000))) for kind in kinds)
    data += draw(st.sampled_from([b"", b"XTEN", b"junk", b" " * 100]))
    cuts = sorted(draw(st.lists(st.integers(0, max(len(data), 1)), max_size=6)))
    return data, cuts


def _source(data: bytes, cuts: list[int]) -> ByteSource:
    edges = [0, *cuts, len(data)]
    chunks = [data[a:b] for a, b in itertools.pairwise(edges) if b > a]
    return ByteSource(iter(chunks))


def _outcome(
    reader: object, data: bytes, cuts: list[int], index: int, budget: int
) -> tuple[object, ...]:
    source = _source(data, cuts)
    try:
        result = reader(source, index, budget, 1000)  # type: ignore[operator]
    except TrailingBytes as trailing:
        # The reader goes on from here (it drains the rest): same place.
        return ("trailing", trailing.args, source.position)
    except FitsflowError as error:
        # The file is failed: where the source stopped no longer matters.
        return ("raised", type(error).__name__, str(error), error.details)
    after = source.read(5000)
    return ("read", result, source.position - len(after), after)


SCANS = {"python": scan_blocks_python}
if native is not None:
    SCANS["c"] = native.scan_blocks


@pytest.fixture(params=["c", "python"], scope="module")
def scan(request: pytest.FixtureRequest) -> str:
    if request.param not in SCANS:
        message = "the C helpers are not built (pip install -e . with a C compiler)"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI requires them)")
        pytest.skip(message)
    return str(request.param)


@settings(max_examples=1500, deadline=None)
@given(streams(), st.integers(0, 2), st.sampled_from([36, 100, 360, 1000]))
def test_grouped_reading_is_block_by_block_reading(
    scan: str, stream: tuple[bytes, list[int]], index: int, budget: int
) -> None:
    data, cuts = stream
    original = header_blocks._scan_blocks
    header_blocks._scan_blocks = SCANS[scan]
    try:
        ours = _outcome(read_header, data, cuts, index, budget)
    finally:
        header_blocks._scan_blocks = original
    assert ours == _outcome(_oracle, data, cuts, index, budget)


def test_a_long_header_in_one_chunk_is_read_in_groups_and_the_rest_given_back() -> None:
    header = TEXT_CARD * (CARDS * 30) + END_CARD + TEXT_CARD * (CARDS - 1)
    data = header + b"D" * (BLOCK * 3)
    source = _source(data, [])
    result = read_header(source, 0, 100_000, 100_000)
    assert result == (header, CARDS * 30)
    assert source.position == len(header)
    assert source.read(BLOCK * 3) == b"D" * (BLOCK * 3)
