"""``python -m bench --quick`` still runs every benchmark to the end.

This proves the benchmarks work — corpus generation, the agreement check
against astropy, every contestant, the tables and the JSON — and asserts
nothing about the figures: speed is measured by ``python -m bench``, never
by a timed test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_benchmarks_run(tmp_path: Path) -> None:
    results = tmp_path / "results"
    env = {**os.environ, "FITSFLOW_BENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--results", str(results)],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    from bench.__main__ import BENCHMARKS

    for name in BENCHMARKS:
        result = json.loads((results / f"{name}.quick.json").read_text())
        assert result["quick"] is True
        assert result["tables"] and all(table["rows"] for table in result["tables"])
        assert {"nproc", "cpu", "memory_gib"} <= set(result["machine"])
        assert {"python", "astropy", "numpy", "fitsflow"} <= set(result["versions"])
    headers = json.loads((results / "headers.quick.json").read_text())
    assert headers["data"]["cards_compared"] > 0
    corpora = {corpus["corpus"] for corpus in headers["data"]["corpora"]}
    assert {"image", "mef", "long_header", "gzip", "tile_compressed", "astropy"} <= corpora


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(300)
def test_pg_statements_profiles_a_distributed_burst() -> None:
    from bench.pg_statements import measure

    found = measure(60)
    assert found["files"] == 60 and found["files_per_second"] > 0
    assert found["server_cpu_ms_per_file"] > 0 and found["wal_bytes_per_file"] > 0
    calls: dict[str, float] = {}
    rows: dict[str, float] = {}
    for statement in found["statements"]:
        if statement["toplevel"]:
            name = statement["query"].split(" (", 1)[0]  # its forms summed
            calls[name] = calls.get(name, 0) + statement["calls"]
            rows[name] = rows.get(name, 0) + statement["rows"]
    # Single images: exactly one product row and one HDU row per file, and
    # a group's rows written by one statement per table.
    assert rows["INSERT INTO products"] == rows["INSERT INTO hdus"] == 60
    assert calls["INSERT INTO hdus"] < 60


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_status_cpu_and_explain_cover_every_kind_of_the_mix() -> None:
    import asyncio
    from contextlib import ExitStack

    from bench.status_api import _create, _fill
    from bench.status_cpu import measure
    from bench.status_explain import explain_all
    from bench.status_rate import mix

    with ExitStack() as stack:
        url = _create(stack, keep=False)
        _fill(url, 2000)
        # Enough requests that even /summary's take several clock ticks of CPU.
        found = measure(url, 2000, 200, seed=1)
        # The endpoints' statements, as the repositories hold them, explained.
        explained = asyncio.run(explain_all(url, 2000))
    assert all(
        entry["summary"].endswith("ms") for entries in explained.values() for entry in entries
    )
    assert sum(len(entries) for entries in explained.values()) >= 3
    assert set(found["api"]) == set(found["postgresql"]) == set(mix(2000))
    assert all(ms > 0 for ms in found["api"].values())
    # The server's side is read from the API's own backends: some of it shows.
    assert sum(found["postgresql"].values()) > 0


@pytest.mark.redis
@pytest.mark.timeout(120)
def test_redis_acks_drains_both_brokers() -> None:
    from bench.redis_acks import BROKERS, measure

    for kind in BROKERS.values():
        found = measure(kind, 300, 8)
        assert found["messages_per_second"] > 0 and found["client_us_per_message"] > 0


def test_e2e_report_without_a_latency_run() -> None:
    """``python -m bench.e2e --rate 0`` measures throughput only; its report
    must not expect the latency run's figures."""
    from bench.e2e import _result

    spread = {"median": 1.0, "low": 1.0, "high": 1.0, "samples": [1.0]}
    run = {
        "mode": "embedded", "files": 10, "repetitions": 1, "processes": 1, "threads": 4,
        "fitsflow_files_per_second": spread, "empty_messages_per_second": spread,
        "straightforward_files_per_second": spread, "fitsflow_to_empty": spread,
        "fitsflow_to_straightforward": spread, "fitsflow_written_files_per_second": spread,
        "fitsflow_written_to_straightforward": spread,
    }  # fmt: skip
    throughput, latency = _result([run], "python -m bench.e2e --rate 0", quick=False).tables
    assert len(throughput.rows) == 1
    assert latency.rows == []
