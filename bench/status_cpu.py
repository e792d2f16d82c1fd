"""The status API's CPU per request, by kind: a figure a noisy machine moves less.

    python -m bench.status_cpu --database-url postgresql://…/db      # a filled database
    python -m bench.status_cpu --rows 100000                         # fill one, then drop it
    python -m bench.status_cpu --database-url … --compare ../other-checkout --rounds 4

Open-loop percentiles (:mod:`bench.status_api`) measure what clients see, and
on a shared two-core machine they move with every neighbour. What the API
process spends per request moves much less: for each kind of the open-loop
mix (``/jobs/{id}``, ``/files?path=``, ``/summary``, a 50-product search;
:func:`bench.status_rate.mix`) this sends a warm-up, then ``--requests``
requests over four kept-alive connections, one in flight on each, and reads
the CPU time (``utime + stime`` in ``/proc/PID/stat``) of the API process and
of the PostgreSQL backends serving it (its ``application_name`` in
``pg_stat_activity``; the server runs on this machine) before and after —
a round trip saved shows on both sides.

``--compare DIR`` measures another checkout of fitsflow too (its ``pipeline``
first on ``PYTHONPATH``; C extensions built there), alternating which goes
first round by round, so that the two see the same machine. Writes
``bench/results/status_cpu.json`` and prints the table: CPU ms per request,
each round's figure, and the median.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.harness import Result, Table
from bench.services import _process_cpu_seconds
from bench.status_api import _create, _fill, _settings, _start_api_process
from bench.status_rate import _Connection, mix
from pipeline.db import open_database

__all__ = ["main", "measure"]

RESULTS = Path(__file__).resolve().parent / "results"
CONNECTIONS = 4


async def _send(base: str, paths: list[str]) -> None:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    connections = [_Connection(host, int(port)) for _ in range(CONNECTIONS)]

    async def each(connection: _Connection, mine: list[str]) -> None:
        for path in mine:
            status = await connection.get(path)
            if status != 200:
                raise SystemExit(f"{path}: HTTP {status}")

    try:
        await asyncio.gather(*(each(c, paths[i::CONNECTIONS]) for i, c in enumerate(connections)))
    finally:
        for connection in connections:
            connection.close()


def _api_backends(url: str) -> list[int]:
    """The server processes of ``fitsflow`` connections to ``url``'s database, but this one."""

    async def run() -> list[int]:
        async with open_database(_settings(url)) as database:
            rows = await database.fetch_all(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'fitsflow' AND pid <> pg_backend_pid()"
            )
        return [int(row["pid"]) for row in rows]

    return asyncio.run(run())


def _cpu_seconds(pids: list[int]) -> float:
    return sum(_process_cpu_seconds(pid) for pid in pids)


def measure(
    url: str, rows: int, requests: int, seed: int, checkout: Path | None = None
) -> dict[str, dict[str, float]]:
    """One ``fitsflow api`` (from ``checkout``, or this one) on ``url``: CPU ms
    per request of each kind of the mix, ``api`` and ``postgresql``."""
    extra = {"PYTHONPATH": str(checkout)} if checkout is not None else {}
    rng = random.Random(seed)
    found: dict[str, dict[str, float]] = {"api": {}, "postgresql": {}}
    with ExitStack() as stack:
        base, pid = _start_api_process(stack, url, None, **extra)
        for kind, path_for in mix(rows).items():
            asyncio.run(_send(base, [path_for(rng) for _ in range(min(200, requests))]))
            paths = [path_for(rng) for _ in range(requests)]
            # After the warm-up: the pool holds the connections these requests use.
            backends = _api_backends(url)
            before, server_before = _process_cpu_seconds(pid), _cpu_seconds(backends)
            asyncio.run(_send(base, paths))
            found["api"][kind] = (_process_cpu_seconds(pid) - before) / requests * 1000
            server = _cpu_seconds(backends) - server_before
            found["postgresql"][kind] = server / requests * 1000
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="an already filled database (not dropped)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="products and jobs filled")
    parser.add_argument("--requests", type=int, default=1000, help="of each kind, each round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="another checkout of fitsflow to measure")
    args = parser.parse_args(argv)
    trees: list[tuple[str, Path | None]] = [("this checkout", None)]
    if args.compare is not None:
        trees.append((str(args.compare), args.compare.resolve()))
    rounds: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name, _ in trees}
    with ExitStack() as stack:
        url = args.database_url
        if url is None:
            url = _create(stack, keep=False)
            print(f"filling {url} with {args.rows:,} products and jobs", flush=True)
            _fill(url, args.rows)
        for number in range(args.rounds):
            for name, checkout in trees if number % 2 == 0 else trees[::-1]:
                found = measure(url, args.rows, args.requests, seed=number, checkout=checkout)
                rounds[name].append(found)
                figures = ", ".join(
                    f"{kind} {ms:.3f} + {found['postgresql'][kind]:.3f} ms"
                    for kind, ms in found["api"].items()
                )
                print(f"round {number + 1}, {name} (API + PostgreSQL): {figures}", flush=True)
    _write(args, rounds, argv)
    return 0


def _write(args: argparse.Namespace, rounds: dict[str, list[dict[str, dict[str, float]]]],
           argv: list[str] | None) -> None:  # fmt: skip
    table = Table(
        title=f"Status API CPU per request, closed loop, {args.requests:,} requests a kind",
        columns=["checkout", "request", "process", "CPU ms per request (each round)", "median"],
    )
    for name, found in rounds.items():
        for kind in found[0]["api"] if found else []:
            for side, label in (("api", "API"), ("postgresql", "PostgreSQL")):
                figures = [round(one[side][kind], 3) for one in found]
                table.rows.append(
                    [name, kind, label, ", ".join(f"{f:.3f}" for f in figures),
                     f"{statistics.median(figures):.3f}"]
                )  # fmt: skip
    table.notes.append(
        f"{CONNECTIONS} kept-alive connections, one request in flight on each; utime + stime "
        "from /proc around each kind's requests, after a warm-up: the API process, and the "
        "PostgreSQL backends of its connections"
    )
    data: dict[str, Any] = {"rows": args.rows, "requests": args.requests, "rounds": rounds}
    command = "python -m bench.status_cpu " + " ".join(argv if argv is not None else sys.argv[1:])
    result = Result(
        name="status_cpu",
        title="Status API CPU per request",
        command=command.strip(),
        quick=False,
        tables=[table],
        data=data,
    )
    from bench.__main__ import report

    report(result, RESULTS)


if __name__ == "__main__":
    raise SystemExit(main())
