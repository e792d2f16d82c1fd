"""The operators' actions under schemathesis, with the operator's token and a queue.

The published-schema test (``tests/acceptance/test_status_schema.py``) sends
no token, so every action there stops at 403. Here the token is given and a
queue is there: generated retries and scans reach the retry and scan code
itself, over HTTP to a real uvicorn, and none may answer 5xx or break the
schema.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from pipeline.api import ApiServer, create_app
from pipeline.settings import Settings
from tests.acceptance.conftest import FixedBrokerProbe, build_catalogue
from tests.acceptance.test_jobs_api import RecordingSender
from tests.support.databases import ONLY_SQLITE, opened_database

pytestmark = ONLY_SQLITE  # the request handling fuzzed here is the same on both
TOKEN = "operator-token-for-the-fuzzing"
ACTIONS = {"/jobs/{job_id}/retry", "/jobs/retry", "/scan"}
EXAMPLES = 40


class _LiveApi:
    def __init__(self, database_url: str, root: Path) -> None:
        self.database_url, self.root = database_url, root
        self.listening = threading.Event()
        self.port = 0
        self.server: ApiServer | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def run(self) -> None:
        async with opened_database(self.database_url) as database:
            await build_catalogue(database, self.root)
            options = {"api": {"token": TOKEN}, "watch": {"roots": [str(self.root)]}}
            app = create_app(
                database,
                FixedBrokerProbe(),
                settings=Settings.model_validate(options),
                sender=RecordingSender(),
            )
            self.server = ApiServer(app, "127.0.0.1", 0)
            self.port = self.server.listen()
            self.loop = asyncio.get_running_loop()
            self.listening.set()
            await self.server.serve()


@pytest.fixture
def live_api(migrated_database_url: str, tmp_path: Path) -> Iterator[str]:
    live = _LiveApi(migrated_database_url, tmp_path / "incoming")
    with ThreadPoolExecutor(max_workers=1) as thread:
        served = thread.submit(asyncio.run, live.run())
        while not live.listening.wait(0.05):
            if served.done():
                served.result()
                raise AssertionError("the API stopped before it listened")
        yield f"http://127.0.0.1:{live.port}"
        assert live.loop is not None and live.server is not None
        live.loop.call_soon_threadsafe(live.server.stop)
        served.result(timeout=30)


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
