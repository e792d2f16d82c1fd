"""``/queues``, ``/workers`` and ``/dlq`` over HTTP, as an operator uses them: the
figures of a broker in a known state, the workers and what they run, dead
letters listed, requeued and purged with the job rows checked, the token
rules on the mutating endpoints, and what a broker that cannot be asked gives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.api import BrokerProbe, NullBrokerProbe, create_app, params
from pipeline.clock import utc_now
from pipeline.db import Connection, Database, open_database
from pipeline.repositories import jobs
from pipeline.repositories.jobs import NewJob
from pipeline.repositories.workers import WorkerBeat, record_heartbeat
from pipeline.settings import BrokerSettings, DatabaseSettings, Settings
from tests.acceptance.conftest import FixedBrokerProbe, asgi_client
from tests.integration.test_queues_dlq import GAVE_UP, dead_jobs
from tests.integration.test_queues_support import (
    BrokerUnderTest,
    any_broker,
    known_state,
    redis_server,
)
from tests.support.databases import ONLY_SQLITE
from tests.support.processes import FitsflowProcess, fitsflow_env
from tests.support.servers import free_port
from workers.probe import probe_for_settings

__all__ = ["any_broker", "redis_server"]  # fixtures, imported to be found

TOKEN = "s3cret-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MUTATIONS = ["/dlq/requeue", "/dlq/purge"]


def _settings(token: str | None = TOKEN, protect_reads: bool = False, **broker: Any) -> Settings:
    return Settings.model_validate(
        {"api": {"token": token, "protect_reads": protect_reads}, "broker": broker}
    )


@pytest.fixture
async def http(any_broker: BrokerUnderTest, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The API over the database and the broker under test, a token configured."""
    settings = _settings(url=any_broker.url, queue=any_broker.queue)
    async with asgi_client(create_app(database, any_broker.probe, settings=settings)) as client:
        yield client


@contextlib.asynccontextmanager
async def _client(
    database: Database, broker: BrokerProbe, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(database, broker, settings=settings)) as client:
        yield client


async def _worker_running_a_job(database: Database, beat_age: float = 0.0) -> tuple[str, int]:
    """A worker row (heard from ``beat_age`` seconds ago) and a job it is running."""

    async def write(tx: Connection) -> tuple[str, int]:
        now = utc_now()
        beat = WorkerBeat("node7:4242", "node7", 4242, 4, ("fitsflow-ingest",), 5.0, now)
        await record_heartbeat(tx, beat, now - timedelta(seconds=beat_age))
        job_id = await jobs.insert_job(tx, NewJob("/data/busy.fits", 1, 1, "watch"), now)
        await jobs.start_attempt(tx, job_id, beat.id, now, lease_until=now + timedelta(60))
        return beat.id, job_id

    return await database.run_in_transaction(write)


#: Fields that change with the moment of asking.
MOMENTARY = {"checked_at", "seconds_since_heartbeat", "oldest_ready_age_seconds"}


def steady(document: Any) -> Any:
    """``document`` without :data:`MOMENTARY` fields, for comparing two answers."""
    if isinstance(document, dict):
        return {k: steady(v) for k, v in document.items() if k not in MOMENTARY}
    if isinstance(document, list):
        return [steady(item) for item in document]
    return document


# --- reads ----------------------------------------------------------------------------


@ONLY_SQLITE
async def test_queues_show_a_known_state_and_the_workers(
    any_broker: BrokerUnderTest, http: httpx.AsyncClient, database: Database
) -> None:
    await asyncio.to_thread(known_state, any_broker, 4, 2, 1, 3)
    worker_id, job_id = await _worker_running_a_job(database)
    document = (await http.get("/queues")).raise_for_status().json()
    assert document["broker"] == any_broker.kind and document["broker_error"] is None
    [queue] = document["queues"]
    expected_in_flight = None if any_broker.kind == "rabbitmq" else 1
    assert (queue["name"], queue["ready"], queue["delayed"], queue["dead"]) == (
        any_broker.queue, 4, 2, 3,
    )  # fmt: skip
    assert queue["in_flight"] == expected_in_flight
    assert set(queue["unknown"]) == ({"in_flight"} if expected_in_flight is None else set())
    assert 0 <= queue["oldest_ready_age_seconds"] < 60
    assert document["jobs"] == {"queued": 0, "running": 1, "retrying": 0}
    [worker] = document["workers"]
    assert (worker["id"], worker["alive"], worker["threads"]) == (worker_id, True, 4)
    assert [job["job_id"] for job in worker["processing"]] == [job_id]
    workers = (await http.get("/workers")).json()
    assert steady(workers) == steady({"alive": 1, "workers": document["workers"]})


@ONLY_SQLITE
@pytest.mark.parametrize("any_broker", ["memory"], indirect=True)
async def test_a_silent_worker_is_reported_dead(
    http: httpx.AsyncClient, database: Database
) -> None:
    worker_id, job_id = await _worker_running_a_job(database, beat_age=16.0)  # > 3 x 5 s
    document = (await http.get("/workers")).json()
    [worker] = document["workers"]
    assert document["alive"] == 0 and not worker["alive"] and worker["id"] == worker_id
    assert worker["seconds_since_heartbeat"] >= 16.0
    assert [job["job_id"] for job in worker["processing"]] == [job_id]  # what it held


async def test_dead_letters_requeue_and_purge_over_http(
    any_broker: BrokerUnderTest, http: httpx.AsyncClient, database: Database
) -> None:
    job_ids = await dead_jobs(database, any_broker, 3)
    page = (await http.get("/dlq", params={"limit": 2})).raise_for_status().json()
    assert len(page["dead_letters"]) == 2 and page["next_cursor"] == "o2"
    rest = (await http.get("/dlq", params={"cursor": page["next_cursor"]})).json()
    letters = page["dead_letters"] + rest["dead_letters"]
    assert sorted(letter["job_id"] for letter in letters) == job_ids
    assert {letter["error_code"] for letter in letters} == {GAVE_UP.code}
    first, second = letters[0], letters[1]
    body = {"message_ids": [first["message_id"]]}
    requeued = (await http.post("/dlq/requeue", json=body, headers=AUTH)).raise_for_status()
    [item] = requeued.json()["requeued"]
    assert (item["job_id"], item["job_state"]) == (first["job_id"], "queued")
    job = (await http.get(f"/jobs/{first['job_id']}")).json()["job"]
    assert (job["state"], job["message_id"]) == ("queued", item["new_message_id"])
    body = {"message_ids": [second["message_id"]]}
    purged = (await http.post("/dlq/purge", json=body, headers=AUTH)).raise_for_status().json()
    assert [p["job_id"] for p in purged["purged"]] == [second["job_id"]]
    assert (await http.get(f"/jobs/{second['job_id']}")).json()["job"]["state"] == "failed"
    everything = await http.post("/dlq/requeue", json={"all": True}, headers=AUTH)
    assert [i["job_id"] for i in everything.json()["requeued"]] == [letters[2]["job_id"]]
    assert (await http.get("/dlq")).json()["dead_letters"] == []


# --- token rules on the mutating endpoints ------------------------------------------------


@pytest.fixture
def unopened(tmp_path: Path) -> Iterator[Database]:
    """A database never connected: for requests refused before they reach it."""
    yield open_database(DatabaseSettings(url=f"sqlite:///{tmp_path / 'unused.db'}"))
    assert not (tmp_path / "unused.db").exists(), "a refused request reached the database"


@pytest.mark.parametrize("path", MUTATIONS)
async def test_no_token_configured_disables_them(path: str, unopened: Database) -> None:
    async with _client(unopened, NullBrokerProbe(), _settings(token=None)) as client:
        answer = await client.post(path, json={"all": True}, headers=AUTH)
    assert answer.status_code == 403
    assert answer.json()["error"] == "forbidden"
    assert answer.json()["details"] == {"reason": "disabled", "settings": ["api.token"]}


@ONLY_SQLITE
@pytest.mark.parametrize("path", MUTATIONS)
@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_token"),
        ({"Authorization": f"Bearer {TOKEN[:-1]}X"}, "wrong_token"),
        ({"Authorization": f"Basic {TOKEN}"}, "missing_token"),
    ],
)
@pytest.mark.parametrize("any_broker", ["memory"], indirect=True)
async def test_a_missing_or_wrong_token_is_refused(
    path: str,
    headers: dict[str, str],
    reason: str,
    any_broker: BrokerUnderTest,
    http: httpx.AsyncClient,
    database: Database,
) -> None:
    [job_id] = await dead_jobs(database, any_broker, 1)
    answer = await http.post(path, json={"all": True}, headers=headers)
    assert answer.status_code == 403, answer.text
    assert (answer.json()["error"], answer.json()["details"]["reason"]) == ("forbidden", reason)
    assert len((await http.get("/dlq")).json()["dead_letters"]) == 1  # nothing happened
    assert (await http.get(f"/jobs/{job_id}")).json()["job"]["state"] == "failed"


@ONLY_SQLITE
@pytest.mark.parametrize("path", MUTATIONS)
@pytest.mark.parametrize("any_broker", ["memory"], indirect=True)
async def test_the_right_token_is_accepted(path: str, http: httpx.AsyncClient) -> None:
    answer = await http.post(path, json={"message_ids": ["no-such-id"]}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.json()["not_found"] == ["no-such-id"]


@ONLY_SQLITE
@pytest.mark.parametrize("path", ["/queues", "/workers", "/dlq"])
async def test_protected_reads_need_the_token(path: str, database: Database) -> None:
    settings = _settings(protect_reads=True)
    async with _client(database, NullBrokerProbe(), settings) as client:
        assert (await client.get(path)).status_code == 403
        assert (await client.get(path, headers=AUTH)).status_code == 200


# --- requests that cannot be served -------------------------------------------------------


@pytest.mark.parametrize("path", MUTATIONS)
@pytest.mark.parametrize(
    "body",
    [{}, {"message_ids": []}, {"message_ids": ["a"], "all": True}, {"all": False},
     {"message_ids": ["a\x00b"]}, {"message_ids": "a"}, ["a"]],
)  # fmt: skip
async def test_a_bad_selection_is_a_400(path: str, body: Any, unopened: Database) -> None:
    async with _client(unopened, NullBrokerProbe(), _settings()) as client:
        answer = await client.post(path, json=body, headers=AUTH)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "validation_error"


@pytest.mark.parametrize("cursor", ["c12", "o", "o-1", "o1234567890"])
async def test_a_bad_cursor_is_a_400(cursor: str, unopened: Database) -> None:
    async with _client(unopened, NullBrokerProbe(), _settings()) as client:
        answer = await client.get("/dlq", params={"cursor": cursor})
    assert answer.status_code == 400 and answer.json()["error"] == "validation_error"


DOWN_REDIS = BrokerSettings(url="redis://127.0.0.1:1/0", queue="fitsflow-ingest")


@ONLY_SQLITE
@pytest.mark.parametrize(
    ("broker", "says"),
    [
        (NullBrokerProbe(), "fitsflow run"),
        (FixedBrokerProbe(), "cannot inspect"),
        (probe_for_settings(DOWN_REDIS), "Redis at redis://127.0.0.1:1/0"),
    ],
    ids=["memory-elsewhere", "read-only-probe", "redis-down"],
)
async def test_a_broker_that_cannot_be_asked(
    broker: BrokerProbe, says: str, database: Database
) -> None:
    await _worker_running_a_job(database)
    async with _client(database, broker, _settings()) as client:
        queues = (await client.get("/queues")).raise_for_status().json()
        page = (await client.get("/dlq")).raise_for_status().json()
        action = await client.post("/dlq/requeue", json={"all": True}, headers=AUTH)
    # Reads still answer what the database knows, and say why the broker part is missing.
    assert queues["queues"] is None and says in queues["broker_error"]["message"]
    assert queues["broker_error"]["error"] == "broker_unavailable"
    assert len(queues["workers"]) == 1 and queues["jobs"]["running"] == 1
    assert page["dead_letters"] is None and says in page["broker_error"]["message"]
    # An action that cannot happen is never a 200.
    assert action.status_code == 503 and action.json()["error"] == "broker_unavailable"


async def test_the_endpoints_are_published(unopened: Database) -> None:
    async with _client(unopened, NullBrokerProbe(), _settings()) as client:
        schema = (await client.get("/openapi.json")).json()
    for path in ("/queues", "/workers", "/dlq"):
        assert "get" in schema["paths"][path]
    limit = schema["paths"]["/dlq"]["get"]["parameters"][0]["schema"]
    assert (limit["maximum"], limit["default"]) == (params.MAX_PAGE_SIZE, params.DEFAULT_PAGE_SIZE)
    for path in MUTATIONS:
        operation = schema["paths"][path]["post"]
        assert {"400", "403", "503"} <= set(operation["responses"])
        assert "requestBody" in operation


# --- the embedded process: worker threads beat, its own broker answers --------------------


@ONLY_SQLITE
async def test_fitsflow_run_reports_its_worker_threads_and_queue(
    migrated_database_url: str, database: Database, tmp_path: Path
) -> None:
    port = free_port()
    env = fitsflow_env(migrated_database_url, FITSFLOW_WORKER_HEARTBEAT_SECONDS="0.3")
    (tmp_path / "inbox").mkdir()
    run = FitsflowProcess(
        ["run", "--watch", str(tmp_path / "inbox"), "--port", str(port)], env, tmp_path / "run.log"
    ).start()
    base = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(run.wait_http, f"{base}/health")
        async with httpx.AsyncClient(base_url=base) as client:
            workers = await _poll(client, "/workers", lambda d: d["alive"] == 1)
            queues = (await client.get("/queues")).raise_for_status().json()
        [worker] = workers["workers"]
        assert worker["pid"] == run.pid and worker["heartbeat_seconds"] == 0.3
        assert queues["broker"] == "memory" and queues["broker_error"] is None
        assert queues["queues"][0]["name"] == "fitsflow-ingest"
    finally:
        assert await asyncio.to_thread(run.stop) == 0
    # A clean stop takes the worker's row with it.
    assert await database.fetch_value("SELECT COUNT(*) FROM workers") == 0


async def _poll(client: httpx.AsyncClient, path: str, done: Any, seconds: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        document = (await client.get(path)).raise_for_status().json()
        if done(document):
            return document
        assert asyncio.get_running_loop().time() < deadline, f"{path} never matched: {document}"
        await asyncio.sleep(0.05)
