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
