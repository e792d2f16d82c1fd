"""A page of products is written without a pydantic model per product
(:meth:`pipeline.api.product_search.FoundPage.json`); it must stay byte for
byte the document the API publishes (:class:`ProductPage`), whatever a
product holds: generated products with every field's awkward values."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.api.product_search import FoundPage
from pipeline.models import Product

_moments = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
_floats = st.floats(allow_nan=False, allow_infinity=False)
_text = st.text(max_size=12)
# Warnings quote cards: any JSON value, integers past 64 bits included.
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _floats | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def products(draw: st.DrawFn) -> Product:
    optional_float = st.none() | _floats
    optional_text = st.none() | _text
    fields: dict[str, Any] = {
        "id": draw(st.integers(1, 2**63 - 1)),
        "sha256": draw(st.text("0123456789abcdef", min_size=64, max_size=64)),
        "path": "/data/" + draw(_text),
        "size": draw(st.integers(0, 2**62)),
        "mtime_ns": draw(st.integers(0, 2**63 - 1)),
        "version": draw(st.integers(1, 10)),
        "is_current": draw(st.booleans()),
        "superseded_by": draw(st.none() | st.integers(1, 2**40)),
        "superseded_at": draw(st.none() | _moments),
        "compression": draw(st.sampled_from(["none", "gzip", "tile"])),
        "hdu_count": draw(st.integers(1, 1000)),
        "checksum_status": draw(st.sampled_from(["absent", "valid", "invalid"])),
        "telescope": draw(optional_text),
        "instrument": draw(optional_text),
        "object": draw(optional_text),
        "observer": draw(optional_text),
        "obs_start": draw(st.none() | _moments),
        "mjd_obs": draw(optional_float),
        "exptime": draw(optional_float),
        "filter": draw(optional_text),
        "ra": draw(optional_float),
        "dec": draw(optional_float),
        "footprint": draw(st.none() | st.lists(st.lists(_floats, min_size=2, max_size=2))),
        "naxis": draw(st.none() | st.lists(st.integers(0, 2**31), max_size=4)),
        "bitpix": draw(st.none() | st.sampled_from([8, 16, 32, 64, -32, -64])),
        "bunit": draw(optional_text),
        "beam_major": draw(optional_float),
        "beam_minor": draw(optional_float),
        "beam_pa": draw(optional_float),
        "frequency": draw(optional_float),
        "science_hdu": draw(st.none() | st.integers(0, 999)),
        "warnings": draw(st.lists(st.dictionaries(_text, _json, max_size=3), max_size=2)),
        "created_at": draw(_moments),
        "updated_at": draw(_moments) + timedelta(microseconds=draw(st.integers(0, 999_999))),
    }
    return Product(**fields)


def _values(product: Product) -> dict[str, Any]:
    return {field.name: getattr(product, field.name) for field in dataclasses.fields(Product)}


@settings(max_examples=300, deadline=None)
@given(st.lists(products(), max_size=4), st.none() | st.just("p1f"))
def test_a_page_is_written_as_its_published_document(
    found: list[Product], cursor: str | None
) -> None:
    page = FoundPage(values=[_values(product) for product in found], next_cursor=cursor)
    assert page.json() == page.document().model_dump_json().encode()
    assert [Product(**values) for values in page.values] == found


@settings(max_examples=20, deadline=None)
@given(products())
def test_an_integer_past_64_bits_takes_pydantics_path(product: Product) -> None:
    values = _values(product)
    values["warnings"] = [{"code": "card_value", "value": 2**70}]
    page = FoundPage(values=[values], next_cursor=None)
    assert b'"value":1180591620717411303424' in page.json()  # every digit, as pydantic writes
    assert page.json() == page.document().model_dump_json().encode()
