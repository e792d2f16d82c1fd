"""The compiled helpers give exactly what their Python twins give.

``tests/unit/test_cards_property.py`` compares both tokenizers with astropy;
this compares them with each other — every card, value type, comment, raw
image and warning — on generated headers, on every sample kind and on every
header of astropy's own test files, and checks the extension's contract:
argument checking, the pieces it declines, no leaked references. The
reader's helpers (``scan_blocks``, ``first_values``) are compared with their
twins in ``header_blocks.py`` and ``structure.py`` too, and the row shaping
(``card_rows``, ``header_object``) with its twins in ``ingest/parse.py``.
"""

from __future__ import annotations

import gc
import gzip
import tracemalloc
from pathlib import Path
from typing import Any

import astropy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.fits.card import Card
from pipeline.fits.cards import TOKENIZERS, parse_cards
from pipeline.fits.header_blocks import scan_blocks_python
from pipeline.fits.structure import first_values_python
from pipeline.ingest.parse import _LISTED_KEYWORDS, card_rows_python, header_object_python
from pipeline.samples import SampleKind, rng_for, write_sample
from tests.support.compiled import require_built
from tests.unit.test_cards_property import EDGE_VALUES, card_groups

require_built("c" in TOKENIZERS, "tokenizer")

from pipeline.fits import _ctokenizer  # noqa: E402 (only once known to be built)

ASTROPY_ROOT = Path(astropy.__file__).resolve().parent


def _card(image: str) -> bytes:
    return image[:80].ljust(80).encode("latin-1")


def _same(ours: list[Card], theirs: list[Card]) -> bool:
    """Same cards, values of the same type (floats compared by repr)."""
    if len(ours) != len(theirs):
        return False
    for mine, reference in zip(ours, theirs, strict=True):
        if type(mine) is not Card or type(mine.value) is not type(reference.value):
            return False
        if repr(mine) != repr(reference):
            return False
    return True


def _assert_same_as_python(header: bytes, count: int | None = None) -> None:
    c_cards, c_problems = parse_cards(header, count, tokenizer="c")
    cards, problems = parse_cards(header, count, tokenizer="python")
    assert _same(c_cards, cards), (c_cards, cards)
    assert c_problems == problems


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(card_groups, min_size=1, max_size=12))
def test_generated_headers_read_as_the_python_tokenizer_reads_them(
    groups: list[list[str]],
) -> None:
    _assert_same_as_python(b"".join(_card(image) for group in groups for image in group))


@pytest.mark.parametrize("value", EDGE_VALUES)
@pytest.mark.parametrize("layout", ["{k:<8}= {v}", "{k:<8}= {v:>20} / note", "HIERARCH A B = {v}"])
def test_edge_values(value: str, layout: str) -> None:
    _assert_same_as_python(_card(layout.format(k="KEY", v=value)))


@pytest.mark.parametrize(
    "image",
    [
        "BIG     = 123456789012345678901234567890123456789012345678901234567890123456789",
        "SMALL   = -999999999999999999",  # 18 digits: the fast path's edge
        "SMALLER = -9999999999999999999",
        "HUGE    = 1E999",
        "TINY    = -1D-999",
        "NEGZERO = -0.0",
        "ZEROINT = -0",
        "PLUS    = +.5E+3 / signed",
        "EMPTY   = ''",
        "QUOTES  = '''' / a quote",
        "SPACES  = '        '",
        "COMMENT",
        "        blank keyword, text from column 9",
        "HISTORY = 'not a value'",
        "HIERARCH= 'a plain value card named HIERARCH'",
        "HIERARCH ESO DET CHIP1 ID = 'ccd' / chip",
        "HIERARCH lower.case =T",
    ],
)
def test_single_cards(image: str) -> None:
    _assert_same_as_python(_card(image))


def test_continue_sequences_and_their_edges() -> None:
    header = b"".join(
        _card(image)
        for image in [
            "CONTINUE  'a sequence at the very start&'",
            "CONTINUE  'continued'",
            "LONG    = 'first &' / one",
            "CONTINUE  'second&'",
            "CONTINUE  'third' / three",
            "NOTLONG = 'ends here'",
            "QUOTED  = 'it''s &'",
            "CONTINUE  'declined: quotes'",
            "COMMENT   continued commentary",
            "CONTINUE  'is astropy''s business'",
        ]
    )
    _assert_same_as_python(header)
    result = _ctokenizer.tokenize(header, len(header) // 80, Card)
    assert result is not None
    cards, declined = result
    # Taken: the plain sequence and the single card. Declined: a sequence at
    # the very start, one with quotes inside, one continuing commentary.
    assert cards[1] == Card("LONG", "first secondthird", "one three")
    assert cards[2] == Card("NOTLONG", "ends here", "")
    assert [cards[0], cards[3], cards[4]] == [None, None, None]
    assert declined == [(0, 0, 2 * 80), (3, 6 * 80, 8 * 80), (4, 8 * 80, 10 * 80)]


def test_a_header_outside_printable_ascii_is_not_tokenised() -> None:
    header = _card("OBSERVER= 'Jos\xe9'") + _card("TAB     = 'a\tb'")
    assert _ctokenizer.tokenize(header, 2, Card) is None
    _assert_same_as_python(header)


def test_only_the_cards_asked_for_are_read() -> None:
    header = _card("A       = 1") + _card("B       = 2") + b"\xff" * 80
    result = _ctokenizer.tokenize(header, 2, Card)
    assert result == ([Card("A", 1, ""), Card("B", 2, "")], [])
    _assert_same_as_python(header, 2)


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ((b"x" * 80, 2, Card), ValueError),
        ((b"x" * 80, -1, Card), ValueError),
        (("x" * 80, 1, Card), TypeError),
        ((b"x" * 80, 1, list), TypeError),
        ((b"x" * 80, 1, type("WithDict", (tuple,), {})), TypeError),
        ((b"x" * 80, 1), TypeError),
        ((b"x" * 80, "1", Card), TypeError),
    ],
)
def test_bad_arguments_are_refused(arguments: tuple[Any, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        _ctokenizer.tokenize(*arguments)


def test_keywords_are_shared_between_headers() -> None:
    header = _card("EXPTIME =                 1.0") + _card("HIERARCH ESO TEL ALT = 2")
    first = _ctokenizer.tokenize(header, 2, Card)
    second = _ctokenizer.tokenize(header, 2, Card)
    assert first is not None and second is not None
    assert all(a.keyword is b.keyword for a, b in zip(first[0], second[0], strict=True) if a and b)


def test_no_memory_is_kept_across_calls() -> None:
    """Every reference the extension makes is owned or returned: a thousand
    calls, errors included, leave nothing behind (its keyword cache aside,
    which the first call fills)."""
    header = b"".join(
        _card(image)
        for image in [
            "SIMPLE  =                    T / conforms",
            "OBJECT  = 'M31 ''core''' / name",
            "BIG     = 12345678901234567890123",
            "REAL    = 1.5D-3 / fortran",
            "LONG    = 'a&'",
            "CONTINUE  'b' / c",
            "JUNK    = INDEF",
            "HIERARCH ESO OBS NAME = 'x' / y",
            "HISTORY something happened",
        ]
    )

    def work() -> None:
        for _ in range(1000):
            _ctokenizer.tokenize(header, 9, Card)
            with pytest.raises(ValueError):
                _ctokenizer.tokenize(header, 10, Card)

    work()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 4096, f"{grown} bytes kept after 1000 calls"


@pytest.mark.parametrize("kind", list(SampleKind))
def test_every_sample_kind(kind: SampleKind, tmp_path: Path) -> None:
    for index in range(5):
        path = write_sample(tmp_path, index, kind, rng_for(3, index))
        for header, count in _headers(path):
            _assert_same_as_python(header, count)


def test_every_header_of_astropys_test_files() -> None:
    """Real headers no one here wrote: the C tokenizer reads them as the
    Python one does, card for card (declined pieces included)."""
    paths = sorted(ASTROPY_ROOT.glob("**/tests/data/**/*.fits"))
    assert len(paths) > 20
    headers = 0
    for path in paths:
        for header, count in _headers(path):
            _assert_same_as_python(header, count)
            headers += 1
    assert headers > 50


def _headers(path: Path) -> list[tuple[bytes, int]]:
    """Each header's blocks and its card count before END, found naively."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    found: list[tuple[bytes, int]] = []
    offset = 0
    while offset + 2880 <= len(data) and len(found) < 50:
        end = _end_card(data, offset)
        if end < 0:
            break
        found.append((data[offset : offset + end * 80], end))
        # Skip the data crudely: the next header starts at the next XTENSION.
        next_header = data.find(b"XTENSION", offset + 2880)
        while next_header > 0 and next_header % 2880:
            next_header = data.find(b"XTENSION", next_header + 1)
        if next_header < 0:
            break
        offset = next_header
    return found


def _end_card(data: bytes, offset: int) -> int:
    position = data.find(b"END", offset)
    while position >= 0:
        if (position - offset) % 80 == 0 and data[position + 3 : position + 4] in (b" ", b""):
            return (position - offset) // 80
        position = data.find(b"END", position + 1)
    return -1


# --- the reader's helpers: scan_blocks and first_values ---------------------

BLOCK_CARDS = st.sampled_from(
    [
        "END",
        "END     ",
        "END     junk after END",
        "ENDX    = 1",
        "END-    = 1",
        "END_    = 1",
        "ENDING  = 'not the end'",
        " END    ",
        "COMMENT END of something",
        "SIMPLE  =                    T",
        "\0" * 80,
        "\x7f",
        "END\0",
        "ÉND",
    ]
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(BLOCK_CARDS, min_size=1, max_size=150), st.integers(0, 79))
def test_scan_blocks_finds_what_the_python_scan_finds(cards: list[str], cut: int) -> None:
    data = b"".join(_card(card) for card in cards)
    # Runs of blocks as the reader passes them (bytes or a view of a chunk),
    # and any bytes at all: a run cut inside a card.
    for run in (data, memoryview(data), data[: len(data) - cut]):
        assert _ctokenizer.scan_blocks(run) == scan_blocks_python(run)


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=6000), st.sampled_from([b"", b" " * 2880, b"\x7e" * 17, b"\x20" * 9]))
def test_scan_blocks_tells_printable_bytes_as_python_does(raw: bytes, padding: bytes) -> None:
    """Any bytes, any length: the C printable check is the byte-at-a-time one."""
    for data in (raw, padding + raw, raw + padding):
        assert _ctokenizer.scan_blocks(data) == scan_blocks_python(data)


def test_scan_blocks_refuses_what_is_not_a_buffer() -> None:
    with pytest.raises(TypeError):
        _ctokenizer.scan_blocks("END")  # type: ignore[arg-type]


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["A", "B", "C", "", "COMMENT", "HISTORY"]), st.integers()),
        max_size=30,
    )
)
def test_first_values_is_the_python_keyword_map(pairs: list[tuple[str, int]]) -> None:
    cards = [Card(keyword, value, "") for keyword, value in pairs]
    for container in (cards, tuple(cards)):
        ours, reference = _ctokenizer.first_values(container), first_values_python(container)
        assert ours == reference
        assert list(ours) == list(reference)  # the same key order too


def test_first_values_refuses_what_is_not_cards() -> None:
    with pytest.raises(TypeError):
        _ctokenizer.first_values([("A", 1), "not a card"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        _ctokenizer.first_values([("A",)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        _ctokenizer.first_values(5)  # type: ignore[arg-type]


def _meddling_key(cards: list[Any]) -> str:
    """A key "K" whose __eq__ empties ``cards``: a list changed while C reads it."""

    class Meddling(str):
        def __hash__(self) -> int:
            return hash("K")

        def __eq__(self, other: object) -> bool:
            cards.clear()
            return str.__eq__(self, other)

    return Meddling("K")


def test_first_values_survives_a_list_changed_under_it() -> None:
    """A key whose __eq__ empties the list being read: no crash, no stale read."""
    cards: list[Any] = []
    # Read last first: the meddling key goes in, the next card's look-up
    # calls its __eq__, and the list is empty when the first card is due.
    cards.extend([("K", 1), ("K", 2), (_meddling_key(cards), 3)])
    values = _ctokenizer.first_values(cards)
    assert cards == [] and len(values) == 1 and list(values.values()) == [2]


# --- row shaping: card_rows and header_object --------------------------------

ROW_CARDS = st.lists(
    st.builds(
        Card,
        st.sampled_from(["A", "B", "", "COMMENT", "HISTORY", "HIERARCH ESO X", "DATE-OBS"]),
        st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=5), st.booleans()),
        st.text(max_size=5),
        st.one_of(st.none(), st.text(min_size=1, max_size=80)),
    ),
    max_size=40,
)


@settings(max_examples=1500, deadline=None)
@given(ROW_CARDS)
def test_card_rows_and_header_object_are_their_python_twins(cards: list[Card]) -> None:
    for container in (cards, tuple(cards)):
        rows = _ctokenizer.card_rows(container)
        assert repr(rows) == repr(card_rows_python(container))  # NaN and -0.0 alike
        header = _ctokenizer.header_object(container, _LISTED_KEYWORDS)
        reference = header_object_python(container)
        assert repr(header) == repr(reference)
        assert list(header) == list(reference)  # the same key order too


@pytest.mark.parametrize("kind", list(SampleKind))
def test_row_shaping_of_every_sample_kind_is_the_python_one(
    kind: SampleKind, tmp_path: Path
) -> None:
    from pipeline.fits import read_fits
    from pipeline.settings import ReaderSettings

    path = write_sample(tmp_path, 0, kind, rng_for(11, 0))
    for hdu in read_fits(path, ReaderSettings()).hdus:
        assert repr(_ctokenizer.card_rows(hdu.cards)) == repr(card_rows_python(hdu.cards))
        header = _ctokenizer.header_object(hdu.cards, _LISTED_KEYWORDS)
        assert repr(header) == repr(header_object_python(hdu.cards))


def test_row_shaping_refuses_what_is_not_cards() -> None:
    for bad in ([("A", 1, "")], ["not a card"], 5):
        with pytest.raises(TypeError):
            _ctokenizer.card_rows(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            _ctokenizer.header_object(bad, _LISTED_KEYWORDS)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _ctokenizer.header_object([], ["COMMENT"])  # type: ignore[arg-type]


def test_header_object_survives_a_list_changed_under_it() -> None:
    """A keyword whose __eq__ empties the list being read: no crash, no stale read."""
    cards: list[Any] = []
    cards.extend([("K", 1, "", None), (_meddling_key(cards), 2, "", None), ("K", 3, "", None)])
    header = _ctokenizer.header_object(cards, _LISTED_KEYWORDS)
    assert cards == [] and header == {"K": 1}


def test_row_shaping_leaks_nothing() -> None:
    cards = [Card("A", 1.5, "c"), Card("COMMENT", "x", ""), Card("B", "t", "", "B = t")] * 50
    for _ in range(200):  # warm up caches and free lists
        _ctokenizer.card_rows(cards)
        _ctokenizer.header_object(cards, _LISTED_KEYWORDS)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(2000):
        _ctokenizer.card_rows(cards)
        _ctokenizer.header_object(cards, _LISTED_KEYWORDS)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 64 * 1024
