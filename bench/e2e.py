"""End-to-end throughput and latency: file closed in a watched root -> product committed.

Runs the real commands (``fitsflow run`` for the embedded mode; ``fitsflow
watch`` + two ``fitsflow worker`` processes over PostgreSQL and Redis for the
distributed mode), drops generated files, and reads the commit times back
from the jobs table.

- throughput: N files written as fast as possible; files/s from the first
  file's close to the last commit;
- latency: files written at a steady rate; for each file, the job's
  ``finished_at`` minus the moment the writer closed it (same clock: one host).

In the same run, once fitsflow has stopped, two baselines on the same broker
and worker settings (:mod:`bench.baseline_actors`): Redis with two worker
processes of ``fitsflow worker``'s default thread count (``dramatiq
bench.baseline_actors --processes 2 --threads 16``) for the distributed
mode; the memory broker with that many worker threads in one process for the
embedded mode. Each is sent one message per file of the throughput run, one
``send`` at a time as fast as possible, and timed from the first send until
``broker.join`` sees the queue drained (every message acknowledged):

- empty actor: does nothing — the queue's ceiling, messages/s;
- straightforward actor: astropy ``getheader`` and one INSERT per message
  (PostgreSQL in the scratch database, or SQLite), files/s; the row count is
  checked afterwards.

fitsflow's throughput is reported against both, as ratios.

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
import json
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

from bench.harness import REPOSITORY, Result, Table
from pipeline.db import open_database
from pipeline.samples import SampleKind, rng_for, sample_bytes
from pipeline.settings import DatabaseSettings, WorkerSettings

FITSFLOW = str(Path(sys.executable).with_name("fitsflow"))
DRAMATIQ = str(Path(sys.executable).with_name("dramatiq"))
#: Worker processes of the distributed mode, fitsflow's and the baselines'.
PROCESSES = 2
#: Threads per worker process (the embedded mode's worker threads too): the
#: default of ``fitsflow worker`` and ``fitsflow run``, given to every side.
THREADS = WorkerSettings().threads
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
        FITSFLOW_WORKER_THREADS=str(THREADS),
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
    stack: ExitStack, command: list[str], env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    sink = stack.enter_context(log.open("wb"))
    process = subprocess.Popen(
        command, env=env, cwd=REPOSITORY, stdout=sink, stderr=subprocess.STDOUT
    )

    def stop() -> None:
        process.terminate()
        process.wait(60)

    stack.callback(stop)
    return process


def _ingest(
    mode: str,
    root: Path,
    scratch: Path,
    database_url: str,
    queue: str,
    files: list[bytes],
    steady: list[bytes],
    rate: float,
) -> dict[str, Any]:
    """fitsflow's throughput and latency; its processes are stopped on return."""
    with ExitStack() as stack:
        if mode == "embedded":
            env = _env(database_url, None, queue)
            command = [FITSFLOW, "run", "--watch", str(root), "--port", "0"]
            _start(stack, command, env, scratch / "run.log")
        else:
            env = _env(database_url, REDIS, queue)
            subprocess.run([FITSFLOW, "db", "upgrade"], env=env, check=True, capture_output=True)
            command = [FITSFLOW, "watch", "--watch", str(root)]
            _start(stack, command, env, scratch / "watch.log")
            for n in range(PROCESSES):  # one process each, as on two hosts
                command = [FITSFLOW, "worker", "--processes", "1"]
                _start(stack, command, env, scratch / f"w{n}.log")
        time.sleep(4)  # start-up (imports, schema check, first scan)
        closed = _drop(root, files, None, 0)
        done = _wait_all(database_url, len(files), 600)
        first_close = min(closed.values())
        last_commit = max(done[p] for p in closed)
        closed_steady = _drop(root, steady, rate, len(files))
        done = _wait_all(database_url, len(files) + len(steady), 600)
    latencies = [done[p] - t for p, t in closed_steady.items()]
    return {
        "throughput_files_per_second": round(len(files) / (last_commit - first_close), 1),
        "steady_rate": rate,
        "steady_files": len(steady),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "latency_p95_ms": round(_percentile(latencies, 95) * 1000, 1),
        "latency_max_ms": round(max(latencies) * 1000, 1),
    }


READY = b"Worker process is ready for action."


def _baseline(
    actor: str, mode: str, paths: Path, scratch: Path, database_url: str, queue: str
) -> dict[str, Any]:
    """One baseline actor's run (see :mod:`bench.baseline_actors`): its figures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FITSFLOW_", "BENCH_"))}
    env.update(
        BENCH_BASELINE_BROKER="memory://" if mode == "embedded" else REDIS,
        BENCH_BASELINE_QUEUE=queue,
        BENCH_BASELINE_DATABASE=database_url,
    )
    send = [sys.executable, "-m", "bench.baseline_actors", actor, "--paths", str(paths)]
    with ExitStack() as stack:
        if mode == "embedded":
            send += ["--embedded", str(THREADS)]
        else:
            log = scratch / f"baseline-{actor}.log"
            workers = _start(
                stack,
                [DRAMATIQ, "bench.baseline_actors", "--processes", str(PROCESSES),
                 "--threads", str(THREADS), "--queues", f"{queue}-{actor}"],
                env,
                log,
            )  # fmt: skip
            _wait_ready(workers, log, PROCESSES, 60)
        sent = subprocess.run(
            send, env=env, cwd=REPOSITORY, capture_output=True, text=True, timeout=900
        )
    if sent.returncode != 0:
        raise SystemExit(f"baseline {actor} failed:\n{sent.stdout[-2000:]}{sent.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(sent.stdout.strip().splitlines()[-1])
    return figures


def _wait_ready(
    process: subprocess.Popen[bytes], log: Path, processes: int, timeout: float
) -> None:
    """Until Dramatiq's every worker process has logged that it is ready."""
    deadline = time.monotonic() + timeout
    while log.read_bytes().count(READY) < processes:
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"baseline workers did not start:\n{tail}")
        time.sleep(0.1)


def measure(mode: str, files: int, rate: float, seconds: float) -> dict[str, Any]:
    """Throughput against the baselines, and latency, of one mode: a flat dict of figures."""
    corpus = [
        sample_bytes(i, SampleKind.IMAGE, rng_for(101, i))
        for i in range(files + int(rate * seconds))
    ]
    with tempfile.TemporaryDirectory(prefix="fitsflow-bench-") as where, ExitStack() as stack:
        scratch = Path(where)
        root = scratch / "inbox"
        root.mkdir()
        queue = f"bench-{secrets.token_hex(4)}"
        if mode == "embedded":
            database_url = f"sqlite:///{scratch}/fitsflow.db"
            baseline_database = f"sqlite:///{scratch}/baseline.db"
        else:
            name = f"fitsflow_bench_{secrets.token_hex(4)}"
            _psql(f'CREATE DATABASE "{name}"')
            stack.callback(lambda: _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            database_url = baseline_database = POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + name
        fitsflow = _ingest(
            mode, root, scratch, database_url, queue, corpus[:files], corpus[files:], rate
        )
        # fitsflow has stopped: the baselines, on the throughput run's files.
        paths = scratch / "paths.txt"
        paths.write_text("".join(f"{root}/bench-{i:07d}.fits\n" for i in range(files)))
        baselines = {
            actor: _baseline(actor, mode, paths, scratch, baseline_database, f"{queue}-baseline")
            for actor in ("empty", "straightforward")
        }
    ours = fitsflow["throughput_files_per_second"]
    empty = files / baselines["empty"]["seconds"]
    plain = files / baselines["straightforward"]["seconds"]
    return {
        "mode": mode,
        "files": files,
        "processes": 1 if mode == "embedded" else PROCESSES,
        "threads": THREADS,
        "throughput_files_per_second": ours,
        "empty_messages_per_second": round(empty, 1),
        "straightforward_files_per_second": round(plain, 1),
        "ratio_to_empty": round(ours / empty, 3),
        "ratio_to_straightforward": round(ours / plain, 3),
        "baseline_send_seconds": {
            actor: round(figures["send_seconds"], 3) for actor, figures in baselines.items()
        },
        **{k: v for k, v in fitsflow.items() if k != "throughput_files_per_second"},
    }


def run(quick: bool) -> Result:
    """The harness's entry point: both modes (embedded only when ``quick``)."""
    if quick:
        runs = [measure("embedded", 100, 20.0, 3.0)]
    else:
        runs = [measure(mode, 2000, 50.0, 20.0) for mode in ("embedded", "distributed")]
    return _result(runs, "python -m bench e2e" + (" --quick" if quick else ""), quick)


GOALS = {"embedded": "≥ 1,500 files/s", "distributed": "≥ 2,000 files/s, ≥ 50% of empty"}


def _result(runs: list[dict[str, Any]], command: str, quick: bool) -> Result:
    throughput = Table(
        "End to end, throughput: fitsflow against an empty actor (the queue's ceiling) "
        "and a straightforward actor, same broker and worker settings, same run",
        ["mode", "workers", "files", "fitsflow files/s", "empty actor msgs/s", "fitsflow ÷ empty",
         "straightforward files/s", "fitsflow ÷ straightforward", "goal"],
        [
            [
                r["mode"],
                f"{r['processes']} × {r['threads']} threads",
                str(r["files"]),
                f"{r['throughput_files_per_second']:,}",
                f"{r['empty_messages_per_second']:,}",
                f"{r['ratio_to_empty']:.0%}",
                f"{r['straightforward_files_per_second']:,}",
                f"{r['ratio_to_straightforward']:.2f}×",
                GOALS[r["mode"]],
            ]
            for r in runs
        ],
        [
            "fitsflow: first file closed in the watched root → last product committed "
            "(watcher, outbox, queue, ingest actor)",
            "baselines (bench/baseline_actors.py), after fitsflow has stopped: one message per "
            "file sent as fast as possible, first send → queue drained (broker.join: every "
            "message acknowledged); embedded: memory broker, worker threads in one process",
            "empty actor: does nothing; straightforward actor: astropy getheader + one INSERT "
            "(PostgreSQL / SQLite) per message, one connection per process",
            "single run per mode",
        ],
    )  # fmt: skip
    latency = Table(
        "End to end, latency: file closed in a watched root → product committed",
        ["mode", "steady rate", "latency p50", "latency p95", "latency max"],
        [
            [
                r["mode"],
                f"{r['steady_rate']:g}/s × {r['steady_files']}",
                f"{r['latency_p50_ms']} ms",
                f"{r['latency_p95_ms']} ms",
                f"{r['latency_max_ms']} ms",
            ]
            for r in runs
        ],
        ["single run per mode"],
    )
    return Result("e2e", "End to end", command, quick, [throughput, latency], data={"runs": runs})


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
    for r in runs:
        print(
            f"{r['mode']:<12} fitsflow {r['throughput_files_per_second']:>8} files/s = "
            f"{r['ratio_to_empty']:.0%} of empty ({r['empty_messages_per_second']} msgs/s), "
            f"{r['ratio_to_straightforward']:.2f}× straightforward "
            f"({r['straightforward_files_per_second']} files/s); "
            f"latency at {r['steady_rate']:g}/s: p50 {r['latency_p50_ms']} ms, "
            f"p95 {r['latency_p95_ms']} ms"
        )


if __name__ == "__main__":
    main()
