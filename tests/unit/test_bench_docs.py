"""``docs/benchmarks.md``'s generated part: each benchmark's run replaces its own tables only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.docs import BEGIN, END, write_docs

_AROUND_BEFORE = "# Benchmarks\n\nWritten by hand before.\n\n"
_AROUND_AFTER = "\n\n## Analysis\n\nWritten by hand after.\n"


def _result(title: str, figure: str) -> dict[str, Any]:
    return {
        "title": title,
        "command": f"python -m bench {title.lower()}",
        "measured_at": "2026-11-28T00:00:00+00:00",
        "machine": {"nproc": 2, "cpu": "a CPU", "memory_gib": 23.5, "load_average": [1, 1, 1]},
        "versions": {"python": "3.11"},
        "tables": [
            {"title": f"{title} table", "columns": ["a", "b"], "rows": [[figure, "x"]], "notes": []}
        ],
    }


def _write_results(directory: Path, results: dict[str, dict[str, Any]]) -> Path:
    directory.mkdir()
    for name, result in results.items():
        (directory / f"{name}.json").write_text(json.dumps(result))
    return directory


def _generated(text: str) -> str:
    return text.split(BEGIN, 1)[1].split(END, 1)[0]


def test_a_run_of_one_benchmark_keeps_the_tables_of_the_others(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text(f"{_AROUND_BEFORE}{BEGIN}\n{END}{_AROUND_AFTER}")
    full_run = {
        "headers": _result("Headers", "4,381"),
        "e2e": _result("End to end", "1,198"),
        "scale": _result("Scale", "20.4 s"),
    }
    write_docs(_write_results(tmp_path / "full", full_run), docs)
    after_full_run = docs.read_text()
    for figure in ("4,381", "1,198", "20.4 s"):
        assert figure in _generated(after_full_run)

    # A fresh checkout: only the benchmark just run has a result on disk.
    write_docs(_write_results(tmp_path / "one", {"e2e": _result("End to end", "1,564")}), docs)
    after_one = docs.read_text()

    generated = _generated(after_one)
    assert "1,564" in generated and "1,198" not in generated
    assert "4,381" in generated and "20.4 s" in generated
    # Only the one section changed; the order and the hand-written text stay.
    assert after_one == after_full_run.replace("1,198", "1,564")
    assert generated.index("### Headers") < generated.index("### End to end")
    assert generated.index("### End to end") < generated.index("### Scale")


def test_writing_the_same_results_again_changes_nothing(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text(f"{_AROUND_BEFORE}{BEGIN}\n{END}{_AROUND_AFTER}")
    results = _write_results(
        tmp_path / "results",
        {"headers": _result("Headers", "1"), "e2e": _result("End to end", "2")},
    )
    write_docs(results, docs)
    once = docs.read_text()
    write_docs(results, docs)
    assert docs.read_text() == once
    # Without any result, the generated part is left exactly as it was.
    write_docs(_write_results(tmp_path / "none", {}), docs)
    assert docs.read_text() == once
    assert once.startswith(_AROUND_BEFORE) and once.endswith(_AROUND_AFTER)
