"""``fitsflow queues`` and ``fitsflow dlq`` run as an operator runs them on another
host: separate processes reading the database and the broker directly, no API
anywhere — and their ``--json`` agrees with what the API serves."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipeline.api import create_app
from pipeline.cli.app import app
from pipeline.db import Database
from pipeline.settings import BrokerSettings, Settings
from tests.acceptance.conftest import asgi_client
from tests.acceptance.test_queues_api import _worker_running_a_job, steady
from tests.integration.test_queues_dlq import dead_bundle, dead_jobs
from tests.integration.test_queues_support import (
    BrokerUnderTest,
    any_broker,
    known_state,
    redis_server,
)
from tests.support.databases import ONLY_SQLITE
from workers.probe import probe_for_settings

__all__ = ["any_broker", "redis_server"]  # fixtures, imported to be found

pytestmark = ONLY_SQLITE  # the commands read the database as the API does; see the API tests

FITSFLOW = Path(sys.executable).with_name("fitsflow")
COMMAND_SECONDS = 120.0  # far more than a command needs (about a second, mostly imports)
SHARED_BROKERS = ["redis", "rabbitmq"]  # memory:// cannot be reached from another process


async def fitsflow(
    under_test: BrokerUnderTest, database_url: str, *args: str
) -> tuple[int, str, str]:
    """``fitsflow ARGS… --database-url … --broker-url …`` on the queue under test."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FITSFLOW_")}
    env["FITSFLOW_BROKER_QUEUE"] = under_test.queue
    env["COLUMNS"] = "200"  # tables are as wide as a terminal; none is attached here
    process = await asyncio.create_subprocess_exec(
        str(FITSFLOW), *args, "--database-url", database_url, "--broker-url", under_test.url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    async with asyncio.timeout(COMMAND_SECONDS):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def in_process(
    under_test: BrokerUnderTest, database_url: str, *args: str
) -> tuple[int, str, str]:
    """The same command run in this process (typer's runner, in a thread: the
    command runs its own event loop) — for what needs no separate process."""
    runner = CliRunner()
    env = {"FITSFLOW_BROKER_QUEUE": under_test.queue, "COLUMNS": "200"}
    full = [*args, "--database-url", database_url, "--broker-url", under_test.url]
    result = await asyncio.to_thread(runner.invoke, app, full, env=env)
    return result.exit_code, result.stdout, result.stderr


async def served(under_test: BrokerUnderTest, database: Database, path: str) -> Any:
    """``GET path`` from an API over the same database and broker, built as ``fitsflow api``."""
    broker = BrokerSettings(url=under_test.url, queue=under_test.queue)
    app = create_app(database, probe_for_settings(broker), settings=Settings(broker=broker))
    async with asgi_client(app) as client:
        return (await client.get(path)).raise_for_status().json()


@pytest.mark.parametrize("any_broker", SHARED_BROKERS, indirect=True)
async def test_queues_json_agrees_with_the_api(
    any_broker: BrokerUnderTest, migrated_database_url: str, database: Database
) -> None:
    await asyncio.to_thread(known_state, any_broker, 3, 1, 0, 2)
    await _worker_running_a_job(database)
    code, stdout, stderr = await fitsflow(any_broker, migrated_database_url, "queues", "--json")
    assert code == 0, stderr
    printed = json.loads(stdout)
    assert steady(printed) == steady(await served(any_broker, database, "/queues"))
    [queue] = printed["queues"]
    assert (queue["ready"], queue["delayed"], queue["dead"]) == (3, 1, 2)
    assert printed["workers"][0]["processing"]


@pytest.mark.parametrize("any_broker", SHARED_BROKERS, indirect=True)
async def test_dlq_list_requeue_and_purge(
    any_broker: BrokerUnderTest, migrated_database_url: str, database: Database
) -> None:
    job_ids = await dead_jobs(database, any_broker, 3)
    code, stdout, stderr = await fitsflow(
        any_broker, migrated_database_url, "dlq", "list", "--json"
    )
    assert code == 0, stderr
    page = json.loads(stdout)
    assert page == await served(any_broker, database, "/dlq")
    first, *others = page["dead_letters"]
    code, stdout, stderr = await in_process(
        any_broker, migrated_database_url, "dlq", "requeue", first["message_id"], "--json"
    )
    assert code == 0, stderr
    [requeued] = json.loads(stdout)["requeued"]
    assert (requeued["job_id"], requeued["job_state"]) == (first["job_id"], "queued")
    code, stdout, stderr = await in_process(
        any_broker, migrated_database_url, "dlq", "purge", "--all", "--json"
    )
    assert code == 0, stderr
    purged = json.loads(stdout)["purged"]
    assert sorted(p["job_id"] for p in purged) == sorted(letter["job_id"] for letter in others)
    figures = any_broker.figures()
    assert (figures.ready, figures.dead) == (1, 0)
    jobs = await database.fetch_all("SELECT id, state FROM jobs ORDER BY id")
    expected = {job_id: "failed" for job_id in job_ids} | {first["job_id"]: "queued"}
    assert {row["id"]: row["state"] for row in jobs} == expected


@pytest.mark.parametrize("any_broker", ["redis"], indirect=True)
async def test_tables_for_people(
    any_broker: BrokerUnderTest, migrated_database_url: str, database: Database
) -> None:
    await dead_jobs(database, any_broker, 1)
    worker_id, _ = await _worker_running_a_job(database)
    code, stdout, stderr = await in_process(any_broker, migrated_database_url, "queues")
    assert code == 0, stderr
    assert any_broker.queue in stdout and worker_id in stdout and "/data/busy.fits" in stdout
    code, stdout, stderr = await in_process(any_broker, migrated_database_url, "dlq", "list")
    assert code == 0, stderr
    assert "/data/job-0.fits" in stdout and "file_not_complete" in stdout


@pytest.mark.parametrize("any_broker", ["redis"], indirect=True)
async def test_a_dead_bundle_is_shown_with_its_jobs(
    any_broker: BrokerUnderTest, migrated_database_url: str, database: Database
) -> None:
    failed, running, _ = await dead_bundle(database, any_broker)
    jobs = f"bundle of 3 jobs: {failed[0]}, {failed[1]}, {running}"
    code, stdout, stderr = await in_process(any_broker, migrated_database_url, "dlq", "list")
    assert code == 0, stderr
    assert jobs in stdout
    code, stdout, stderr = await in_process(
        any_broker, migrated_database_url, "dlq", "requeue", "--all"
    )
    assert code == 0, stderr
    assert f"({jobs})" in stdout and "1 requeued" in stdout


@pytest.mark.parametrize("any_broker", ["redis"], indirect=True)
@pytest.mark.parametrize(
    "args", [("dlq", "requeue"), ("dlq", "purge", "some-id", "--all")], ids=["none", "both"]
)
async def test_ids_or_all_must_be_given(
    args: tuple[str, ...], any_broker: BrokerUnderTest, migrated_database_url: str
) -> None:
    code, _, stderr = await in_process(any_broker, migrated_database_url, *args)
    assert code == 2 and "give message ids or --all" in stderr


@pytest.mark.parametrize("any_broker", ["memory"], indirect=True)
async def test_a_memory_broker_is_out_of_reach(
    any_broker: BrokerUnderTest, migrated_database_url: str
) -> None:
    code, stdout, stderr = await in_process(any_broker, migrated_database_url, "queues", "--json")
    assert code == 0, stderr
    printed = json.loads(stdout)
    assert printed["queues"] is None and "fitsflow run" in printed["broker_error"]["message"]
    code, _, stderr = await in_process(any_broker, migrated_database_url, "dlq", "list")
    assert code == 1 and "fitsflow run" in stderr
    code, _, stderr = await in_process(any_broker, migrated_database_url, "dlq", "purge", "--all")
    assert code == 1 and "broker_unavailable" in stderr
