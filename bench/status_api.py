"""Status API latency with 1,000,000 products and 1,000,000 jobs in PostgreSQL.

    python -m bench.status_api                          # 1M rows, 3,000 requests per endpoint
    python -m bench.status_api --rows 100000 --requests 500          # a quicker look
    python -m bench.status_api --database-url postgresql://…/db --keep    # reuse a filled one
    python -m bench.status_api --with-ingest            # also measure while files are ingested
    python -m bench.status_api --rate 500 --rate-only   # open loop, 500 requests/s, ± ingest
    python -m bench.status_api --rate 500 --rate-only --ingest-priority idle   # ingest SCHED_IDLE

1. creates ``fitsflow_bench_status_<hex>`` on ``FITSFLOW_BENCH_POSTGRES``,
   migrates it (``fitsflow db upgrade``) and fills it (:mod:`bench.status_fill`);
2. starts the status API as operators do (``fitsflow api``, a real process);
3. per endpoint — ``/jobs/{id}``, ``/files?path=``, ``/summary``, and
   ``/health`` as the baseline of the HTTP stack — sends a warm-up, then
   ``--requests`` requests (a quarter of them to ``/summary``) from one
   asyncio httpx client over loopback, at random ids and paths, once with one
   request in flight (latency) and once with eight (load); reports
   p50/p95/p99/max latency and requests per second (client and server share
   this machine's cores: the figures include the client's own cost);
4. with ``--rate R``: an open-loop load (:mod:`bench.status_rate`, in its own
   process) of R requests/s in total, a quarter each of ``/jobs/{id}``,
   ``/files?path=``, ``/summary`` and a product search, sent on a schedule
   and timed from each request's due moment, for ``--seconds``; first on the
   idle catalogue, then while ``fitsflow ingest`` records generated files
   into the same database (enough of them to outlast the load); per kind
   p50/p95/p99 against the goal (p95 ≤ 10 ms, p99 ≤ 50 ms);
5. ``EXPLAIN (ANALYZE, BUFFERS)`` of each endpoint's statements;
6. writes ``bench/results/status_api.json`` (a :class:`bench.harness.Result`),
   prints the tables, and drops the database (unless ``--keep`` or
   ``--database-url``). ``--rate-only`` skips the closed-loop phases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.harness import Result, Table, render_table
from bench.status_explain import explain_all
from bench.status_fill import fill
from bench.status_load import Endpoint, Measurement, measure, render
from bench.status_rate import GOAL_P95_MS, GOAL_P99_MS, KindResult
from pipeline.db import open_database
from pipeline.settings import DatabaseSettings

FITSFLOW = str(Path(sys.executable).with_name("fitsflow"))
RESULTS = Path(__file__).resolve().parent / "results"
POSTGRES_ADMIN = os.environ.get(
    "FITSFLOW_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _settings(url: str) -> DatabaseSettings:
    return DatabaseSettings(url=url, pool_min_size=0, pool_max_size=2, statement_timeout=3600)


def _admin(sql: str) -> None:
    async def run() -> None:
        async with open_database(_settings(POSTGRES_ADMIN)) as database:
            await database.execute(sql)

    asyncio.run(run())


def _env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITSFLOW_")}
    env.update(FITSFLOW_DATABASE_URL=database_url, FITSFLOW_LOGGING_LEVEL="WARNING", **extra)
    return env


def _create(stack: ExitStack, keep: bool) -> str:
    name = f"fitsflow_bench_status_{secrets.token_hex(4)}"
    _admin(f'CREATE DATABASE "{name}"')
    if not keep:
        stack.callback(_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    url = POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + name
    subprocess.run([FITSFLOW, "db", "upgrade"], env=_env(url), check=True, capture_output=True)
    return url


def _fill(url: str, rows: int) -> dict[str, float]:
    steps: dict[str, float] = {}

    def report(step: str, seconds: float) -> None:
        steps[step] = round(seconds, 2)
        print(f"  {step}: {seconds:.1f} s", flush=True)

    async def run() -> None:
        async with open_database(_settings(url)) as database:
            await fill(database, rows, rows, report)

    started = time.perf_counter()
    asyncio.run(run())
    steps["total"] = round(time.perf_counter() - started, 1)
    return steps


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_api(stack: ExitStack, url: str, broker_url: str | None, **extra: str) -> str:
    return _start_api_process(stack, url, broker_url, **extra)[0]


def _start_api_process(
    stack: ExitStack, url: str, broker_url: str | None, **extra: str
) -> tuple[str, int]:
    """``fitsflow api`` on ``url``, stopped with ``stack``: its base URL and pid."""
    port = _free_port()
    if broker_url:
        extra["FITSFLOW_BROKER_URL"] = broker_url
    log = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 - closed by the stack
    api = subprocess.Popen(
        [FITSFLOW, "api", "--port", str(port)], env=_env(url, **extra), stdout=log, stderr=log
    )
    stack.callback(api.wait, 30)
    stack.callback(api.terminate)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if api.poll() is not None:
            log.seek(0)
            raise SystemExit(f"fitsflow api exited:\n{log.read().decode(errors='replace')}")
        try:
            import urllib.request

            with urllib.request.urlopen(base + "/health", timeout=2):
                return base, api.pid
        except OSError:
            time.sleep(0.1)
    raise SystemExit("fitsflow api did not answer /health within 60 s")


def endpoints(rows: int) -> list[Endpoint]:
    """What a client asks: random job ids and file paths that exist, and the summary."""

    def path_of(number: int) -> str:
        night = time.strftime("%Y-%m-%d", time.gmtime(1704067200 + (number // 2000) * 86400))
        return f"/data/raw/{night}/exp-{number:07d}.fits"

    return [
        # No database at all: what the HTTP stack, the client and the machine cost.
        Endpoint("/health (baseline)", lambda rng: "/health"),
        Endpoint("/jobs/{id}", lambda rng: f"/jobs/{rng.randint(1, rows)}"),
        Endpoint("/files?path=", lambda rng: f"/files?path={path_of(rng.randint(1, rows))}"),
        Endpoint("/summary", lambda rng: "/summary"),
    ]


def _ingest_in_background(
    stack: ExitStack, url: str, files: int, seed: int = 0, priority: str = "normal"
) -> subprocess.Popen[bytes]:
    directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fitsflow-bench-")))
    subprocess.run([FITSFLOW, "samples", str(directory), "--count", str(files), "--seed",
                    str(seed)], check=True, capture_output=True)  # fmt: skip
    # ``--priority idle``: Linux's SCHED_IDLE, as an operator would run a
    # backfill beside the status endpoint (pipeline.priority).
    ingest = subprocess.Popen(
        [FITSFLOW, "ingest", str(directory), "--priority", priority],
        env=_env(url),
        stdout=subprocess.DEVNULL,
    )
    stack.callback(ingest.wait, 600)
    return ingest


def _products(url: str) -> int:
    async def run() -> int:
        async with open_database(_settings(url)) as database:
            return int(await database.fetch_value("SELECT count(*) FROM products"))

    return asyncio.run(run())


def _open_loop(base: str, args: argparse.Namespace, phase: str) -> dict[str, Any]:
    """``bench.status_rate`` against ``base`` in its own process; its JSON document."""
    command = [sys.executable, "-m", "bench.status_rate", "--rows", str(args.rows),
               "--rate", str(args.rate), "--seconds", str(args.seconds),
               "--connections", str(args.connections)]  # fmt: skip
    for url in [base, *args.more_bases]:
        command += ["--base", url]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    found: dict[str, Any] = json.loads(done.stdout)
    found["load_average_after"] = [round(load, 2) for load in os.getloadavg()]
    print(render_table(_rate_table(f"{phase}", found)), flush=True)
    return found


def _measure_rate(stack: ExitStack, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """The open-loop load on the idle catalogue, then while ``fitsflow ingest`` runs."""
    found: dict[str, Any] = {"idle": _open_loop(args.base, args, "idle")}
    before = _products(url)
    # More files than ingest can record during the load (~700-900 files/s
    # here when idle since fitsflow ingest records its files in groups), never
    # seen before: a reused database already holds a fixed seed's.
    files, seed = int(1000 * (args.seconds + 15)), secrets.randbelow(2**31)
    ingest = _ingest_in_background(stack, url, files, seed=seed, priority=args.ingest_priority)
    deadline = time.monotonic() + 60
    while _products(url) == before and time.monotonic() < deadline and ingest.poll() is None:
        time.sleep(0.2)
    started, first = time.monotonic(), _products(url)
    phase = "with ingest" + (" (ingest SCHED_IDLE)" if args.ingest_priority == "idle" else "")
    found["with_ingest"] = _open_loop(args.base, args, phase)
    recorded = _products(url) - first
    found["ingest"] = {
        "files_generated": files,
        "seed": seed,
        "recorded_during_load": recorded,
        "files_per_second": round(recorded / (time.monotonic() - started), 1),
        "still_running_at_end": ingest.poll() is None,
        "priority": args.ingest_priority,
    }
    ingest.terminate()
    return found


def _rate_table(phase: str, run: dict[str, Any]) -> Table:
    kinds = [KindResult(**row) for row in run["kinds"]]
    servers = len(run.get("bases", [])) or 1
    processes = f", {servers} `fitsflow api` processes" if servers > 1 else ""
    table = Table(
        title=f"Open loop, {run['rate']:g} requests/s for {run['seconds']:g} s{processes}, {phase}",
        columns=["request", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors",
                 f"goal (p95 ≤ {GOAL_P95_MS:g}, p99 ≤ {GOAL_P99_MS:g} ms)"],
    )  # fmt: skip
    for kind in kinds:
        table.rows.append(
            [kind.kind, f"{kind.requests:,}", f"{kind.p50_ms:,.1f}", f"{kind.p95_ms:,.1f}",
             f"{kind.p99_ms:,.1f}", f"{kind.max_ms:,.1f}", str(kind.errors),
             "met" if kind.meets_goal() else "missed"]
        )  # fmt: skip
    table.notes.append(
        f"achieved {run['achieved_per_second']:,.0f} answers/s of {run['rate']:g} scheduled, "
        f"{run['errors']} errors, {run['connections']} connections; client send lag p99 "
        f"{run['send_lag_p99_ms']:.1f} ms (how late the client itself queued requests); "
        f"load average after {', '.join(map(str, run.get('load_average_after', [])))}"
    )
    table.notes.append(
        "mix: a quarter each of /jobs/{id} (random existing id), /files?path= (random existing "
        "path), /summary, and /products?telescope=VLT&start=<night>&end=<next night>&limit=50 "
        "(a random night: ~500 matches, the first page of 50, ~44 kB)"
    )
    return table


def _measure_all(
    base: str, rows: int, args: argparse.Namespace, chosen: list[Endpoint] | None = None
) -> list[Measurement]:
    found = []
    for concurrency in args.concurrency:
        for endpoint in chosen or endpoints(rows):
            summary = endpoint.name.startswith("/summary")
            requests = args.requests // 4 if summary else args.requests
            result = asyncio.run(measure(base, endpoint, requests, concurrency, random.Random(7)))
            print(render([result]).splitlines()[-1], flush=True)
            found.append(result)
    return found


def _measure_idle(stack: ExitStack, url: str, args: argparse.Namespace) -> list[Measurement]:
    """Every endpoint as configured by default, then /summary counting at every request
    (``api.summary_cache_seconds = 0``: what /summary cost before its counts were reused)."""
    counting = _start_api(stack, url, args.broker_url, FITSFLOW_API_SUMMARY_CACHE_SECONDS="0")
    summary = Endpoint("/summary (counted every request)", lambda rng: "/summary")
    before = _measure_all(counting, args.rows, args, [summary])
    args.base = _start_api(stack, url, args.broker_url)
    return [*_measure_all(args.base, args.rows, args), *before]


def _levels(text: str) -> list[int]:
    return [int(level) for level in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="products and jobs each")
    parser.add_argument("--requests", type=int, default=3000, help="per endpoint")
    parser.add_argument(
        "--concurrency", type=_levels, default=[1, 8], help="requests in flight, e.g. 1,8"
    )
    parser.add_argument("--database-url", help="an already filled database (not dropped)")
    parser.add_argument("--broker-url", help="redis:// or amqp:// for /summary's queues")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--with-ingest", action="store_true", help="measure again while ingesting")
    parser.add_argument("--rate", type=float, help="open loop: requests/s, ± ingest (e.g. 500)")
    parser.add_argument("--seconds", type=float, default=25.0, help="of each open-loop load")
    parser.add_argument("--connections", type=int, default=64, help="of the open-loop client")
    parser.add_argument("--rate-only", action="store_true", help="only the open-loop loads")
    parser.add_argument(
        "--api-processes", type=int, default=1, help="open loop: `fitsflow api` processes to share"
    )
    parser.add_argument(
        "--ingest-priority",
        choices=["normal", "idle"],
        default="normal",
        help="open loop: the concurrent `fitsflow ingest --priority` (idle: SCHED_IDLE)",
    )
    args = parser.parse_args(argv)
    data: dict[str, Any] = {"rows": args.rows, "requests": args.requests}
    data["concurrency"] = args.concurrency
    data["load_average_before"] = os.getloadavg()
    with ExitStack() as stack:
        url = args.database_url
        if url is None:
            url = _create(stack, args.keep)
            print(f"filling {url} with {args.rows:,} products and jobs", flush=True)
            data["fill_seconds"] = _fill(url, args.rows)
        if args.rate_only:
            args.base = _start_api(stack, url, args.broker_url)
        else:
            data["idle"] = [m.as_dict() for m in _measure_idle(stack, url, args)]
        if args.rate:
            # More than one process is not a setting of ``fitsflow api`` (one
            # process, one event loop): this says what a second one would give.
            args.more_bases = [
                _start_api(stack, url, args.broker_url) for _ in range(args.api_processes - 1)
            ]
            data["api_processes"] = args.api_processes
            data["rate"] = _measure_rate(stack, url, args)
        if args.with_ingest:
            ingest = _ingest_in_background(stack, url, 3000)
            measured = _measure_all(args.base, args.rows, args)
            data["with_ingest"] = [m.as_dict() for m in measured]
            data["ingest_still_running_at_end"] = ingest.poll() is None
        data["load_average_after"] = os.getloadavg()
        data["explain"] = asyncio.run(explain_all(url, args.rows))
    _write(data, argv)
    return 0


def _write(data: dict[str, Any], argv: list[str] | None) -> None:
    command = "python -m bench.status_api " + " ".join(argv if argv is not None else sys.argv[1:])
    tables = []
    for phase in ("idle", "with_ingest"):
        if phase in data:
            table = Table(
                title=f"Closed loop, {data['rows']:,} products and jobs, {phase}",
                columns=["endpoint", "in flight", "requests", "p50 ms", "p95 ms", "p99 ms",
                         "max ms", "req/s", "errors"],
            )  # fmt: skip
            for row in data[phase]:
                m = Measurement.from_dict(row)
                table.rows.append(
                    [m.endpoint, str(m.concurrency), str(m.requests), f"{m.p50_ms:.1f}",
                     f"{m.p95_ms:.1f}", f"{m.p99_ms:.1f}", f"{m.max_ms:.1f}",
                     f"{m.requests_per_second:,.0f}", str(m.errors)]
                )  # fmt: skip
            tables.append(table)
    if "rate" in data:
        rate = data["rate"]
        tables.append(_rate_table("idle", rate["idle"]))
        ingest = rate["ingest"]
        during = _rate_table("while `fitsflow ingest` runs", rate["with_ingest"])
        during.notes.append(
            f"ingest recorded {ingest['recorded_during_load']:,} files during the load "
            f"({ingest['files_per_second']:,.0f} files/s), still running at the end: "
            f"{ingest['still_running_at_end']}"
        )
        tables.append(during)
        for table in tables[-2:]:
            missed = [row[0] for row in table.rows if row[-1] == "missed" and row[0] != "all"]
            table.notes.append(
                f"goal p95 ≤ {GOAL_P95_MS:g} ms and p99 ≤ {GOAL_P99_MS:g} ms: "
                + (f"missed by {', '.join(missed)}" if missed else "met by every request kind")
            )
    result = Result(
        name="status_api",
        title=f"Status endpoint, {data['rows']:,} products and jobs in PostgreSQL",
        command=command.strip(),
        quick=False,
        tables=tables,
        data=data,
        notes=[f"load average before {data['load_average_before']}, "
               f"after {data['load_average_after']}"],
    )  # fmt: skip
    from bench.__main__ import report

    for name, plans in data["explain"].items():
        print(f"\n{name}:")
        for plan in plans:
            print(f"  {plan['statement']}\n    {plan['summary']}")
    report(result, RESULTS)


if __name__ == "__main__":
    sys.exit(main())
