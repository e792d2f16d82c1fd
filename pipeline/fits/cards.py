"""Turning header bytes into cards, with astropy's meaning for every value.

The common card shapes (``KEYWORD = value / comment`` with a standard
keyword, and commentary cards) are tokenised here with astropy's own value
regex, so strings, numbers, booleans and comments come out exactly as
``astropy.io.fits.Card`` would give them. Everything unusual — CONTINUE long
strings, HIERARCH, record-valued keywords, complex numbers, non-standard
keyword fields — is handed to ``astropy.io.fits.Card.fromstring``.

A card astropy cannot parse either (IRAF ``INDEF``, unquoted ``NAN``, NUL
bytes, an unterminated string) does not fail the file: its value is ``None``,
its image is kept in ``raw`` and a warning is recorded.
"""

from __future__ import annotations

import re
import warnings
from typing import NamedTuple

from astropy.io.fits import Card as AstropyCard
from astropy.io.fits.card import UNDEFINED
from astropy.io.fits.verify import VerifyError

__all__ = [
    "CARD_LENGTH",
    "COMMENTARY_KEYWORDS",
    "Card",
    "CardValue",
    "CardWarning",
    "parse_cards",
]

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


# astropy's own regular expressions: reusing them is what makes the fast path
# agree with astropy on every string, number and comment it accepts.
_VALUE_RE = AstropyCard._value_NFSC_RE
_NUMBER_RE = AstropyCard._number_NFSC_RE
_STANDARD_KEYWORD = re.compile(r"[A-Z0-9_-]{1,8} *\Z")
# A string value shaped like 'AXIS.1: 2' makes astropy read the card as a
# record-valued keyword; those go to astropy.
_RVKC_STRING = re.compile(r" *[a-zA-Z_]\w*(\.\w+)*: ")
_FIX_EXPONENT = str.maketrans("dD", "eE", " ")
_PRINTABLE = bytes(range(0x20, 0x7F))
_ESCAPES = {c: f"\\x{c:02x}" for c in range(256) if not 0x20 <= c < 0x7F}


def parse_cards(header: bytes) -> tuple[list[Card], list[CardWarning]]:
    """Parse the cards of one header, ``header`` ending just before END.

    ``header`` must be a whole number of 80-byte cards. CONTINUE cards are
    joined to the card before them, as astropy's ``Header.fromstring`` does.
    """
    text = header.decode("latin-1")
    clean = not header.translate(None, _PRINTABLE)
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
        if not (clean or (image.isascii() and image.isprintable())):
            problems.append(
                CardWarning(
                    "non_ascii_card",
                    f"card {len(cards)} holds bytes outside printable ASCII: {_escape(image)}",
                    len(cards),
                )
            )
            cards.append(_parse_with_astropy(image, len(cards), problems))
        elif j > i + 1:
            cards.append(_parse_with_astropy(image, len(cards), problems))
        else:
            cards.append(_parse_one(image, len(cards), problems))
        i = j
    return cards, problems


def _parse_one(image: str, index: int, problems: list[CardWarning]) -> Card:
    field = image[:8]
    if image[8:10] != "= " or not _STANDARD_KEYWORD.match(field):
        keyword = field.rstrip()
        if keyword in COMMENTARY_KEYWORDS:
            return Card(keyword, image[8:].rstrip(), "")
        return _parse_with_astropy(image, index, problems)
    keyword = field.rstrip()
    if keyword in COMMENTARY_KEYWORDS:
        return Card(keyword, image[8:].rstrip(), "")
    match = _VALUE_RE.match(image[10:])
    if match is None:
        return _parse_with_astropy(image, index, problems)
    comment = match.group("comm")
    comment = comment.rstrip() if comment else ""
    value: CardValue
    if (text := match.group("strg")) is not None:
        if _RVKC_STRING.match(text):
            return _parse_with_astropy(image, index, problems)
        value = text.replace("''", "'").rstrip()
    elif (number := match.group("numr")) is not None:
        value = _to_number(number)
    elif (flag := match.group("bool")) is not None:
        value = flag == "T"
    elif match.group("cplx") is not None:
        return _parse_with_astropy(image, index, problems)
    else:
        value = None
    return Card(keyword, value, comment)


def _to_number(text: str) -> int | float:
    parts = _NUMBER_RE.match(text)
    assert parts is not None  # the value regex already matched a number here
    digits = (parts.group("sign") or "") + parts.group("digt").translate(_FIX_EXPONENT)
    try:
        return int(digits)
    except ValueError:
        return float(digits)


def _parse_with_astropy(image: str, index: int, problems: list[CardWarning]) -> Card:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        card = AstropyCard.fromstring(image)
        keyword = card.keyword
        try:
            value = card.value
            comment = card.comment
        except (VerifyError, ValueError, TypeError) as error:
            problems.append(
                CardWarning("unparsable_card", f"card {index} ({keyword}): {error}", index)
            )
            return Card(_printable(keyword), None, "", _escape(image))
    for item in caught:
        problems.append(
            CardWarning("nonstandard_card", f"card {index} ({keyword}): {item.message}", index)
        )
    if value is UNDEFINED:
        value = None
    elif isinstance(value, str):
        value = _printable(value)
    return Card(_printable(keyword), value, _printable(comment or ""))


def _printable(text: str) -> str:
    """``text`` with control characters escaped; PostgreSQL refuses NUL in text."""
    return text if text.isprintable() else _escape(text)


def _escape(text: str) -> str:
    return text.translate(_ESCAPES)
