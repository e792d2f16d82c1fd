"""Types of the compiled helpers (``_ctokenizer.c``, ``_cheader.c``); see
:mod:`pipeline.fits.native`."""

from collections.abc import Sequence

from pipeline.fits.card import Card, CardValue

def tokenize(
    header: bytes, count: int, card_type: type[Card], /
) -> tuple[list[Card | None], list[tuple[int, int, int]]] | None: ...
def scan_blocks(data: bytes | memoryview, /) -> tuple[int, bool]: ...
def first_values(cards: Sequence[Card], /) -> dict[str, CardValue]: ...
