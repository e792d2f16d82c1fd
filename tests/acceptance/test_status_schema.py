"""Property tests from the published OpenAPI schema (schemathesis).

For every operation, schemathesis generates requests that fit the schema and
requests that break it, sends them over HTTP to a real uvicorn serving the
known catalogue (in its own thread and event loop, as in production) and
checks: no 5xx, every response as the schema describes it, invalid input
refused with a 4xx, and every 4xx the error envelope. Bounded: a few dozen
examples per operation and generation mode.
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
from schemathesis.schemas import APIOperation, BaseSchema

from tests.acceptance.conftest import build_catalogue
from tests.acceptance.test_status_api import ENDPOINTS
from tests.support.live_api import live_api_over
from tests.support.schemathesis_cases import validate_as_sent

#: Examples per operation and generation mode: enough to reach every
#: parameter's edges, few enough for the whole file to run in seconds.
EXAMPLES = 25
ENVELOPE_KEYS = {"error", "message", "details"}


@pytest.fixture
def live_api(migrated_database_url: str, tmp_path: Path) -> Iterator[str]:
    """The base URL of the API over the known catalogue, on each backend."""
    with live_api_over(migrated_database_url, tmp_path / "incoming", build_catalogue) as url:
        yield url


@pytest.fixture
def api_schema(live_api: str) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{live_api}/openapi.json")


Operation = APIOperation[Any, Any, Any, Any]


def _fuzz(operation: Operation, mode: GenerationMode) -> None:
    """Send ``EXAMPLES`` generated requests to ``operation`` and check every answer."""
    label = f"{operation.label} ({mode.value})"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def answers_well(case: schemathesis.Case[Operation]) -> None:
        response = case.call()
        assert response.status_code < 500, (label, case.path_parameters, case.query, response.text)
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == ENVELOPE_KEYS, (label, body)
            assert isinstance(body["error"], str) and isinstance(body["details"], dict), body
        validate_as_sent(case, response)

    answers_well()


# schemathesis's own pytest integration (``from_fixture``) does not run under
# pytest 9, so the operations are walked here, each with Hypothesis directly.
def test_every_answer_is_documented_and_no_input_breaks_the_server(api_schema: BaseSchema) -> None:
    results = list(api_schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "the published schema has invalid operations"
    assert {operation.path for operation in operations} == ENDPOINTS
    for operation in operations:
        _fuzz(operation, GenerationMode.POSITIVE)
        # Without parameters there is nothing to get wrong.
        if len(operation.query) + len(operation.path_parameters):
            _fuzz(operation, GenerationMode.NEGATIVE)
