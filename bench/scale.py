"""Memory and scale: worker memory over a long backfill, the pool under load,
throughput with one and two worker processes, and the watcher's start-up scan
over a million recorded files.

    python -m bench.scale                        # 100,000-file backfill, 1,000,000-file scan
    python -m bench.scale --backfill-files 20000 --throughput-files 5000 --scan-files 100000
    python -m bench.scale --skip startup         # or --skip backfill / --skip throughput

Distributed mode throughout: one scratch PostgreSQL database
(``FITSFLOW_BENCH_POSTGRES``), Redis (``FITSFLOW_BENCH_REDIS``) and the real
commands (:mod:`bench.scale_backfill`, :mod:`bench.scale_startup`):

1. **throughput** — the first ``--throughput-files`` images backfilled with
   ``fitsflow scan`` through ``fitsflow worker --processes 1``, then
   ``--processes 2`` (order swapped in the next repetition; catalogue emptied
   before each run): files/s from the first job admitted to the last ended;
2. **backfill** — all ``--backfill-files`` images through 2 worker processes
   (the default), sampling every half second the workers' resident set
   (summed over the worker processes) and their pool statistics (metrics
   endpoint). Baseline: the resident set once the first 1,000 files were
   ingested; goal: at the end, at most 1.10 × that;
3. **startup** — ``--scan-files`` files on disk, each already recorded in the
   database; ``fitsflow watch`` started on them. Goals: the start-up scan
   within 60 s and 500 MB. Baselines: the bare walk of the same tree (time)
   and the watcher on an empty directory (memory).

Every file and the database are removed afterwards. ``--quick`` (the
harness's smoke run): 300 files through 2 processes, no 1-process run, a
2,000-file scan, no empty-directory watcher. Writes
``bench/results/scale.json`` in the harness's format.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final

from bench.harness import Result
from bench.scale_backfill import Run, empty_catalogue, forget_queue, ingest_run, write_corpus
from bench.scale_startup import bare_walk, fill_recorded, make_tree, watch_startup
from bench.scale_tables import mb, result
from bench.services import Catalogue, scratch_database
from pipeline.settings import WorkerSettings

__all__ = ["FULL", "QUICK", "Sizes", "measure", "run"]

RESULTS = Path(__file__).resolve().parent / "results"
#: Most samples of the backfill kept in the JSON (evenly thinned).
KEPT_SAMPLES: Final = 200
PARTS: Final = ("throughput", "backfill", "startup")


@dataclass(frozen=True)
class Sizes:
    """How big each part of the benchmark is."""

    backfill_files: int
    baseline_files: int
    """Files ingested when the backfill's baseline resident set is taken."""
    processes: int
    """Worker processes of the backfill."""
    throughput_files: int
    repetitions: int
    """Of the 1-vs-2-process comparison (0: not run)."""
    scan_files: int
    empty_watch: bool
    """Measure the watcher on an empty directory (the memory baseline)."""
    interval: float
    """Seconds between samples of the backfill."""
    skip: tuple[str, ...] = ()


FULL = Sizes(100_000, 1_000, 2, 10_000, 2, 1_000_000, True, 0.5)
QUICK = Sizes(300, 100, 2, 0, 0, 2_000, False, 0.2)


def measure(sizes: Sizes, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Every part not skipped; the figures as a dict (the harness's ``data``)."""
    # The worker processes run with fitsflow's defaults; the tables say which.
    data: dict[str, Any] = {"sizes": asdict(sizes), "threads": WorkerSettings().threads}
    queue = f"bench-scale-{secrets.token_hex(4)}"
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fitsflow-scale-")))
        catalogue = Catalogue(scratch_database(stack, "fitsflow_bench_scale"))
        stack.callback(catalogue.close)
        stack.callback(forget_queue, queue)
        data["postgres"] = {
            "version": catalogue.value("SHOW server_version"),
            "autovacuum": catalogue.value("SHOW autovacuum"),
        }
        if "throughput" not in sizes.skip or "backfill" not in sizes.skip:
            data.update(_ingest_parts(sizes, catalogue, scratch, queue, say))
        if "startup" not in sizes.skip:
            data["startup"] = _startup_part(sizes, catalogue, scratch, queue, say)
    return data


def _ingest_parts(
    sizes: Sizes, catalogue: Catalogue, scratch: Path, queue: str, say: Callable[[str], None]
) -> dict[str, Any]:
    data: dict[str, Any] = {}
    comparing = sizes.repetitions > 0 and "throughput" not in sizes.skip
    head_files = sizes.throughput_files if comparing else 0
    # The backfill scans every file written, the throughput runs' among them.
    files = 0 if "backfill" in sizes.skip else max(sizes.backfill_files, head_files)
    say(f"writing {max(files, head_files):,} images")
    started = time.perf_counter()
    head, whole = write_corpus(scratch / "corpus", max(files, head_files), head_files)
    data["corpus_seconds"] = round(time.perf_counter() - started, 1)
    if comparing:
        runs: dict[int, list[Run]] = {1: [], 2: []}
        for repetition in range(sizes.repetitions):
            for processes in (1, 2) if repetition % 2 == 0 else (2, 1):
                say(f"throughput: {head_files:,} files, {processes} worker process(es)")
                result = ingest_run(
                    catalogue, head, head_files, processes, scratch, queue, interval=1.0, say=say
                )
                say(f"  {result.files_per_second:,} files/s")
                runs[processes].append(result)
        data["throughput"] = {
            str(p): [r.as_json(with_samples=False) for r in rs] for p, rs in runs.items()
        }
    if files:
        say(f"backfill: {files:,} files, {sizes.processes} worker processes")
        backfill = ingest_run(
            catalogue,
            whole,
            files,
            sizes.processes,
            scratch,
            queue,
            interval=sizes.interval,
            say=say,
        )
        say(f"  {backfill.files_per_second:,} files/s")
        data["backfill"] = _backfill_figures(backfill, sizes.baseline_files, sizes.interval)
    shutil.rmtree(scratch / "corpus", ignore_errors=True)
    return data


def _backfill_figures(run: Run, baseline_files: int, interval: float) -> dict[str, Any]:
    samples = run.samples
    baseline = next(s for s in samples if s.ended >= baseline_files)
    end = samples[-1]
    peak = max(samples, key=lambda s: s.rss_kib)
    milestones = []
    for fraction in (0.1, 0.25, 0.5, 0.75):
        wanted = max(baseline_files, int(run.files * fraction))
        found = next((s for s in samples if s.ended >= wanted), None)
        if found is not None and found is not baseline and found is not end:
            milestones.append(asdict(found))
    step = max(1, len(samples) // KEPT_SAMPLES)
    pool_max = {
        name: max(s.pool[name] for s in samples)
        for name in ("size", "max_size", "in_use", "waiting", "acquire_wait_max_seconds")
    }
    acquires, waited = end.pool["acquires"], end.pool["acquire_wait_seconds_total"]
    return {
        **run.as_json(with_samples=False),
        "baseline_files": baseline_files,
        "interval": interval,
        "baseline": asdict(baseline),
        "milestones": milestones,
        "end": asdict(end),
        "peak": asdict(peak),
        "rss_growth": round(end.rss_kib / baseline.rss_kib, 3),
        "pool_max": pool_max,
        "pool_exhausted": end.pool["exhausted"],
        "pool_acquires": acquires,
        "pool_acquire_wait_mean_ms": round(waited / acquires * 1000, 3) if acquires else 0.0,
        "samples": [asdict(s) for s in samples[::step]],
    }


def _startup_part(
    sizes: Sizes, catalogue: Catalogue, scratch: Path, queue: str, say: Callable[[str], None]
) -> dict[str, Any]:
    files = sizes.scan_files
    root = scratch / "recorded"
    data: dict[str, Any] = {"files": files}
    try:
        say(f"startup: writing {files:,} files")
        started = time.perf_counter()
        mtime_ns = make_tree(root, files)
        data["tree_seconds"] = round(time.perf_counter() - started, 1)
        say(f"startup: recording {files:,} products and jobs")
        empty_catalogue(catalogue)
        started = time.perf_counter()
        fill_recorded(catalogue, root, files, mtime_ns)
        data["fill_seconds"] = round(time.perf_counter() - started, 1)
        walk_seconds, walked = bare_walk(root)
        data["bare_walk_seconds"] = round(walk_seconds, 3)
        if walked != files:
            raise SystemExit(f"the bare walk found {walked} files, not {files}")
        if sizes.empty_watch:
            empty = scratch / "empty"
            empty.mkdir()
            say("startup: fitsflow watch on an empty directory")
            data["empty"] = asdict(watch_startup(catalogue, empty, 0, queue, scratch / "w0.log"))
        say(f"startup: fitsflow watch on {files:,} recorded files")
        found = watch_startup(catalogue, root, files, queue, scratch / "watch.log")
        data["watch"] = asdict(found)
        say(f"  scan {found.scan_seconds} s, peak {mb(found.peak_kib):.0f} MB")
    finally:
        started = time.perf_counter()
        shutil.rmtree(root, ignore_errors=True)
        data["cleanup_seconds"] = round(time.perf_counter() - started, 1)
    return data


def run(quick: bool) -> Result:
    """The harness's entry point."""
    sizes = QUICK if quick else FULL
    return result(measure(sizes), "python -m bench scale" + (" --quick" if quick else ""), quick)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backfill-files", type=int, default=FULL.backfill_files)
    parser.add_argument("--baseline-files", type=int, default=FULL.baseline_files)
    parser.add_argument("--processes", type=int, default=FULL.processes)
    parser.add_argument("--throughput-files", type=int, default=FULL.throughput_files)
    parser.add_argument("--repetitions", type=int, default=FULL.repetitions)
    parser.add_argument("--scan-files", type=int, default=FULL.scan_files)
    parser.add_argument("--no-empty-watch", action="store_true")
    parser.add_argument("--skip", action="append", choices=PARTS, default=[])
    parser.add_argument("--quick", action="store_true", help="the harness's smoke run")
    parser.add_argument("--results", type=Path, default=RESULTS, help="directory for the JSON")
    args = parser.parse_args()
    sizes = (
        QUICK
        if args.quick
        else replace(
            FULL,
            backfill_files=args.backfill_files,
            baseline_files=args.baseline_files,
            processes=args.processes,
            throughput_files=args.throughput_files,
            repetitions=args.repetitions,
            scan_files=args.scan_files,
            empty_watch=not args.no_empty_watch,
        )
    )
    sizes = replace(sizes, skip=tuple(args.skip))
    command = ("python -m bench.scale " + " ".join(sys.argv[1:])).strip()
    from bench.__main__ import report

    report(result(measure(sizes), command, args.quick), args.results)


if __name__ == "__main__":
    main()
