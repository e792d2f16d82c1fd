"""``parse_cards`` gives what astropy gives, card for card, for any header.

Headers are built from every card shape the FITS world produces — fixed and
free format, strings with quotes and trailing spaces, numbers with signs,
leading zeros and D exponents, complex values, HIERARCH, CONTINUE sequences,
commentary cards and plain junk — and compared with
``astropy.io.fits.Header.fromstring``. Where astropy raises on ``.value`` the
card must come back with a None value, its image kept in ``raw`` and an
``unparsable_card`` warning.

Every test runs against both tokenizers (``TOKENIZER_NAMES``): the C one
(``pipeline/fits/_ctokenizer.c``, built by ``pip install -e .``) and the
pure-Python reference. A missing C build fails in CI and skips elsewhere.
"""

from __future__ import annotations

import contextlib
import string
import warnings
from pathlib import Path
from typing import Any

import pytest
from astropy.io.fits import Card, Header
from astropy.io.fits.card import Undefined
from astropy.io.fits.verify import VerifyError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.fits import cards as cards_module
from pipeline.fits import read_fits, tokenizer
from pipeline.fits.cards import TOKENIZERS, parse_cards
from pipeline.samples import SampleKind, rng_for, write_sample
from pipeline.settings import ReaderSettings
from tests.support.compiled import require_built

PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
KEYWORD_CHARS = string.ascii_uppercase + string.digits + "_-"
JUNK_VALUES = ("INDEF", "NAN", "nan", "-INF", "'unterminated", "T F", "1.2.3", "abc", "()", "(1,)")
# The edges of the tokenizer's fast path: what float() accepts and FITS does
# not, what astropy reads with inner spaces, and strings where astropy's lazy
# match could end early (a doubled quote before a space or a slash).
EDGE_VALUES = (
    *("inf", "+Infinity", "1_000", "1_0.5", "0x10", "1e5", "1E+05", "-.5E-3", "5.", ".5"),
    *("+.5", "1.5D3", "1.5d-3", "1D", "+", "-", ".", "e5", "1 . 5", "+ 12", "1.5 E 3"),
    *("00012", "-0", "'a'' / b'", "'a''/b'", "'a''' / c", "''''", "''", "'it''s'"),
    *("'x: 1'", "'AXIS.1: 2'", "'a/b'", "'ab'cd'", "'abc' def'", "'trailing  '", "T/x"),
    *("F /", "'O''Hara  '", "'a''  b'", "'&'", "12345678901234567890123"),
)

TOKENIZER_NAMES = ("c", "python")


@pytest.fixture(params=TOKENIZER_NAMES, scope="module")
def implementation(request: pytest.FixtureRequest) -> str:
    """Each tokenizer in turn; the C one must be built (in CI: must)."""
    name: str = request.param
    require_built(name in TOKENIZERS, "tokenizer")
    return name


keywords = st.text(KEYWORD_CHARS, min_size=1, max_size=8).filter(lambda k: k != "END")
texts = st.text(PRINTABLE, max_size=40)


@st.composite
def string_values(draw: st.DrawFn) -> str:
    text = draw(texts).replace("'", "''")
    padding = " " * draw(st.integers(0, 6))
    return f"'{text}{padding}'"


@st.composite
def integer_values(draw: st.DrawFn) -> str:
    number = draw(st.integers(-(10**22), 10**22))
    sign = "-" if number < 0 else draw(st.sampled_from(["", "+"]))
    return sign + "0" * draw(st.integers(0, 3)) + str(abs(number))


@st.composite
def float_values(draw: st.DrawFn) -> str:
    number = draw(st.floats(allow_nan=False, allow_infinity=False, width=64))
    shape = draw(st.sampled_from(["repr", "E", "D", "e", "fixed", "dot-first", "dot-last"]))
    if shape == "repr":
        return repr(number).upper()
    if shape in ("E", "D", "e"):
        return f"{number:.{draw(st.integers(0, 16))}E}".replace("E", shape)
    if shape == "fixed":
        return f"{number:.{draw(st.integers(0, 6))}f}"[:30]
    digits = str(draw(st.integers(0, 10**6)))
    return "." + digits if shape == "dot-first" else digits + "."


@st.composite
def complex_values(draw: st.DrawFn) -> str:
    real, imag = draw(float_values()), draw(float_values())
    return f"({real},{' ' * draw(st.integers(0, 2))}{imag})"


values = st.one_of(
    st.sampled_from(EDGE_VALUES),
    string_values(),
    integer_values(),
    float_values(),
    st.sampled_from(["T", "F", ""]),
    complex_values(),
    st.sampled_from(JUNK_VALUES),
    texts,
)
comments = st.one_of(
    st.just(""),
    st.builds(lambda sep, text: sep + text, st.sampled_from([" / ", "/", "  /  ", " /"]), texts),
    st.sampled_from([" / it's", " / a: b", " / 'quoted'", " / x / y", "/", " / '"]),
)


def _card(image: str) -> str:
    return image[:80].ljust(80)


@st.composite
def value_cards(draw: st.DrawFn) -> list[str]:
    keyword, value, comment = draw(keywords), draw(values), draw(comments)
    if draw(st.booleans()) and not value.startswith("'"):
        value = value.rjust(20)  # fixed format: right-justified to column 30
    else:
        value = " " * draw(st.integers(0, 3)) + value
    return [_card(f"{keyword:<8}= {value}{comment}")]


@st.composite
def hierarch_cards(draw: st.DrawFn) -> list[str]:
    letters = KEYWORD_CHARS + string.ascii_lowercase + "."
    words = draw(st.lists(st.text(letters, min_size=1, max_size=10), min_size=1, max_size=4))
    value, comment = draw(values), draw(comments)
    equals = draw(st.sampled_from([" = ", "= ", "=", " =", "  =  "]))
    return [_card(f"HIERARCH {' '.join(words)}{equals}{value}{comment}")]


piece_texts = st.one_of(
    st.text(PRINTABLE.replace("'", ""), max_size=66),
    st.sampled_from(["", " ", "a: b", "it''s", "x&", "&", "   &", "/"]),
)


@st.composite
def continue_cards(draw: st.DrawFn) -> list[str]:
    keyword = draw(keywords)
    pieces = draw(st.lists(piece_texts, min_size=2, max_size=5))
    notes = draw(st.lists(comments, min_size=len(pieces), max_size=len(pieces)))
    lead = draw(st.sampled_from(["CONTINUE  ", "CONTINUE ", "CONTINUE", "CONTINUE   "]))
    images = [f"{keyword:<8}= '{pieces[0]}&'{notes[0]}"]
    images += [f"{lead}'{piece}&'{note}" for piece, note in zip(pieces[1:], notes[1:], strict=True)]
    if draw(st.booleans()):
        images[-1] = f"{lead}'{pieces[-1]}'"  # a proper last piece, without '&'
    if draw(st.booleans()):
        images.append("CONTINUE  " + draw(values) + draw(comments))  # odd continuation
    return [_card(image) for image in images]


@st.composite
def commentary_cards(draw: st.DrawFn) -> list[str]:
    keyword = draw(st.sampled_from(["COMMENT", "HISTORY", "", "comment"]))
    return [_card(f"{keyword:<8}{draw(st.text(PRINTABLE, max_size=72))}")]


def _not_end(image: str) -> bool:
    # parse_cards receives the cards before END; the reader stops at any card
    # that starts END followed by something that cannot continue a keyword.
    return not (image.startswith("END") and (len(image) == 3 or image[3] not in KEYWORD_CHARS))


junk_cards = st.one_of(
    st.text(PRINTABLE, min_size=80, max_size=80),
    st.binary(min_size=80, max_size=80).map(lambda raw: raw.decode("latin-1")),
    st.builds(lambda k, v: _card(f"{k:<8}= {v}"), keywords, st.sampled_from(JUNK_VALUES)),
    st.builds(lambda k, t: _card(f"{k:<8}= '{t}\0'"), keywords, texts),
    st.builds(lambda k, t: _card(f"{k:<8}= 'caf\xe9 {t}'"), keywords, texts),
).filter(_not_end)

card_groups = st.one_of(
    value_cards(),
    hierarch_cards(),
    continue_cards(),
    commentary_cards(),
    junk_cards.map(lambda c: [c]),
)


def _printable(text: str) -> str:
    """What fitsflow stores for a text astropy returns (control bytes escaped)."""
    if text.isprintable():
        return text
    return "".join(c if 0x20 <= ord(c) < 0x7F else f"\\x{ord(c):02x}" for c in text)


def _astropy_cards(header: str) -> list[tuple[str, Any, str] | tuple[str, None]]:
    """(keyword, value, comment) per card, or (keyword, None) where ``.value`` raises."""
    found: list[tuple[str, Any, str] | tuple[str, None]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for card in Header.fromstring(header).cards:
            try:
                value, comment = card.value, card.comment
            except VerifyError:
                found.append((card.keyword, None))
                continue
            if isinstance(value, Undefined):
                value = None
            elif isinstance(value, str):
                value = _printable(value)
            found.append((_printable(card.keyword), value, _printable(comment or "")))
    return found


def _same_value(ours: object, theirs: object) -> bool:
    if type(ours) is not type(theirs):
        return False
    if isinstance(ours, float | complex):
        return repr(ours) == repr(theirs)  # NaN parts, and -0.0 kept apart from 0.0
    return ours == theirs


def _check(images: list[str], implementation: str) -> None:
    header = "".join(images)
    cards, problems = parse_cards(header.encode("latin-1"), tokenizer=implementation)
    expected = _astropy_cards(header)
    assert len(cards) == len(expected), (cards, expected)
    unparsable = {problem.card_index for problem in problems if problem.code == "unparsable_card"}
    for index, (card, wanted) in enumerate(zip(cards, expected, strict=True)):
        if len(wanted) == 2:
            assert card.value is None and card.raw is not None, (card, wanted)
            assert index in unparsable, (card, problems)
            continue
        keyword, value, comment = wanted
        assert card.keyword == keyword, (card, wanted)
        assert _same_value(card.value, value), (card, wanted)
        assert card.comment == comment, (card, wanted)
        assert index not in unparsable and card.raw is None, (card, problems)
    joined = _joined(images)
    flagged = {problem.card_index for problem in problems if problem.code == "non_ascii_card"}
    assert flagged == {i for i, text in enumerate(joined) if not _ascii(text)}, problems
    # astropy's warnings (invalid keyword fields, say) are kept, and only them.
    warned = {i for i, text in enumerate(joined) if _astropy_warns(text)} - unparsable
    nonstandard = {p.card_index for p in problems if p.code == "nonstandard_card"}
    assert nonstandard == warned, problems


def _joined(images: list[str]) -> list[str]:
    """The card images with each CONTINUE sequence joined, as astropy groups them."""
    joined: list[str] = []
    for image in images:
        if joined and image.startswith("CONTINUE"):
            joined[-1] += image
        else:
            joined.append(image)
    return joined


def _ascii(text: str) -> bool:
    return text.isascii() and text.isprintable()


def _astropy_warns(image: str) -> bool:
    """Whether astropy warns while reading this card's keyword, value and comment."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        card = Card.fromstring(image)
        with contextlib.suppress(VerifyError, ValueError, TypeError):
            card.keyword, card.value, card.comment  # noqa: B018 -- parsed on access
    return bool(caught)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(card_groups, min_size=1, max_size=8))
@example([[_card("CONTINUE  'leading continuation'")]])
@example([[_card("DP1     = 'AXIS.1: 1'"), _card("DP1     = 'NAUX: 2'")]])
@example([[_card("KEY     = 'O''Hara  '     / it''s a comment / with slashes")]])
@example([[_card("KEY     =    -00012 / leading zeros")], [_card("F       = 1.5D-3")]])
@example([[_card("BLANK   =                      / no value")]])
@example([[_card("EMPTY   = '' / 'quoted'")]])
@example([[_card("HIERARCH HISTORY = T")], [_card("HIERARCH comment = 1")]])
def test_parse_cards_agrees_with_astropy(implementation: str, groups: list[list[str]]) -> None:
    _check([image for group in groups for image in group], implementation)


def test_unparsable_cards_are_kept_raw_with_a_warning(implementation: str) -> None:
    images = [
        _card("AIRMASS = INDEF / IRAF undefined"),
        _card("SKYLEVEL= NAN"),
        _card("OBJECT  = 'unterminated"),
        _card("FILTER  = 'V\0\0'"),
        _card("OBSERVER= 'Jos\xe9'"),
        _card("TELESCOP= 'NOT' / Nordic Optical Telescope, La Palma, Espa\xf1a"),
    ]
    cards, problems = parse_cards("".join(images).encode("latin-1"), tokenizer=implementation)
    keywords = ["AIRMASS", "SKYLEVEL", "OBJECT", "FILTER", "OBSERVER", "TELESCOP"]
    assert [card.keyword for card in cards] == keywords
    assert [card.value for card in cards[:5]] == [None] * 5
    assert all(card.raw is not None and "\0" not in card.raw for card in cards[:5])
    assert cards[3].raw is not None and cards[3].raw.startswith("FILTER  = 'V\\x00\\x00'")
    assert {p.card_index for p in problems if p.code == "unparsable_card"} == {0, 1, 2, 3, 4}
    # Outside printable ASCII: every such card is flagged; a comment still parses.
    assert {p.card_index for p in problems if p.code == "non_ascii_card"} == {3, 4, 5}
    assert (cards[5].value, cards[5].comment) == (
        "NOT",
        "Nordic Optical Telescope, La Palma, España",
    )


@pytest.mark.parametrize("kind", list(SampleKind))
def test_common_cards_never_reach_astropy(
    implementation: str, kind: SampleKind, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader's speed rests on the tokenizer taking the usual shapes
    itself: every card the sample generator writes (fixed-format values,
    HIERARCH, CONTINUE, COMMENT/HISTORY) is parsed without astropy — and,
    for the C tokenizer, without falling back to the Python one."""

    def refuse(image: str, *_: object) -> None:
        raise AssertionError(f"sent to the fallback: {image!r}")

    monkeypatch.setattr(cards_module, "DEFAULT_TOKENIZER", implementation)
    monkeypatch.setattr(cards_module, "tokenize_piece", refuse)
    monkeypatch.setattr(tokenizer, "parse_one", refuse)
    monkeypatch.setattr(tokenizer, "parse_with_astropy", refuse)
    for index in range(5):
        path = write_sample(tmp_path, index, kind, rng_for(11, index))
        fits_file = read_fits(path, ReaderSettings())
        assert all(card.raw is None for hdu in fits_file.hdus for card in hdu.cards)
