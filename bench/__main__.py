"""Run the benchmarks: ``python -m bench [--quick] [NAME ...]``.

Each benchmark prints its tables and writes ``<results>/<name>.json``
(default ``bench/results/``; ``--quick`` writes ``<name>.quick.json`` so a
smoke run never replaces a real one). A full run (not ``--quick``)
then rewrites ``docs/benchmarks.md`` from the JSON of every benchmark.

Adding a benchmark: write ``bench/<name>.py`` with ``run(quick: bool) ->
bench.harness.Result`` (see :mod:`bench.harness`) and add ``<name>`` to
``BENCHMARKS`` below.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

from bench.docs import DOCS, write_docs
from bench.harness import Result, render_table

#: Every benchmark, in the order they run and appear in the docs.
BENCHMARKS = ("headers", "e2e", "scale")
RESULTS = Path(__file__).resolve().parent / "results"


def run_benchmark(name: str, quick: bool) -> Result:
    """Import ``bench.<name>`` and run it."""
    module = importlib.import_module(f"bench.{name}")
    result: Result = module.run(quick)
    return result


def report(result: Result, results: Path = RESULTS) -> Path:
    """Print ``result``'s tables and write its JSON; returns the JSON's path."""
    for table in result.tables:
        print()
        print(render_table(table))
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{result.name}{'.quick' if result.quick else ''}.json"
    path.write_text(json.dumps(result.as_json(), indent=2, ensure_ascii=False) + "\n")
    print(f"\n{result.title}: wrote {path}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="a smoke run, about a minute")
    parser.add_argument("--results", type=Path, help="directory for the JSON results")
    parser.add_argument("--no-docs", action="store_true", help=f"do not rewrite {DOCS.name}")
    parser.add_argument(
        "--docs-only", action="store_true", help=f"rewrite {DOCS.name} from the last results"
    )
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; known: {', '.join(BENCHMARKS)}")
    results = args.results or RESULTS
    if args.docs_only:
        write_docs(results)
        print(f"rewrote {DOCS}")
        return 0
    failed = []
    for name in args.names or BENCHMARKS:
        started = time.monotonic()
        print(f"== {name}", flush=True)
        try:
            report(run_benchmark(name, args.quick), results)
        # The outermost boundary: one benchmark failing (a service down, a
        # reader disagreeing with astropy) must not hide the others' results.
        except (Exception, SystemExit) as error:  # noqa: BLE001
            failed.append(name)
            traceback.print_exception(error)
        print(f"== {name}: {time.monotonic() - started:.0f} s", flush=True)
    if not args.quick and not args.no_docs:
        write_docs(results)
        print(f"rewrote {DOCS}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
