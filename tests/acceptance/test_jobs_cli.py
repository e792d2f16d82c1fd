"""``fitsflow jobs``, ``batches`` and ``scan`` run as a user runs them: separate
processes reading the database (and sending to the broker) directly, no API.
Their ``--json`` is the API's document, byte for byte where time does not move."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.api import create_app
from pipeline.cli.operator import absolute_prefix
from pipeline.settings import Settings
from tests.acceptance.conftest import BATCH_BAD, Catalogue, FixedBrokerProbe, asgi_client
from tests.acceptance.test_status_cli import fitsflow
from tests.support.catalogue import write_fits
from tests.support.processes import FitsflowProcess, fitsflow_env
from tests.support.servers import private_redis

#: Figures that follow the clock: two reads a moment apart differ in them.
CLOCK = ("rate_per_second", "rate_window_seconds", "eta_seconds")


async def api(catalogue: Catalogue, url: str, **params: Any) -> Any:
    app = create_app(catalogue.database, FixedBrokerProbe(), settings=Settings())
    async with asgi_client(app) as client:
        return (await client.get(url, params=params)).raise_for_status().json()


async def cli_json(catalogue: Catalogue, url: str, *args: str) -> Any:
    code, stdout, stderr = await fitsflow(*args, "--json", "--database-url", url)
    assert code == 0, stderr
    return json.loads(stdout)


def steady(batch: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in batch.items() if key not in CLOCK}


def page_path(catalogue: Catalogue) -> str:
    return str(catalogue.root / "night2" / "page.fits")


@pytest.mark.parametrize(
    ("args", "params"),
    [
        ((), {}),
        (("--state", "failed"), {"state": "failed"}),
        (("--code", "not_fits", "--unresolved"), {"error_code": "not_fits", "unresolved": "true"}),
        (
            ("--path-prefix", "{root}/night1/", "--limit", "2"),
            {"path_prefix": "{root}/night1/", "limit": 2},
        ),
        (
            ("--created-after", "2000-01-01T00:00:00Z", "--finished-before", "2999-01-01T00:00:00"),
            {"created_after": "2000-01-01T00:00:00Z", "finished_before": "2999-01-01T00:00:00"},
        ),
    ],
)
async def test_jobs_list_json_agrees_with_the_api(
    catalogue: Catalogue, migrated_database_url: str, args: tuple[str, ...], params: dict[str, Any]
) -> None:
    root = str(catalogue.root)
    args = tuple(arg.replace("{root}", root) for arg in args)
    params = {k: v.replace("{root}", root) if isinstance(v, str) else v for k, v in params.items()}
    printed = await cli_json(catalogue, migrated_database_url, "jobs", "list", *args)
    served = await api(catalogue, "/jobs", **params)
    assert printed == served and printed["jobs"]
    if printed["next_cursor"]:  # and the next page, from the cursor either printed
        cursor = printed["next_cursor"]
        after = await cli_json(
            catalogue, migrated_database_url, "jobs", "list", *args, "--cursor", cursor
        )
        assert after == await api(catalogue, "/jobs", **params, cursor=cursor)


async def test_jobs_show_failures_and_history_json_agree_with_the_api(
    catalogue: Catalogue, migrated_database_url: str
) -> None:
    url = migrated_database_url
    job_id = catalogue.results[page_path(catalogue)].job_id
    assert await cli_json(catalogue, url, "jobs", "show", str(job_id)) == await api(
        catalogue, f"/jobs/{job_id}"
    )
    failures = await cli_json(catalogue, url, "jobs", "failures", "--examples", "1")
    assert failures == await api(catalogue, "/failures", examples=1)
    assert {group["error_code"] for group in failures["groups"]} == set(BATCH_BAD.values())
    history = await cli_json(catalogue, url, "jobs", "history", catalogue.rewritten)
    assert history == await api(catalogue, "/files/history", path=catalogue.rewritten)
    assert len(history["jobs"]) == 2 and len(history["products"]) == 2


async def test_batches_json_agrees_with_the_api(
    catalogue: Catalogue, migrated_database_url: str
) -> None:
    printed = await cli_json(catalogue, migrated_database_url, "batches", "list")
    served = await api(catalogue, "/batches")
    assert [steady(b) for b in printed["batches"]] == [steady(b) for b in served["batches"]]
    shown = await cli_json(
        catalogue, migrated_database_url, "batches", "show", str(catalogue.batch_id)
    )
    assert steady(shown) == steady(await api(catalogue, f"/batches/{catalogue.batch_id}"))
    watched = await cli_json(
        catalogue, migrated_database_url, "batches", "watch", str(catalogue.batch_id)
    )
    assert steady(watched) == steady(shown)  # done already: one snapshot


async def test_tables_for_people(catalogue: Catalogue, migrated_database_url: str) -> None:
    url = migrated_database_url
    code, stdout, stderr = await fitsflow("jobs", "failures", "--database-url", url)
    assert code == 0, stderr
    assert all(error in stdout for error in BATCH_BAD.values()) and page_path(
        catalogue
    ) in stdout.replace("\n", "")
    code, stdout, _ = await fitsflow("jobs", "list", "--state", "failed", "--database-url", url)
    assert code == 0 and "not_fits" in stdout and "empty_file" in stdout
    code, stdout, _ = await fitsflow("batches", "list", "--database-url", url)
    assert code == 0 and "ingest" in stdout and "done" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("jobs", "retry"), "give a job ID"),
        (("jobs", "retry", "1", "--code", "not_fits"), "give a job ID"),
        (("jobs", "list", "--created-after", "last tuesday"), "ISO 8601"),
        (("jobs", "list", "--cursor", "nonsense"), "--cursor"),
    ],
)
async def test_bad_arguments_say_what_is_wrong(
    catalogue: Catalogue, migrated_database_url: str, args: tuple[str, ...], message: str
) -> None:
    code, stdout, stderr = await fitsflow(*args, "--database-url", migrated_database_url)
    assert code == 2 and stdout == ""
    assert message in stderr.replace("\n", " ")


async def test_unknown_job_and_batch_are_reported(
    catalogue: Catalogue, migrated_database_url: str
) -> None:
    for args in (("jobs", "show", "999999"), ("batches", "show", "999999")):
        code, _, stderr = await fitsflow(*args, "--database-url", migrated_database_url)
        assert code == 1 and "not_found" in stderr


async def test_retry_against_a_memory_queue_commits_for_fitsflow_run_to_send(
    catalogue: Catalogue, migrated_database_url: str
) -> None:
    url = migrated_database_url
    failed = catalogue.results[page_path(catalogue)].job_id
    code, stdout, stderr = await fitsflow(
        "jobs", "retry", str(failed), "--json", "--database-url", url
    )
    assert code == 0, stderr
    detail = json.loads(stdout)
    assert detail["job"]["retry_of"] == failed and detail["job"]["state"] == "queued"
    assert detail["job"]["enqueued_at"] is None  # nothing here could send it
    assert "memory://" in stderr and "fitsflow run" in stderr
    code, stdout, stderr = await fitsflow(
        "jobs", "retry", "--code", "empty_file", "--json", "--database-url", url
    )
    assert code == 0, stderr
    batch = json.loads(stdout)
    assert (batch["kind"], batch["total"], batch["closed"]) == ("retry", 1, True)
    again = await fitsflow("jobs", "retry", str(failed), "--database-url", url)
    assert again[0] == 1 and "conflict" in again[2]


@pytest.mark.slow
@pytest.mark.redis
async def test_bulk_retry_after_fixing_files_beside_a_worker_process(
    catalogue: Catalogue, migrated_database_url: str, tmp_path: Path
) -> None:
    write_fits(Path(page_path(catalogue)), 500)  # the operator fixes the file
    with private_redis() as redis:
        env = fitsflow_env(migrated_database_url, redis.url)
        worker = FitsflowProcess(
            ["worker", "--processes", "1", "--threads", "2"], env, tmp_path / "w.log"
        )
        worker.start()
        try:
            code, stdout, stderr = await fitsflow(
                "jobs", "retry", "--code", "not_fits", "--wait", "--json",
                "--database-url", migrated_database_url, "--broker-url", redis.url,
            )  # fmt: skip
        finally:
            worker.kill()
    assert code == 0, stderr
    snapshots = [json.loads(line) for line in stdout.splitlines()]
    final = snapshots[-1]
    assert (final["total"], final["counts"]["succeeded"], final["remaining"]) == (1, 1, 0)
    history = await api(catalogue, "/files/history", path=page_path(catalogue))
    assert [d["job"]["state"] for d in history["jobs"]] == ["succeeded", "failed"]
    assert history["jobs"][0]["job"]["retry_of"] == history["jobs"][1]["job"]["id"]
    assert (
        history["jobs"][0]["attempts"][0]["worker"] != history["jobs"][1]["attempts"][0]["worker"]
    )


def test_path_prefixes_are_made_absolute_keeping_their_final_slash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_prefix("night2/") == f"{tmp_path}/night2/"
    assert absolute_prefix("night2") == f"{tmp_path}/night2"
    assert absolute_prefix("/data/./night2/") == "/data/night2/"
    assert absolute_prefix("/") == "/" and absolute_prefix(None) is None
