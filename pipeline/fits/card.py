"""The nouns of a header: a card, its value, and a warning about a card."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CARD_LENGTH", "COMMENTARY_KEYWORDS", "Card", "CardValue", "CardWarning"]

CARD_LENGTH = 80
COMMENTARY_KEYWORDS = frozenset({"", "COMMENT", "HISTORY"})

#: What a card's value can be once parsed. Complex values (rare) stay complex
#: here and are stored as ``[real, imag]``.
CardValue = bool | int | float | str | complex | None


class Card(NamedTuple):
    """One header card as astropy would present it."""

    keyword: str
    value: CardValue
    comment: str
    #: The card image (printable-escaped) when its value could not be parsed.
    raw: str | None = None


class CardWarning(NamedTuple):
    """Something odd about a card that did not stop the file being read."""

    code: str
    message: str
    card_index: int
