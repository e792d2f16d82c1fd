"""End-to-end throughput and latency: file closed in a watched root -> product committed.

Runs the real commands (``fitsflow run`` for the embedded mode; ``fitsflow
watch`` + two ``fitsflow worker`` processes over PostgreSQL and Redis for the
distributed mode), drops generated files, and reads the commit times back
from the jobs table.

- throughput: N files renamed into the root as fast as possible (written
  beforehand beside it, on the same filesystem, as the baselines' files are
  written before they are timed); files/s from the first file's arrival to
  the last commit. Then — or first: the order alternates between
  repetitions — N other files *written* into the root as fast as possible,
  the writer working on the same cores (``fitsflow_written_*`` in the JSON);
- latency: files written at a steady rate; for each file, the job's
  ``finished_at`` minus the moment the writer closed it (same clock: one host).

In the same run, two baselines on the same broker and worker settings
(:mod:`bench.baseline_actors`), fitsflow's processes stopped meanwhile:
Redis with two worker processes of ``fitsflow worker``'s default thread
count (``dramatiq bench.baseline_actors --processes 2 --threads 128``) for
the distributed mode; the memory broker with ``fitsflow run``'s worker
threads (``worker.embedded_threads``, 256) in one process for the embedded
mode — and each again with half those threads, the faster of the two kept
(:func:`baseline_threads`). Each is sent one message per file (the same bytes fitsflow ingests),
one ``send`` at a time as fast as possible, and
timed from the first send until ``broker.join`` sees the queue drained
(every message acknowledged):

- empty actor: does nothing — the queue's ceiling, messages/s;
- straightforward actor: astropy ``getheader`` and one INSERT per message
  (PostgreSQL in the scratch database, or SQLite), files/s; the row count is
  checked afterwards.

A repetition times fitsflow and both baselines once each, on new files and
a fresh database, in an order that rotates from one repetition to the next;
fitsflow's throughput is reported as ratios against both, taken within a
repetition, as median and range over the repetitions (3 by default). Latency
is measured once, in the first repetition.

    python -m bench.e2e --mode embedded --files 2000 --rate 50 --seconds 20
    python -m bench.e2e --mode distributed --repetitions 3

As one of the harness's benchmarks (``python -m bench e2e``), ``run(quick)``
measures both modes with the defaults above; ``--quick`` measures the
embedded mode only, once, on 100 files and 3 s at 20 files/s (a smoke
run). Both write ``bench/results/e2e.json`` in the harness's format, the per-mode
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
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.harness import REPOSITORY, Result, Spread, Table
from pipeline.db import open_database
from pipeline.errors import DatabaseError
from pipeline.samples import SampleKind, rng_for, sample_bytes
from pipeline.settings import DatabaseSettings, WorkerSettings

FITSFLOW = str(Path(sys.executable).with_name("fitsflow"))
DRAMATIQ = str(Path(sys.executable).with_name("dramatiq"))
#: Worker processes of the distributed mode, fitsflow's and the baselines'.
PROCESSES = 2
#: Threads per worker process: the default of ``fitsflow worker``, given to
#: every side of the distributed mode; and of ``fitsflow run``, given to every
#: side of the embedded mode.
THREADS = WorkerSettings().threads
EMBEDDED_THREADS = WorkerSettings().embedded_threads
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
        FITSFLOW_WORKER_EMBEDDED_THREADS=str(EMBEDDED_THREADS),
    )
    if broker_url:
        env["FITSFLOW_BROKER_URL"] = broker_url
    return env


def _psql(sql: str, admin: str = POSTGRES_ADMIN) -> None:
    async def run() -> None:
        db = open_database(DatabaseSettings(url=admin, pool_min_size=0, pool_max_size=1))
        async with db:
            await db.execute(sql)

    asyncio.run(run())


_SUCCEEDED_UNDER = "FROM jobs WHERE state = 'succeeded' AND path LIKE :root"


async def _succeeded_under(database_url: str, root: Path, columns: str) -> list[Any]:
    """``SELECT columns`` of the succeeded jobs under ``root``, on a connection of its own."""
    db = open_database(DatabaseSettings(url=database_url, pool_min_size=0, pool_max_size=2))
    async with db:
        sql = f"SELECT {columns} {_SUCCEEDED_UNDER}"
        return await db.fetch_all(sql, {"root": f"{root}/%"})


async def _finished(database_url: str, root: Path) -> dict[str, float]:
    rows = await _succeeded_under(database_url, root, "path, finished_at")
    return {str(r["path"]): r["finished_at"].timestamp() for r in rows}


async def _succeeded(database_url: str, root: Path) -> int:
    [row] = await _succeeded_under(database_url, root, "count(*) AS n")
    return int(row["n"])


def _wait_all(database_url: str, root: Path, paths: set[str], timeout: float) -> dict[str, float]:
    """The commit times of the jobs under ``root``, once every one of ``paths`` has one.

    While waiting it only counts the succeeded jobs, and reads their rows once
    there are enough: reading every row four times a second took ~0.5 ms of
    this process's CPU per file of a 4,000-file burst (a fifth of a core of
    two, on the machine fitsflow is measured on); the times it returns are
    the database's, whenever they are read.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if asyncio.run(_succeeded(database_url, root)) >= len(paths):
            done = asyncio.run(_finished(database_url, root))
            if paths <= done.keys():
                return done
        time.sleep(0.25)
    done = asyncio.run(_finished(database_url, root))
    missing = len(paths - done.keys())
    raise SystemExit(f"{missing} of {len(paths)} files were not committed within {timeout}s")


def _wait_first_commit(database_url: str, root: Path, logs: Path, timeout: float = 180.0) -> None:
    """Return once fitsflow has recorded one file dropped into ``root``.

    A fixed pause was not enough on a slow machine (``fitsflow run`` still
    making its schema when the burst began). The probe's bytes are in no
    corpus (their seeds are 100 and up) and its name in no burst's.
    """
    probe = _drop(root, [sample_bytes(0, SampleKind.IMAGE, rng_for(99, 0))], None, "ready")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done = asyncio.run(_finished(database_url, root))
        except DatabaseError:  # no schema yet: the embedded node makes it as it starts
            done = {}
        if probe.keys() <= done.keys():
            return
        time.sleep(0.25)
    tails = "".join(
        f"\n--- {log.name}\n{log.read_text(errors='replace')[-2000:]}"
        for log in sorted(logs.glob("*.log"))
    )
    raise SystemExit(f"fitsflow recorded no file within {timeout:g} s{tails}")


def _drop(root: Path, files: list[bytes], rate: float | None, prefix: str) -> dict[str, float]:
    closed: dict[str, float] = {}
    interval = 1.0 / rate if rate else 0.0
    began = time.monotonic()
    for offset, data in enumerate(files):
        if interval:
            delay = began + offset * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        path = root / f"{prefix}-{offset:07d}.fits"
        with path.open("wb") as sink:
            sink.write(data)
        closed[str(path)] = time.time()
    return closed


#: How a throughput burst's files reach the watched root. ``renamed``: written
#: beforehand into a staging directory beside the root (same filesystem) and
#: renamed into it as fast as possible once the clock runs — as the baselines'
#: files are written before they are timed; the headline figure. ``written``:
#: written into the root while the clock runs, the writer's own work on the
#: same cores (on some machines creating an inode costs ~0.7 ms of kernel time,
#: see docs/benchmarks.md) and the watcher's two events a file (created, closed) included.
DELIVERIES = ("renamed", "written")


def _deliver(delivery: str, root: Path, files: list[bytes], prefix: str) -> dict[str, float]:
    """``files`` into ``root`` by ``delivery``: the moment each arrived, by path."""
    if delivery == "written":
        return _drop(root, files, None, prefix)
    staging = root.with_name(f"{root.name}-staging-{prefix}")
    staging.mkdir()
    staged = _drop(staging, files, None, prefix)
    arrived: dict[str, float] = {}
    for source in staged:
        target = root / Path(source).name
        os.rename(source, target)
        arrived[str(target)] = time.time()
    staging.rmdir()
    return arrived


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
    logs: Path,
    database_url: str,
    queue: str,
    bursts: dict[str, list[bytes]],
    steady: list[bytes],
    rate: float,
    burst: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> dict[str, Any]:
    """fitsflow's files/s on each of ``bursts`` (delivery → files, one after
    the other, in order), and its latencies on ``steady`` (if any).

    The processes are started watching ``root`` (empty) and stopped on return;
    ``burst()`` is entered from each burst's first file delivered to its last
    committed (:mod:`bench.pg_statements` observes the server there). The
    figures: ``<delivery>_files_per_second`` per burst, and the latency's.
    """
    figures: dict[str, Any] = {}
    with ExitStack() as stack:
        if mode == "embedded":
            env = _env(database_url, None, queue)
            command = [FITSFLOW, "run", "--watch", str(root), "--port", "0"]
            _start(stack, command, env, logs / "run.log")
        else:
            env = _env(database_url, REDIS, queue)
            command = [FITSFLOW, "watch", "--watch", str(root)]
            _start(stack, command, env, logs / "watch.log")
            for n in range(PROCESSES):  # one process each, as on two hosts
                command = [FITSFLOW, "worker", "--processes", "1"]
                _start(stack, command, env, logs / f"w{n}.log")
        _wait_first_commit(database_url, root, logs)
        for delivery, files in bursts.items():
            with burst():
                closed = _deliver(delivery, root, files, f"bench-{delivery}")
                done = _wait_all(database_url, root, set(closed), 600)
            seconds = max(done[p] for p in closed) - min(closed.values())
            figures[f"{delivery}_files_per_second"] = len(files) / seconds
        if steady:
            closed = _drop(root, steady, rate, "steady")
            done = _wait_all(database_url, root, set(closed), 600)
            latencies = [done[p] - t for p, t in closed.items()]
            figures.update(
                steady_rate=rate,
                steady_files=len(steady),
                latency_p50_ms=round(statistics.median(latencies) * 1000, 1),
                latency_p95_ms=round(_percentile(latencies, 95) * 1000, 1),
                latency_max_ms=round(max(latencies) * 1000, 1),
            )
    return figures


READY = b"Worker process is ready for action."


def baseline_threads(mode: str) -> tuple[int, int]:
    """The worker threads each baseline is timed with: fitsflow's, and half as many.

    A baseline stands for what Dramatiq does on its own — the empty actor for
    the queue's ceiling — so it gets the better of two settings rather than
    fitsflow's alone: at 128 threads a process (fitsflow's default since
    2026-11-27) Dramatiq's stock ``RedisBroker`` moved an empty actor's
    messages at 333–351 a second against 1,843–2,533 at 64 (alternating
    runs, 2,000 messages), which would make any ratio to it flatter fitsflow.
    """
    ours = EMBEDDED_THREADS if mode == "embedded" else THREADS
    return ours, max(1, ours // 2)


def _baseline(
    actor: str,
    mode: str,
    paths: Path,
    scratch: Path,
    database_url: str,
    queue: str,
    threads: int,
) -> dict[str, Any]:
    """One baseline actor's run with ``threads`` worker threads a process
    (see :mod:`bench.baseline_actors`): its figures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FITSFLOW_", "BENCH_"))}
    env.update(
        BENCH_BASELINE_BROKER="memory://" if mode == "embedded" else REDIS,
        BENCH_BASELINE_QUEUE=queue,
        BENCH_BASELINE_DATABASE=database_url,
    )
    send = [sys.executable, "-m", "bench.baseline_actors", actor, "--paths", str(paths)]
    with ExitStack() as stack:
        if mode == "embedded":
            send += ["--embedded", str(threads)]
        else:
            log = scratch / f"baseline-{actor}.log"
            workers = _start(
                stack,
                [DRAMATIQ, "bench.baseline_actors", "--processes", str(PROCESSES),
                 "--threads", str(threads), "--queues", f"{queue}-{actor}"],
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


#: The contestants of one repetition, in the order of the first; it rotates.
CONTESTANTS = ("fitsflow", "empty", "straightforward")


def measure(mode: str, files: int, rate: float, seconds: float, repetitions: int) -> dict[str, Any]:
    """Throughput against the baselines, and latency, of one mode: a flat dict of figures.

    Every repetition times fitsflow and both baselines once, on a corpus and
    a database of its own, in an order that rotates from one repetition to
    the next; the ratios are taken within a repetition. Latency is measured
    once, in the first repetition.
    """
    steady = [
        sample_bytes(i, SampleKind.IMAGE, rng_for(100, i)) for i in range(int(rate * seconds))
    ]
    with tempfile.TemporaryDirectory(prefix="fitsflow-bench-") as where:
        scratch = Path(where)
        queue = f"bench-{secrets.token_hex(4)}"
        rates: dict[str, list[float]] = {c: [] for c in (*CONTESTANTS, *DELIVERIES)}
        chosen: dict[str, list[int]] = {"empty": [], "straightforward": []}
        latency: dict[str, Any] = {}
        for repetition in range(repetitions):
            corpus = [
                sample_bytes(i, SampleKind.IMAGE, rng_for(101 + repetition, i))
                for i in range(files)
            ]
            # The baselines read the same bytes from files of their own.
            originals = scratch / f"files-{repetition}"
            originals.mkdir()
            paths = scratch / f"paths-{repetition}.txt"
            paths.write_text("".join(f"{p}\n" for p in _drop(originals, corpus, None, "bench")))
            shift = repetition % len(CONTESTANTS)
            with ExitStack() as stack:
                database_url, baseline_database = _databases(mode, scratch, repetition, stack)
                for contestant in CONTESTANTS[shift:] + CONTESTANTS[:shift]:
                    if contestant == "fitsflow":
                        root = scratch / f"inbox-{repetition}"
                        root.mkdir()
                        # The baselines' bytes renamed in; new ones (new
                        # products) written in; which goes first alternates.
                        fresh = [
                            sample_bytes(i, SampleKind.IMAGE, rng_for(201 + repetition, i))
                            for i in range(files)
                        ]
                        bursts = {"renamed": corpus, "written": fresh}
                        order = DELIVERIES if repetition % 2 == 0 else DELIVERIES[::-1]
                        figures = _ingest(
                            mode, root, scratch, database_url, queue,
                            {delivery: bursts[delivery] for delivery in order},
                            [] if latency else steady, rate,
                        )  # fmt: skip
                        for delivery in DELIVERIES:
                            rates[delivery].append(figures.pop(f"{delivery}_files_per_second"))
                        latency = latency or figures
                    else:
                        best = max(
                            (files / _baseline(
                                contestant, mode, paths, scratch, baseline_database,
                                f"{queue}-base", threads,
                            )["seconds"], threads)
                            for threads in baseline_threads(mode)
                        )  # fmt: skip
                        rates[contestant].append(best[0])
                        chosen[contestant].append(best[1])
    ours, written = rates["renamed"], rates["written"]
    return {
        "mode": mode,
        "files": files,
        "repetitions": repetitions,
        "processes": 1 if mode == "embedded" else PROCESSES,
        "threads": EMBEDDED_THREADS if mode == "embedded" else THREADS,
        "fitsflow_files_per_second": _spread(ours, 1),
        "empty_messages_per_second": _spread(rates["empty"], 1),
        "straightforward_files_per_second": _spread(rates["straightforward"], 1),
        "fitsflow_to_empty": _spread([a / b for a, b in zip(ours, rates["empty"], strict=True)], 3),
        "fitsflow_to_straightforward": _spread(
            [a / b for a, b in zip(ours, rates["straightforward"], strict=True)], 3
        ),
        "baseline_threads": list(baseline_threads(mode)),
        "empty_threads": chosen["empty"],
        "straightforward_threads": chosen["straightforward"],
        "fitsflow_written_files_per_second": _spread(written, 1),
        "fitsflow_written_to_straightforward": _spread(
            [a / b for a, b in zip(written, rates["straightforward"], strict=True)], 3
        ),
        **latency,
    }


def _databases(
    mode: str, scratch: Path, repetition: int, stack: ExitStack, admin: str = POSTGRES_ADMIN
) -> tuple[str, str]:
    """Fresh databases for one repetition, fitsflow's and the baseline's: their URLs.

    Embedded: two SQLite files. Distributed: one scratch PostgreSQL database,
    migrated, dropped when ``stack`` closes, on the server ``admin`` reaches.
    """
    if mode == "embedded":
        return (
            f"sqlite:///{scratch}/fitsflow-{repetition}.db",
            f"sqlite:///{scratch}/base-{repetition}.db",
        )
    name = f"fitsflow_bench_{secrets.token_hex(4)}"
    _psql(f'CREATE DATABASE "{name}"', admin)
    stack.callback(lambda: _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', admin))
    url = admin.rsplit("/", 1)[0] + "/" + name
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITSFLOW_")}
    env["FITSFLOW_DATABASE_URL"] = url
    subprocess.run([FITSFLOW, "db", "upgrade"], env=env, check=True, capture_output=True)
    return url, url


def _spread(samples: list[float], digits: int) -> dict[str, Any]:
    """Median, low, high and the samples, rounded: what the JSON keeps of a figure."""
    spread = Spread.of([round(sample, digits) for sample in samples])
    return {**asdict(spread), "samples": list(spread.samples)}


def run(quick: bool) -> Result:
    """The harness's entry point: both modes (embedded only when ``quick``)."""
    if quick:
        runs = [measure("embedded", 100, 20.0, 3.0, 1)]
    else:
        runs = [measure(mode, 2000, 50.0, 20.0, 3) for mode in ("embedded", "distributed")]
    return _result(runs, "python -m bench e2e" + (" --quick" if quick else ""), quick)


GOALS = {"embedded": "≥ 1,500 files/s", "distributed": "≥ 2,000 files/s, ≥ 50% of empty"}


def _text(figure: dict[str, Any], form: str, unit: str = "") -> str:
    """``median (low–high)`` of one figure, each formatted with ``form``."""
    median, low, high = (format(figure[key], form) for key in ("median", "low", "high"))
    return median + unit + ("" if low == high else f" ({low}–{high})")


def _result(runs: list[dict[str, Any]], command: str, quick: bool) -> Result:
    counts = sorted({r["repetitions"] for r in runs})
    repetitions = f"{', '.join(map(str, counts))} repetition{'' if counts == [1] else 's'}"
    throughput = Table(
        "End to end, throughput: fitsflow against an empty actor (the queue's ceiling) and a "
        f"straightforward actor — median (min–max) of {repetitions}",
        ["mode", "workers", "files", "fitsflow files/s", "empty actor msgs/s", "fitsflow ÷ empty",
         "straightforward files/s", "fitsflow ÷ straightforward",
         "fitsflow, written in place: files/s, ÷ straightforward", "goal"],
        [
            [
                r["mode"],
                f"{r['processes']} × {r['threads']} threads",
                str(r["files"]),
                _text(r["fitsflow_files_per_second"], ",.0f"),
                _text(r["empty_messages_per_second"], ",.0f"),
                _text(r["fitsflow_to_empty"], ".0%"),
                _text(r["straightforward_files_per_second"], ",.0f"),
                _text(r["fitsflow_to_straightforward"], ".2f", "×"),
                _text(r["fitsflow_written_files_per_second"], ",.0f") + ", "
                + _text(r["fitsflow_written_to_straightforward"], ".2f", "×"),
                GOALS[r["mode"]],
            ]
            for r in runs
        ],
        [
            "fitsflow: first file renamed into the watched root → last product committed "
            "(watcher, outbox, queue, ingest actor); the files — the baselines' bytes — written "
            "beside the root before the clock starts, as the baselines' are",
            "written in place: as many new files written into the root while the clock runs "
            "(the writer's CPU on the same cores; the watcher hears two events a file, not "
            "one); the two bursts go one after the other on the same processes, their order "
            "alternating",
            "baselines (bench/baseline_actors.py), same broker and worker settings: one message "
            "per file sent as fast as possible, first send → queue drained (broker.join: every "
            "message acknowledged); embedded: memory broker, worker threads in one process",
            "empty actor: does nothing; straightforward actor: astropy getheader + one INSERT "
            "(PostgreSQL / SQLite) per message, one connection per process",
            "each repetition runs the three one after the other (order rotating) on new files "
            "and a fresh database; ratios are taken within a repetition",
            *(
                f"{r['mode']} baselines: each timed with {r['baseline_threads'][0]} and "
                f"{r['baseline_threads'][1]} threads a process, the faster kept (the queue's "
                "ceiling is the empty actor's best) — chosen, per repetition: empty "
                f"{r['empty_threads']}, straightforward {r['straightforward_threads']}"
                for r in runs
                if "baseline_threads" in r
            ),
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
            if "steady_rate" in r
        ],
        ["one run per mode (in the first repetition); none with --rate 0 or --seconds 0"],
    )
    return Result("e2e", "End to end", command, quick, [throughput, latency], data={"runs": runs})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["embedded", "distributed", "both"], default="both")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50.0, help="latency run, files/s (0: none)")
    parser.add_argument("--seconds", type=float, default=20.0, help="latency run, s (0: none)")
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    modes = ["embedded", "distributed"] if args.mode == "both" else [args.mode]
    runs = [measure(mode, args.files, args.rate, args.seconds, args.repetitions) for mode in modes]
    command = "python -m bench.e2e " + " ".join(sys.argv[1:])
    from bench.__main__ import report

    report(_result(runs, command.strip(), quick=False), RESULTS)
    for r in runs:
        latency = (
            f"; latency at {r['steady_rate']:g}/s: p50 {r['latency_p50_ms']} ms,"
            f" p95 {r['latency_p95_ms']} ms"
            if "steady_rate" in r
            else ""
        )
        print(
            f"{r['mode']:<12} fitsflow {_text(r['fitsflow_files_per_second'], ',.0f')} files/s"
            f" = {_text(r['fitsflow_to_empty'], '.0%')} of empty,"
            f" {_text(r['fitsflow_to_straightforward'], '.2f', '×')} straightforward"
            f" (written in place {_text(r['fitsflow_written_files_per_second'], ',.0f')}"
            f" = {_text(r['fitsflow_written_to_straightforward'], '.2f', '×')}){latency}"
        )


if __name__ == "__main__":
    main()
