"""The fast path: the card shapes nearly every header is made of, with str methods.

astropy parses a card with a large regular expression and builds an object
per card (about 10 µs a card, value and comment included). Headers are
overwhelmingly made of a few shapes, and those are tokenised here with
C-level string methods, card after card, with no regex:

- ``KEYWORD = value / comment`` with a standard keyword (``[A-Z0-9_-]``, the
  value indicator in columns 9-10) and a value that is a string without
  ambiguous quotes, an integer, a real without inner spaces, ``T``/``F`` or
  nothing;
- commentary cards (``COMMENT``, ``HISTORY``, blank keyword);
- ``HIERARCH`` cards with such a value;
- CONTINUE sequences whose pieces are plain strings.

Every other card — and any card whose value is not exactly one of those
shapes — goes to :mod:`pipeline.fits.astropy_cards`, so the result is
astropy's on every card (``tests/unit/test_cards_property.py`` checks it on
generated headers, the astropy corpus on real ones). Only headers of
printable ASCII come here; the caller sends the rest to astropy.

The rules below are astropy's (``Card._parse_value``, ``_split``,
``_value_NFSC_RE``) restricted to the shapes where they are simple:

- a string ends at the first quote followed by nothing but spaces and an
  optional ``/ comment``; a doubled quote inside is one quote. A doubled
  quote followed by a space or ``/`` could also end the string for astropy
  (its match is lazy), so that case is left to it, as is an empty string
  followed by another quote (astropy tries a non-empty string first) and a
  string holding ``": "`` (it may be a record-valued keyword,
  ``'AXIS.1: 2'``).
- a number is ``int`` when it is all digits (with a sign), else ``float``
  with ``D`` exponents read as ``E``; astropy allows spaces inside numbers,
  those go to it.
- a comment is what follows the first ``/`` after the value, without the
  spaces around it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from pipeline.fits.astropy_cards import parse_one, parse_with_astropy
from pipeline.fits.card import CARD_LENGTH, Card, CardValue, CardWarning

__all__ = ["tokenize", "tokenize_piece"]

# Building a NamedTuple through tuple.__new__ skips its Python-level __new__:
# the per-card object is then created in C (a third of the cost).
_new_card = cast(Callable[[type[Card], tuple[str, CardValue, str, None]], Card], tuple.__new__)

_VALUE, _COMMENTARY, _HIERARCH, _OTHER = range(4)
_KEYWORD_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_SPECIAL = frozenset({"", "COMMENT", "HISTORY", "CONTINUE", "END"})
_REAL_CHARACTERS = "0123456789.+-eEdD"
_D_EXPONENT = str.maketrans("dD", "eE")
_LOGICAL: dict[str, bool | None] = {"T": True, "F": False, "": None}
# The first ten columns (keyword field and value indicator) decide a card's
# shape; headers reuse a small vocabulary of them, so the decision is
# remembered. Bounded: commentary text can make prefixes vary without end.
# Shared by worker threads: dict operations are atomic, and a lost race only
# makes a decision be computed twice.
_PREFIXES: dict[str, tuple[int, str]] = {}
_MAX_PREFIXES = 16_384
# HIERARCH keyword fields (the text between HIERARCH and "=") already seen.
_HIERARCH_KEYWORDS: dict[str, str] = {}
_CONTINUE = "CONTINUE"


def tokenize(text: str) -> tuple[list[Card], list[CardWarning]]:
    """The cards of ``text`` — printable ASCII, whole cards, ending before END.

    CONTINUE cards are joined to the card before them, as astropy's
    ``Header.fromstring`` does.
    """
    cards: list[Card] = []
    problems: list[CardWarning] = []
    start = 0
    for head, end in _continued_groups(text):
        cards += _run(text, start, head, len(cards), problems)
        cards.append(_sequence(text[head:end], len(cards), problems))
        start = end
    cards += _run(text, start, len(text), len(cards), problems)
    return cards, problems


def tokenize_piece(image: str, index: int, problems: list[CardWarning]) -> Card:
    """One piece of a header as :func:`tokenize` reads it, the ``index``-th card.

    A piece is a single card, or a card and the CONTINUE cards after it (or a
    CONTINUE card that starts the header, with those after it). This is the
    fallback of the C tokenizer (:mod:`pipeline.fits._ctokenizer`) for the
    pieces it declines.
    """
    if len(image) > CARD_LENGTH or image.startswith(_CONTINUE):
        return _sequence(image, index, problems)
    return _run(image, 0, CARD_LENGTH, index, problems)[0]


def _sequence(image: str, index: int, problems: list[CardWarning]) -> Card:
    """A card and its CONTINUE cards: plain strings here, the rest by astropy."""
    return _continued(image) or parse_with_astropy(image, index, problems)


def _continued_groups(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each card followed by CONTINUE cards, and them."""
    groups: list[tuple[int, int]] = []
    position = text.find(_CONTINUE)
    while position >= 0:
        if position % CARD_LENGTH:
            position = text.find(_CONTINUE, position + 1)
            continue
        # A CONTINUE card at the very start has nothing to continue: astropy
        # makes it the head of its own sequence.
        head = position - CARD_LENGTH if position else 0
        end = position + CARD_LENGTH
        while text.startswith(_CONTINUE, end):
            end += CARD_LENGTH
        groups.append((head, end))
        position = text.find(_CONTINUE, end)
    return groups


def _run(text: str, start: int, stop: int, first: int, problems: list[CardWarning]) -> list[Card]:
    """The single cards in ``text[start:stop]``; ``first`` is the first one's index.

    The hot loop: the common value card is handled inline (a call per card
    costs as much as its int() and strip() together).
    """
    cards: list[Card] = []
    append = cards.append
    remembered = _PREFIXES.get
    new_card = _new_card
    logical = _LOGICAL
    for offset in range(start, stop, CARD_LENGTH):
        prefix = text[offset : offset + 10]
        kind, keyword = remembered(prefix) or _classify(prefix)
        card: Card | None = None
        if kind == _VALUE:
            body = text[offset + 10 : offset + CARD_LENGTH]
            value_text, _, comment = body.partition("/")
            if "'" in value_text:
                card = _string_card(keyword, body.lstrip())
            elif (value_text := value_text.strip()).isdigit():
                card = new_card(Card, (keyword, int(value_text), comment.strip(), None))
            elif value_text in logical:
                card = new_card(Card, (keyword, logical[value_text], comment.strip(), None))
            elif (number := _number(value_text)) is not None:
                card = new_card(Card, (keyword, number, comment.strip(), None))
        elif kind == _COMMENTARY:
            card = new_card(Card, (keyword, text[offset + 8 : offset + 80].rstrip(), "", None))
        elif kind == _HIERARCH:
            card = _hierarch_card(text[offset : offset + CARD_LENGTH])
        if card is None:
            index = first + (offset - start) // CARD_LENGTH
            card = parse_one(text[offset : offset + CARD_LENGTH], index, problems)
        append(card)
    return cards


def _classify(prefix: str) -> tuple[int, str]:
    """The shape of cards starting with ``prefix`` (their first ten columns)."""
    keyword = prefix[:8].rstrip()
    if keyword in ("", "COMMENT", "HISTORY"):
        shape = _COMMENTARY
    elif keyword == "HIERARCH" and prefix[8] == " ":
        shape = _HIERARCH
    elif (
        prefix[8:10] == "= " and keyword not in _SPECIAL and _KEYWORD_CHARACTERS.issuperset(keyword)
    ):
        shape = _VALUE
    else:
        shape = _OTHER
    if len(_PREFIXES) >= _MAX_PREFIXES:
        _PREFIXES.clear()
    _PREFIXES[prefix] = (shape, keyword)
    return shape, keyword


def _value_card(keyword: str, body: str) -> Card | None:
    """The card for ``keyword`` with value-and-comment field ``body``; None if unusual.

    The same rules as the inline branch of :func:`_run` (kept inline there
    for speed); used for HIERARCH cards.
    """
    text, _, comment = body.partition("/")
    if "'" in text:
        return _string_card(keyword, body.lstrip())
    text = text.strip()
    value: CardValue
    if text.isdigit():
        value = int(text)
    elif text in _LOGICAL:
        value = _LOGICAL[text]
    else:
        value = _number(text)
        if value is None:
            return None
    return _new_card(Card, (keyword, value, comment.strip(), None))


def _number(text: str) -> int | float | None:
    """A signed integer or a real without inner spaces; None for anything else."""
    if text[0] in "+-" and text[1:].isdigit():
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return _d_exponent(text)
    # float() accepts more than FITS: inf, nan, infinity (their last letters
    # below) and 1_000; astropy's spaceless grammar is the rest.
    if text[-1] in "fFnNyY" or "_" in text:
        return None
    return number


def _d_exponent(text: str) -> float | None:
    """A real written with a ``D`` exponent (Fortran), e.g. ``1.5D-3``."""
    if text.strip(_REAL_CHARACTERS):
        return None
    try:
        return float(text.translate(_D_EXPONENT))
    except ValueError:
        return None


def _string_card(keyword: str, body: str) -> Card | None:
    """A card whose value field ``body`` (left-stripped) holds a quote."""
    if body[:1] != "'":
        return None
    close = body.find("'", 1)
    doubled = False
    while close > 0 and body[close + 1 : close + 2] == "'":
        if body[close + 2 : close + 3] in (" ", "/", ""):
            return None  # astropy's lazy match could end the string here
        doubled = True
        close = body.find("'", close + 2)
    if close < 0 or (close == 1 and "'" in body[2:]):
        # ''  followed by another quote: astropy tries a non-empty string
        # first, up to that quote, and keeps it if what follows fits.
        return None
    after = body[close + 1 :].lstrip()
    if after and after[0] != "/":
        return None
    value = body[1:close].rstrip()
    if ": " in value:
        return None  # possibly a record-valued keyword card
    if doubled:
        value = value.replace("''", "'")
    return _new_card(Card, (keyword, value, after[1:].strip(), None))


def _hierarch_card(image: str) -> Card | None:
    """``HIERARCH words = value / comment`` (ESO's convention), as astropy reads it."""
    equals = image.find("=")
    if equals < 0:
        return None
    field = image[9:equals]
    keyword = _HIERARCH_KEYWORDS.get(field)
    if keyword is None:
        keyword = field.strip()
        if keyword.upper() in _SPECIAL:
            return None  # astropy reads HIERARCH HISTORY as commentary, for one
        if len(_HIERARCH_KEYWORDS) >= _MAX_PREFIXES:
            _HIERARCH_KEYWORDS.clear()
        _HIERARCH_KEYWORDS[field] = keyword
    return _value_card(keyword, image[equals + 1 :])


def _continued(image: str) -> Card | None:
    """A long string over CONTINUE cards, when every piece is a plain string.

    astropy joins the pieces (each without its trailing ``&``) and their
    comments, then reads the result as one string card. Quotes anywhere, or
    ``": "`` in a piece, leave the sequence to astropy.
    """
    shape, keyword = _PREFIXES.get(image[:10]) or _classify(image[:10])
    if shape != _VALUE:
        return None
    pieces: list[str] = []
    comments: list[str] = []
    for offset in range(0, len(image), CARD_LENGTH):
        # The value field follows "= " on the first card, "CONTINUE " after.
        if offset and image[offset + 8] != " ":
            return None
        field = image[offset + (9 if offset else 10) : offset + CARD_LENGTH].strip()
        close = field.find("'", 1)
        if field[:1] != "'" or close < 0 or "'" in field[close + 1 :]:
            return None
        after = field[close + 1 :].lstrip()
        piece = field[1:close].rstrip()
        if (after and after[0] != "/") or ": " in piece:
            return None
        pieces.append(piece[:-1] if piece.endswith("&") else piece)
        if comment := after[1:].strip():
            comments.append(comment)
    return _new_card(Card, (keyword, "".join(pieces).rstrip(), " ".join(comments), None))
