"""End-to-end throughput and latency: file closed in a watched root -> product committed.

Runs the real commands (``fitsflow run`` for the embedded mode; ``fitsflow
watch`` + two ``fitsflow worker`` processes over PostgreSQL and Redis for the
distributed mode), drops generated files, and reads the commit times back
from the jobs table.

- throughput: N files written as fast as possible; files/s from the first
  file's close to the last commit;
- latency: files written at a steady rate; for each file, the job's
  ``finished_at`` minus the moment the writer closed it (same clock: one host).

    python -m bench.e2e --mode embedded --files 2000 --rate 50 --seconds 20
    python -m bench.e2e --mode distributed

As one of the harness's benchmarks (``python -m bench e2e``), ``run(quick)``
measures both modes with the defaults above; ``--quick`` measures the
embedded mode only, on 100 files and 3 s at 20 files/s (a smoke run). Both
write ``bench/results/e2e.json`` in the harness's format, the per-mode
figures under ``data.runs``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.harness import Result, Table
from pipeline.db import open_database
from pipeline.samples import SampleKind, rng_for, sample_bytes
from pipeline.settings import DatabaseSettings

FITSFLOW = str(Path(sys.executable).with_name("fitsflow"))
RESULTS = Path(__file__).resolve().parent / "results"
POSTGRES_ADMIN = os.environ.get(
    "FITSFLOW_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS = os.environ.get("FITSFLOW_BENCH_REDIS", "redis://127.0.0.1:6379/0")


def _env(database_url: str, broker_url: str | None, queue: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITSFLOW_")}
    env.update(
        FITSFLOW_DATABASE_URL=database_url,
        FITSFLOW_BROKER_QUEUE=queue,
        FITSFLOW_LOGGING_LEVEL="WARNING",
        FITSFLOW_WATCH_SETTLE_SECONDS="1.0",
    )
    if broker_url:
        env["FITSFLOW_BROKER_URL"] = broker_url
    return env


def _psql(sql: str) -> None:
    async def run() -> None:
        db = open_database(DatabaseSettings(url=POSTGRES_ADMIN, pool_min_size=0, pool_max_size=1))
        async with db:
            await db.execute(sql)

    asyncio.run(run())


async def _finished(database_url: str) -> dict[str, float]:
    db = open_database(DatabaseSettings(url=database_url, pool_min_size=0, pool_max_size=2))
    async with db:
        rows = await db.fetch_all("SELECT path, finished_at FROM jobs WHERE state = 'succeeded'")
    return {str(r["path"]): r["finished_at"].timestamp() for r in rows}


def _wait_all(database_url: str, count: int, timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = asyncio.run(_finished(database_url))
        if len(done) >= count:
            return done
        time.sleep(0.25)
    raise SystemExit(f"only {len(done)} of {count} files were committed within {timeout}s")


def _drop(root: Path, files: list[bytes], rate: float | None, start: int) -> dict[str, float]:
    closed: dict[str, float] = {}
    interval = 1.0 / rate if rate else 0.0
    began = time.monotonic()
    for offset, data in enumerate(files):
        if interval:
            delay = began + offset * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        path = root / f"bench-{start + offset:07d}.fits"
        with path.open("wb") as sink:
            sink.write(data)
        closed[str(path)] = time.time()
    return closed


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _start(
    stack: ExitStack, args: list[str], env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    sink = stack.enter_context(log.open("wb"))
    process = subprocess.Popen([FITSFLOW, *args], env=env, stdout=sink, stderr=subprocess.STDOUT)

    def stop() -> None:
        process.terminate()
        process.wait(60)

    stack.callback(stop)
    return process


def measure(mode: str, files: int, rate: float, seconds: float) -> dict[str, Any]:
    """Throughput and latency of one mode, as a flat dict of figures."""
    corpus = [
        sample_bytes(i, SampleKind.IMAGE, rng_for(101, i))
        for i in range(files + int(rate * seconds))
    ]
    with tempfile.TemporaryDirectory(prefix="fitsflow-bench-") as scratch, ExitStack() as stack:
        root = Path(scratch) / "inbox"
        root.mkdir()
        queue = f"bench-{secrets.token_hex(4)}"
        if mode == "embedded":
            database_url = f"sqlite:///{scratch}/fitsflow.db"
            env = _env(database_url, None, queue)
            _start(
                stack, ["run", "--watch", str(root), "--port", "0"], env, Path(scratch) / "run.log"
            )
        else:
            name = f"fitsflow_bench_{secrets.token_hex(4)}"
            _psql(f'CREATE DATABASE "{name}"')
            stack.callback(lambda: _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            database_url = POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + name
            env = _env(database_url, REDIS, queue)
            subprocess.run([FITSFLOW, "db", "upgrade"], env=env, check=True, capture_output=True)
            _start(stack, ["watch", "--watch", str(root)], env, Path(scratch) / "watch.log")
            for n in range(2):
                _start(
                    stack,
                    ["worker", "--processes", "1"],
                    env,
                    Path(scratch) / f"w{n}.log",
                )
        time.sleep(4)  # start-up (imports, schema check, first scan)
        closed = _drop(root, corpus[:files], None, 0)
        done = _wait_all(database_url, files, 600)
        first_close = min(closed.values())
        last_commit = max(done[p] for p in closed)
        throughput = files / (last_commit - first_close)
        steady = corpus[files:]
        closed_steady = _drop(root, steady, rate, files)
        done = _wait_all(database_url, files + len(steady), 600)
        latencies = [done[p] - t for p, t in closed_steady.items()]
    return {
        "mode": mode,
        "files": files,
        "throughput_files_per_second": round(throughput, 1),
        "steady_rate": rate,
        "steady_files": len(steady),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "latency_p95_ms": round(_percentile(latencies, 95) * 1000, 1),
        "latency_max_ms": round(max(latencies) * 1000, 1),
    }


def run(quick: bool) -> Result:
    """The harness's entry point: both modes (embedded only when ``quick``)."""
    if quick:
        runs = [measure("embedded", 100, 20.0, 3.0)]
    else:
        runs = [measure(mode, 2000, 50.0, 20.0) for mode in ("embedded", "distributed")]
    return _result(runs, "python -m bench e2e" + (" --quick" if quick else ""), quick)


def _result(runs: list[dict[str, Any]], command: str, quick: bool) -> Result:
    table = Table(
        "End to end: file closed in a watched root → product committed",
        ["mode", "files", "files/s", "steady rate", "latency p50", "latency p95", "latency max"],
        [
            [
                r["mode"],
                str(r["files"]),
                f"{r['throughput_files_per_second']:,}",
                f"{r['steady_rate']:g}/s × {r['steady_files']}",
                f"{r['latency_p50_ms']} ms",
                f"{r['latency_p95_ms']} ms",
                f"{r['latency_max_ms']} ms",
            ]
            for r in runs
        ],
        ["single run per mode; no baseline in the same run yet"],
    )
    return Result("e2e", "End to end", command, quick, [table], data={"runs": runs})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["embedded", "distributed", "both"], default="both")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    modes = ["embedded", "distributed"] if args.mode == "both" else [args.mode]
    runs = [measure(mode, args.files, args.rate, args.seconds) for mode in modes]
    command = "python -m bench.e2e " + " ".join(sys.argv[1:])
    from bench.__main__ import report

    report(_result(runs, command.strip(), quick=False), RESULTS)
    for result in runs:
        print(
            f"{result['mode']:<12} {result['throughput_files_per_second']:>8} files/s   "
            f"latency at {result['steady_rate']:g}/s: p50 {result['latency_p50_ms']} ms, "
            f"p95 {result['latency_p95_ms']} ms"
        )


if __name__ == "__main__":
    main()
