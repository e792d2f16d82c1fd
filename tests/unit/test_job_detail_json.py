"""``GET /jobs/{id}`` is written from the records without a pydantic model
(:meth:`pipeline.api.catalogue.FoundJob.json`); it must stay byte for byte the
document the API publishes (:class:`pipeline.api.schemas.JobDetail`), whatever
a job and its attempts hold."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.api.catalogue import FoundJob
from pipeline.models import Job, JobAttempt, JobState, Outcome

_moments = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
_text = st.text(max_size=12)
_optional_text = st.none() | _text
_optional_moment = st.none() | _moments
# Error details quote what went wrong: any JSON value, 64-bit integers here.
_json = st.recursive(
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
        error_details=draw(st.none() | st.dictionaries(_text, _json, max_size=3)),
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


@settings(max_examples=300, deadline=None)
@given(jobs(), st.lists(attempts(), max_size=4))
def test_a_job_is_written_as_its_published_document(job: Job, tried: list[JobAttempt]) -> None:
    found = FoundJob(job, tried)
    assert found.json() == found.document().model_dump_json().encode()


@settings(max_examples=20, deadline=None)
@given(jobs())
def test_an_integer_past_64_bits_takes_pydantics_path(job: Job) -> None:
    details: dict[str, Any] = {"card": "NAXIS1", "value": 2**70}
    found = FoundJob(dataclasses.replace(job, error_details=details), [])
    assert json.loads(found.json())["job"]["error_details"] == details  # every digit
    assert found.json() == found.document().model_dump_json().encode()
