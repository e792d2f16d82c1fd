"""``GET /files?path=`` is written from the job record and the products'
values without a pydantic model (:meth:`pipeline.api.catalogue.FoundFile.json`);
it must stay byte for byte the document the API publishes
(:class:`pipeline.api.schemas.FileStatus`), whatever the records hold."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.api.catalogue import FoundFile
from pipeline.models import Job, Product
from tests.support.records import hdu_summaries, jobs, products, values_of


@st.composite
def summaries(draw: st.DrawFn) -> dict[str, Any] | None:
    """A product with its HDUs, headers left out; or no product."""
    product: Product | None = draw(st.none() | products())
    if product is None:
        return None
    return {**values_of(product), "hdus": draw(st.lists(hdu_summaries(), max_size=4))}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20), st.none() | jobs(), summaries(), summaries())
def test_a_path_is_written_as_its_published_document(
    path: str, job: Job | None, current: dict[str, Any] | None, other: dict[str, Any] | None
) -> None:
    found = FoundFile("/data/" + path, job, current, other)
    assert found.json() == found.document().model_dump_json().encode()


@settings(max_examples=20, deadline=None)
@given(jobs(), products())
def test_an_integer_past_64_bits_takes_pydantics_path(job: Job, product: Product) -> None:
    details: dict[str, Any] = {"card": "NAXIS1", "value": 2**70}
    warnings = [{"code": "card_value", "value": -(2**80)}]
    current = {**values_of(product), "warnings": warnings, "hdus": []}
    failed = dataclasses.replace(job, error_details=details)
    found = FoundFile("/data/a.fits", failed, current, None)
    written = json.loads(found.json())
    assert written["latest_job"]["error_details"] == details  # every digit
    assert written["current_product"]["warnings"] == warnings
    assert found.json() == found.document().model_dump_json().encode()
