"""The operators' actions under schemathesis, with the operator's token and a queue.

The published-schema test (``tests/acceptance/test_status_schema.py``) sends
no token, so every action there stops at 403. Here the token is given and a
queue is there: generated retries and scans reach the retry and scan code
itself, over HTTP to a real uvicorn, and none may answer 5xx or break the
schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from pipeline.settings import Settings
from tests.acceptance.conftest import build_catalogue
from tests.acceptance.test_jobs_api import RecordingSender
from tests.support.databases import ONLY_SQLITE
from tests.support.live_api import live_api_over

pytestmark = ONLY_SQLITE  # the request handling fuzzed here is the same on both
TOKEN = "operator-token-for-the-fuzzing"
ACTIONS = {"/jobs/{job_id}/retry", "/jobs/retry", "/scan"}
EXAMPLES = 40


@pytest.fixture
def live_api(migrated_database_url: str, tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "incoming"
    options = {"api": {"token": TOKEN}, "watch": {"roots": [str(root)]}}
    with live_api_over(
        migrated_database_url,
        root,
        build_catalogue,
        settings=Settings.model_validate(options),
        sender=RecordingSender(),
    ) as url:
        yield url


def _fuzz(operation: Any, mode: GenerationMode) -> None:
    label = f"{operation.label} ({mode.value})"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def answers_well(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code < 500, (label, case.path_parameters, case.body, response.text)
        if response.status_code >= 400:
            assert set(response.json()) == {"error", "message", "details"}, response.text
        case.validate_response(response)

    answers_well()


def test_no_action_breaks_the_server(live_api: str) -> None:
    schema = schemathesis.openapi.from_url(f"{live_api}/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations() if isinstance(r, Ok)]
    actions = [operation for operation in operations if operation.path in ACTIONS]
    assert {operation.path for operation in actions} == ACTIONS
    for operation in actions:
        _fuzz(operation, GenerationMode.POSITIVE)
        _fuzz(operation, GenerationMode.NEGATIVE)
