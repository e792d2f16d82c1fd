"""Types of the C card tokenizer (``_ctokenizer.c``); see :mod:`pipeline.fits.cards`."""

from pipeline.fits.card import Card

def tokenize(
    header: bytes, count: int, card_type: type[Card], /
) -> tuple[list[Card | None], list[tuple[int, int, int]]] | None: ...
