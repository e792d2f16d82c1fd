"""Cards the tokenizer leaves alone, parsed with astropy's own machinery.

Two tiers, both astropy's: the value regex of ``astropy.io.fits.Card`` for
single cards with a standard keyword, and ``Card.fromstring`` for the rest —
CONTINUE sequences the tokenizer did not take, HIERARCH oddities,
record-valued keywords, complex numbers, non-standard keyword fields.

A card astropy cannot parse either (IRAF ``INDEF``, unquoted ``NAN``, NUL
bytes, an unterminated string) does not fail the file: its value is ``None``,
its image is kept in ``raw`` and a warning is recorded.
"""

from __future__ import annotations

import re
import warnings

from astropy.io.fits import Card as AstropyCard
from astropy.io.fits.card import UNDEFINED
from astropy.io.fits.verify import VerifyError

from pipeline.fits.card import COMMENTARY_KEYWORDS, Card, CardValue, CardWarning

__all__ = ["escape", "parse_one", "parse_with_astropy"]

# astropy's own regular expressions: reusing them is what makes this tier
# agree with astropy on every string, number and comment it accepts.
_VALUE_RE = AstropyCard._value_NFSC_RE
_NUMBER_RE = AstropyCard._number_NFSC_RE
_STANDARD_KEYWORD = re.compile(r"[A-Z0-9_-]{1,8} *\Z")
# A string value shaped like 'AXIS.1: 2' makes astropy read the card as a
# record-valued keyword; those go to astropy.
_RVKC_STRING = re.compile(r" *[a-zA-Z_]\w*(\.\w+)*: ")
_FIX_EXPONENT = str.maketrans("dD", "eE", " ")
_ESCAPES = {c: f"\\x{c:02x}" for c in range(256) if not 0x20 <= c < 0x7F}


def parse_one(image: str, index: int, problems: list[CardWarning]) -> Card:
    """One 80-character card: astropy's value regex, else ``Card.fromstring``."""
    field = image[:8]
    if image[8:10] != "= " or not _STANDARD_KEYWORD.match(field):
        keyword = field.rstrip()
        if keyword in COMMENTARY_KEYWORDS:
            return Card(keyword, image[8:].rstrip(), "")
        return parse_with_astropy(image, index, problems)
    keyword = field.rstrip()
    if keyword in COMMENTARY_KEYWORDS:
        return Card(keyword, image[8:].rstrip(), "")
    match = _VALUE_RE.match(image[10:])
    if match is None:
        return parse_with_astropy(image, index, problems)
    comment = match.group("comm")
    comment = comment.rstrip() if comment else ""
    value: CardValue
    if (text := match.group("strg")) is not None:
        if _RVKC_STRING.match(text):
            return parse_with_astropy(image, index, problems)
        value = text.replace("''", "'").rstrip()
    elif (number := match.group("numr")) is not None:
        value = _to_number(number)
    elif (flag := match.group("bool")) is not None:
        value = flag == "T"
    elif match.group("cplx") is not None:
        return parse_with_astropy(image, index, problems)
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


def parse_with_astropy(image: str, index: int, problems: list[CardWarning]) -> Card:
    """``image`` (one card, or a card and its CONTINUE cards) as astropy reads it."""
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
            return Card(_printable(keyword), None, "", escape(image))
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
    return text if text.isprintable() else escape(text)


def escape(text: str) -> str:
    """``text`` with every byte outside printable ASCII written as ``\\xNN``."""
    return text.translate(_ESCAPES)
