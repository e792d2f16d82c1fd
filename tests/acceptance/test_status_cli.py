"""``fitsflow status`` run as a user runs it: a separate process, no API anywhere."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from pipeline.api import create_app, probe_for
from pipeline.cli.app import app
from pipeline.settings import BrokerSettings, Settings
from tests.acceptance.conftest import BATCH_BAD, Catalogue, asgi_client

#: The console script installed beside this interpreter (the venv's ``fitsflow``).
FITSFLOW = Path(sys.executable).with_name("fitsflow")
#: Each process reports its own connection pool; everything else must agree.
OWN_TO_EACH_PROCESS = "database"
#: Far more than the command needs (about a second, mostly imports).
COMMAND_SECONDS = 120.0


async def fitsflow(*args: str) -> tuple[int, str, str]:
    """Run ``fitsflow ARGS…``; its exit status, stdout and stderr."""
    assert FITSFLOW.is_file(), f"{FITSFLOW} is missing: pip install -e . in this venv"
    env = {key: value for key, value in os.environ.items() if not key.startswith("FITSFLOW_")}
    process = await asyncio.create_subprocess_exec(
        str(FITSFLOW), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    async with asyncio.timeout(COMMAND_SECONDS):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def api_summary(catalogue: Catalogue, broker_url: str) -> dict[str, Any]:
    """``GET /summary`` with the broker probe the command would use."""
    probe = probe_for(BrokerSettings(url=broker_url))
    app = create_app(catalogue.database, probe, settings=Settings())
    async with asgi_client(app) as client:
        document: dict[str, Any] = (await client.get("/summary")).raise_for_status().json()
    return document


async def test_json_agrees_with_the_api(catalogue: Catalogue, migrated_database_url: str) -> None:
    broker_url = "redis://127.0.0.1:6379/0"
    code, stdout, stderr = await fitsflow(
        "status", "--json", "--database-url", migrated_database_url, "--broker-url", broker_url
    )
    assert code == 0, stderr
    printed = json.loads(stdout)
    served = await api_summary(catalogue, broker_url)
    assert set(printed[OWN_TO_EACH_PROCESS]) == set(served[OWN_TO_EACH_PROCESS])
    del printed[OWN_TO_EACH_PROCESS], served[OWN_TO_EACH_PROCESS]
    # Each counted at its own moment (the catalogue did not change in between).
    assert printed.pop("counted_at") <= served.pop("counted_at")
    assert printed == served
    assert printed["failures_by_code"] == {"empty_file": 1, "not_fits": 1}
    assert printed["jobs"]["failed"] == len(BATCH_BAD) and printed["products"] > 0


async def test_tables_for_people(catalogue: Catalogue, migrated_database_url: str) -> None:
    code, stdout, stderr = await fitsflow("status", "--database-url", migrated_database_url)
    assert code == 0, stderr
    served = await api_summary(catalogue, "memory://")
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in stdout.splitlines()]
    shown = {row[0]: row[1] for row in rows if len(row) == 2}
    for state, count in served["jobs"].items():
        assert shown[state] == str(count), stdout
    assert shown["not_fits"] == shown["empty_file"] == "1"
    assert f"products: {served['products']}" in stdout


async def test_missing_database_is_reported_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    code, stdout, stderr = await fitsflow("status", "--database-url", f"sqlite:///{missing}")
    assert code == 1 and stdout == ""
    assert "not_found" in stderr and str(missing) in stderr.replace("\n", "")
    assert not missing.exists()


async def test_unmigrated_database_says_what_to_do(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    code, _, stderr = await fitsflow("status", "--json", "--database-url", f"sqlite:///{empty}")
    assert code == 1 and "fitsflow db upgrade" in stderr.replace("\n", " ")


def test_in_process_run_prints_both_forms(catalogue: Catalogue, migrated_database_url: str) -> None:
    """The same command through typer in this process (where coverage can see it)."""
    runner = CliRunner()
    as_json = runner.invoke(app, ["status", "--json", "--database-url", migrated_database_url])
    assert as_json.exit_code == 0, as_json.output
    printed = json.loads(as_json.stdout)
    assert printed["jobs"]["failed"] == len(BATCH_BAD) and printed["queues"] == {}
    as_tables = runner.invoke(app, ["status", "--database-url", migrated_database_url])
    assert as_tables.exit_code == 0, as_tables.output
    assert f"products: {printed['products']}" in as_tables.stdout
    # The default broker is the embedded mode's queue, inside `fitsflow run`.
    assert "queues: in-process (memory://)" in as_tables.stdout
    assert "http://127.0.0.1:8000/summary" in as_tables.stdout
