"""``GET /jobs/{id}`` is written from the records without a pydantic model
(:meth:`pipeline.api.catalogue.FoundJob.json`); it must stay byte for byte the
document the API publishes (:class:`pipeline.api.schemas.JobDetail`), whatever
a job and its attempts hold."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.api.catalogue import FoundJob
from pipeline.models import Job, JobAttempt
from tests.support.records import attempts, jobs


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
