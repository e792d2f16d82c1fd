"""Turning header bytes into cards, with astropy's meaning for every value.

A header of printable ASCII — nearly all of them — goes to a tokenizer that
handles the common card shapes itself and hands every other card to
astropy's own parsing (:mod:`pipeline.fits.astropy_cards`). There are two,
producing the same cards:

- ``c``: :mod:`pipeline.fits._ctokenizer` (:mod:`pipeline.fits.native`); the
  pieces it declines (a card, or a card with its CONTINUE cards) go one by
  one to the Python tokenizer below (:func:`~pipeline.fits.tokenizer.tokenize_piece`).
- ``python``: :mod:`pipeline.fits.tokenizer`, the reference, used when the
  extension is not built (a debug line says which one is in use).

A header with any other byte is parsed card by card by astropy, each such
card flagged ``non_ascii_card``.

A card astropy cannot parse either does not fail the file: its value is
``None``, its image is kept in ``raw`` and a warning is recorded.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.fits.astropy_cards import escape, parse_one, parse_with_astropy
from pipeline.fits.card import (
    CARD_LENGTH,
    COMMENTARY_KEYWORDS,
    Card,
    CardValue,
    CardWarning,
)
from pipeline.fits.native import announce, native
from pipeline.fits.tokenizer import tokenize, tokenize_piece

__all__ = [
    "CARD_LENGTH",
    "COMMENTARY_KEYWORDS",
    "DEFAULT_TOKENIZER",
    "TOKENIZERS",
    "Card",
    "CardValue",
    "CardWarning",
    "parse_cards",
]

#: What a tokenizer returns for one header: its cards and the warnings about
#: them, or None when the header holds bytes outside printable ASCII.
Tokenized = tuple[list[Card], list[CardWarning]] | None
#: A tokenizer: the header bytes and how many cards of them to read.
Tokenizer = Callable[[bytes, int], Tokenized]

_PRINTABLE = bytes(range(0x20, 0x7F))


def _tokenize_python(header: bytes, count: int) -> Tokenized:
    """The pure-Python tokenizer, the reference."""
    cards = header[: count * CARD_LENGTH]
    if cards.translate(None, _PRINTABLE):
        return None
    return tokenize(cards.decode("ascii"))


def _tokenize_c(header: bytes, count: int) -> Tokenized:
    """The C tokenizer, its declined pieces read by the Python one."""
    result = native.tokenize(header, count, Card)
    if result is None:
        return None
    cards, declined = result
    problems: list[CardWarning] = []
    # In card order, so that warnings come out in the order tokenize() gives.
    for index, start, stop in declined:
        cards[index] = tokenize_piece(header[start:stop].decode("ascii"), index, problems)
    return cards, problems  # type: ignore[return-value]  # every None replaced above


#: The tokenizers that can run here, by name.
TOKENIZERS: dict[str, Tokenizer] = {"python": _tokenize_python}
if native is not None:
    TOKENIZERS["c"] = _tokenize_c
#: The one :func:`parse_cards` uses unless told otherwise.
DEFAULT_TOKENIZER = "c" if native is not None else "python"


def parse_cards(
    header: bytes, count: int | None = None, tokenizer: str | None = None
) -> tuple[list[Card], list[CardWarning]]:
    """Parse the first ``count`` cards of one header (all of it by default).

    ``header`` holds whole 80-byte cards; those parsed must come before END.
    CONTINUE cards are joined to the card before them, as astropy's
    ``Header.fromstring`` does. ``tokenizer`` names one of :data:`TOKENIZERS`
    (default :data:`DEFAULT_TOKENIZER`).
    """
    announce()
    if count is None:
        count = len(header) // CARD_LENGTH
    tokenized = TOKENIZERS[tokenizer or DEFAULT_TOKENIZER](header, count)
    if tokenized is not None:
        return tokenized
    return _parse_unclean(header[: count * CARD_LENGTH].decode("latin-1"))


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
