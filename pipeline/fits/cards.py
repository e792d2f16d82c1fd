"""Turning header bytes into cards, with astropy's meaning for every value.

A header of printable ASCII — nearly all of them — goes to the tokenizer
(:mod:`pipeline.fits.tokenizer`), which handles the common card shapes with
string methods and hands every other card to astropy's own parsing
(:mod:`pipeline.fits.astropy_cards`). A header with any other byte is parsed
card by card by astropy, each such card flagged ``non_ascii_card``.

A card astropy cannot parse either does not fail the file: its value is
``None``, its image is kept in ``raw`` and a warning is recorded.
"""

from __future__ import annotations

from pipeline.fits.astropy_cards import escape, parse_one, parse_with_astropy
from pipeline.fits.card import (
    CARD_LENGTH,
    COMMENTARY_KEYWORDS,
    Card,
    CardValue,
    CardWarning,
)
from pipeline.fits.tokenizer import tokenize

__all__ = [
    "CARD_LENGTH",
    "COMMENTARY_KEYWORDS",
    "Card",
    "CardValue",
    "CardWarning",
    "parse_cards",
]

_PRINTABLE = bytes(range(0x20, 0x7F))


def parse_cards(header: bytes) -> tuple[list[Card], list[CardWarning]]:
    """Parse the cards of one header, ``header`` ending just before END.

    ``header`` must be a whole number of 80-byte cards. CONTINUE cards are
    joined to the card before them, as astropy's ``Header.fromstring`` does.
    """
    if not header.translate(None, _PRINTABLE):
        return tokenize(header.decode("ascii"))
    return _parse_unclean(header.decode("latin-1"))


def _parse_unclean(text: str) -> tuple[list[Card], list[CardWarning]]:
    """Card by card through astropy, for a header holding non-printable bytes."""
    images = [text[i : i + CARD_LENGTH] for i in range(0, len(text), CARD_LENGTH)]
    cards: list[Card] = []
    problems: list[CardWarning] = []
    count = len(images)
    i = 0
    while i < count:
        j = i + 1
        while j < count and images[j].startswith("CONTINUE"):
            j += 1
        image = "".join(images[i:j])
        # Latin-1 letters are printable to Python but are not FITS: ASCII is
        # checked too, for a CONTINUE sequence as for a single card.
        if not (image.isascii() and image.isprintable()):
            problems.append(
                CardWarning(
                    "non_ascii_card",
                    f"card {len(cards)} holds bytes outside printable ASCII: {escape(image)}",
                    len(cards),
                )
            )
            cards.append(parse_with_astropy(image, len(cards), problems))
        elif j > i + 1:
            cards.append(parse_with_astropy(image, len(cards), problems))
        else:
            cards.append(parse_one(image, len(cards), problems))
        i = j
    return cards, problems
