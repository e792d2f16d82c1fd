"""A page of products is written without a pydantic model per product
(:meth:`pipeline.api.product_search.FoundPage.json`); it must stay byte for
byte the document the API publishes (:class:`ProductPage`), whatever a
product holds: generated products with every field's awkward values."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.api.product_search import FoundPage
from pipeline.models import Product
from tests.support.records import products, values_of


@settings(max_examples=300, deadline=None)
@given(st.lists(products(), max_size=4), st.none() | st.just("p1f"))
def test_a_page_is_written_as_its_published_document(
    found: list[Product], cursor: str | None
) -> None:
    page = FoundPage(values=[values_of(product) for product in found], next_cursor=cursor)
    assert page.json() == page.document().model_dump_json().encode()
    assert [Product(**values) for values in page.values] == found


@settings(max_examples=20, deadline=None)
@given(products())
def test_an_integer_past_64_bits_takes_pydantics_path(product: Product) -> None:
    values = values_of(product)
    values["warnings"] = [{"code": "card_value", "value": 2**70}]
    page = FoundPage(values=[values], next_cursor=None)
    assert b'"value":1180591620717411303424' in page.json()  # every digit, as pydantic writes
    assert page.json() == page.document().model_dump_json().encode()
