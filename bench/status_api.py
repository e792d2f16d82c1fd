"""Status API latency with 1,000,000 products and 1,000,000 jobs in PostgreSQL.

    python -m bench.status_api                          # 1M rows, 3,000 requests per endpoint
    python -m bench.status_api --rows 100000 --requests 500          # a quicker look
    python -m bench.status_api --database-url postgresql://…/db --keep    # reuse a filled one
    python -m bench.status_api --with-ingest            # also measure while files are ingested

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
4. ``EXPLAIN (ANALYZE, BUFFERS)`` of each endpoint's statements;
5. writes ``bench/results/status_api.json``, prints a table, and drops the
   database (unless ``--keep`` or ``--database-url``).
"""

from __future__ import annotations

import argparse
import asyncio
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

from bench.status_explain import explain_all
from bench.status_fill import fill
from bench.status_load import Endpoint, Measurement, measure, render
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
                return base
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


def _ingest_in_background(stack: ExitStack, url: str, files: int) -> subprocess.Popen[bytes]:
    directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fitsflow-bench-")))
    subprocess.run([FITSFLOW, "samples", str(directory), "--count", str(files)], check=True,
                   capture_output=True)  # fmt: skip
    ingest = subprocess.Popen(
        [FITSFLOW, "ingest", str(directory)], env=_env(url), stdout=subprocess.DEVNULL
    )
    stack.callback(ingest.wait, 600)
    return ingest


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
        data["idle"] = [m.as_dict() for m in _measure_idle(stack, url, args)]
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
    import json

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "status_api.json"
    command = "python -m bench.status_api " + " ".join(argv if argv is not None else sys.argv[1:])
    document = {"name": "status_api", "command": command.strip(), "data": data}
    path.write_text(json.dumps(document, indent=2) + "\n")
    print()
    for phase in ("idle", "with_ingest"):
        if phase in data:
            print(f"{phase} ({data['rows']:,} products and jobs):")
            print(render([Measurement.from_dict(row) for row in data[phase]]))
    for name, plans in data["explain"].items():
        print(f"\n{name}:")
        for plan in plans:
            print(f"  {plan['statement']}\n    {plan['summary']}")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    sys.exit(main())
