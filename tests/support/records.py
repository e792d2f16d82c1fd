"""Hypothesis strategies for the records the status API writes out: jobs,
their attempts and products, every field drawn with its awkward values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from pipeline.models import Job, JobAttempt, JobState, Outcome, Product, field_names

__all__ = ["attempts", "hdu_summaries", "jobs", "products", "values_of"]

_moments = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
_text = st.text(max_size=12)
_optional_text = st.none() | _text
_optional_moment = st.none() | _moments
# Error details quote what went wrong: any JSON value, 64-bit integers here.
_json_64 = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def jobs(draw: st.DrawFn) -> Job:
    return Job(
        id=draw(st.integers(1, 2**63 - 1)),
        path="/data/" + draw(_text),
        size=draw(st.none() | st.integers(0, 2**62)),
        mtime_ns=draw(st.none() | st.integers(0, 2**63 - 1)),
        state=draw(st.sampled_from(list(JobState))),
        outcome=draw(st.none() | st.sampled_from(list(Outcome))),
        source=draw(st.sampled_from(["watcher", "scan", "ingest", "replay"])),
        attempts=draw(st.integers(0, 100)),
        error_code=draw(_optional_text),
        error_message=draw(_optional_text),
        error_details=draw(st.none() | st.dictionaries(_text, _json_64, max_size=3)),
        product_id=draw(st.none() | st.integers(1, 2**40)),
        batch_id=draw(st.none() | st.integers(1, 2**40)),
        message_id=draw(_optional_text),
        created_at=draw(_moments),
        updated_at=draw(_moments),
        enqueued_at=draw(_optional_moment),
        started_at=draw(_optional_moment),
        finished_at=draw(_optional_moment),
        next_attempt_at=draw(_optional_moment),
        lease_expires_at=draw(_optional_moment),
        worker=draw(_optional_text),
        retry_of=draw(st.none() | st.integers(1, 2**40)),
    )


@st.composite
def attempts(draw: st.DrawFn) -> JobAttempt:
    return JobAttempt(
        id=draw(st.integers(1, 2**40)),
        job_id=draw(st.integers(1, 2**40)),
        attempt=draw(st.integers(1, 100)),
        started_at=draw(_moments),
        finished_at=draw(_optional_moment),
        outcome=draw(_optional_text),
        error_code=draw(_optional_text),
        error_message=draw(_optional_text),
        worker=draw(_optional_text),
    )


_floats = st.floats(allow_nan=False, allow_infinity=False)
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


@st.composite
def hdu_summaries(draw: st.DrawFn) -> dict[str, Any]:
    """One HDU without its header, as the repositories read it."""
    return {
        "hdu_index": draw(st.integers(0, 999)),
        "name": draw(st.none() | _text),
        "kind": draw(st.sampled_from(["primary", "image", "table", "bintable", "compressed"])),
        "naxis": draw(st.lists(st.integers(0, 2**31), max_size=4)),
        "bitpix": draw(st.sampled_from([8, 16, 32, 64, -32, -64])),
        "data_size": draw(st.integers(0, 2**62)),
        "checksum_status": draw(st.sampled_from(["absent", "valid", "invalid"])),
    }


def values_of(product: Product) -> dict[str, Any]:
    """A product's values, as :func:`pipeline.models.product_values` reads them."""
    return {name: getattr(product, name) for name in field_names(Product)}
