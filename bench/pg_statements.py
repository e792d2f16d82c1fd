"""PostgreSQL's work per ingested file, statement by statement.

The shared server loads no ``pg_stat_statements``, so this starts a private
PostgreSQL (initdb in a temporary directory, a free port, the extension
preloaded, ``fsync = off`` as for the tests' private servers), runs
fitsflow's distributed ingest against it exactly as ``bench.e2e`` does
(``fitsflow watch`` + two ``fitsflow worker`` processes, Redis) on N
generated images, and reports per ingested file:

- the server's CPU (every server process: the postmaster, its live children,
  and those that ended, through the postmaster's ``cutime``/``cstime``);
- the WAL written;
- the statements by total execution time — calls, rows, execution and
  planning time, WAL — with the ``IN (…)``/``VALUES (…)`` lists of different
  lengths folded into one line.

    python -m bench.pg_statements                 # 4,000 images
    python -m bench.pg_statements --files 1000 --top 10

Writes ``bench/results/pg_statements.json``. One burst is one sample: the
machine's other work moves these figures too; compare configurations in
alternating runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench import e2e
from bench.harness import Result, Table, render_table
from bench.services import _TICKS, _process_cpu_seconds
from pipeline.db import open_database
from pipeline.samples import SampleKind, rng_for, sample_bytes
from pipeline.settings import DatabaseSettings
from tests.support.servers import PrivatePostgres, private_postgres

__all__ = ["main", "measure"]

RESULTS = Path(__file__).resolve().parent / "results"
SERVER_SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
    "pg_stat_statements.track_planning": "on",
    "pg_stat_statements.max": "10000",
}

STATEMENTS_SQL = (
    "SELECT s.query, s.toplevel, s.calls, s.rows, s.total_exec_time, s.total_plan_time,"
    " s.wal_bytes FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
    " WHERE d.datname = current_database()"
)


def fold(query: str) -> str:
    """``query`` with its parameter lists folded: one line for every list length."""
    text = re.sub(r"\$\d+", "?", " ".join(query.split()))
    text = re.sub(r"(\((\?, )*\?\)(, )?){2,}", "(…)… ", text)  # VALUES rows
    return re.sub(r"(\?, ){2,}\?", "?…", text)  # IN lists


def server_cpu_seconds(server: PrivatePostgres) -> float:
    """CPU seconds of every process of ``server`` so far, ended ones included."""
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    # Its own time and, as cutime/cstime, that of every child that has ended.
    total = sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICKS
    children = subprocess.run(
        ["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False
    ).stdout.split()
    return total + sum(_process_cpu_seconds(int(pid)) for pid in children)


def _query(url: str, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        settings = DatabaseSettings(url=url, pool_min_size=0, pool_max_size=1)
        async with open_database(settings) as db, db.transaction() as tx:
            return await tx.fetch_all(sql, params)

    return asyncio.run(run())


def measure(files: int) -> dict[str, Any]:
    """One distributed burst of ``files`` images against a private server: the figures."""
    corpus = [sample_bytes(i, SampleKind.IMAGE, rng_for(7, i)) for i in range(files)]
    observed: dict[str, Any] = {}
    with (
        private_postgres(SERVER_SETTINGS) as server,
        tempfile.TemporaryDirectory(prefix="fitsflow-bench-") as where,
        ExitStack() as databases,
    ):
        scratch = Path(where)
        url, _ = e2e._databases("distributed", scratch, 0, databases, admin=server.url)
        _query(url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        root = scratch / "inbox"
        root.mkdir()
        figures = e2e._ingest(
            "distributed", root, scratch, url, f"bench-{secrets.token_hex(4)}",
            {"renamed": corpus}, [], 50,
            burst=lambda: _observed(server, url, observed),
        )  # fmt: skip
    return _figures(files, figures["renamed_files_per_second"], observed)


@contextmanager
def _observed(server: PrivatePostgres, url: str, into: dict[str, Any]) -> Iterator[None]:
    """Statistics reset on entry; on exit ``into`` holds the statements, CPU and WAL since."""
    _query(url, "SELECT pg_stat_statements_reset()")
    [start] = _query(url, "SELECT pg_current_wal_lsn()::text AS lsn")
    cpu = server_cpu_seconds(server)
    yield
    into["server_cpu_seconds"] = server_cpu_seconds(server) - cpu
    into["statements"] = _query(url, STATEMENTS_SQL)
    [wal] = _query(
        url,
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), CAST(CAST(:lsn AS text) AS pg_lsn)) AS b",
        {"lsn": start["lsn"]},
    )
    into["wal_bytes"] = float(wal["b"])


def _figures(files: int, files_per_second: float, observed: dict[str, Any]) -> dict[str, Any]:
    folded: dict[tuple[bool, str], dict[str, float]] = {}
    for row in observed["statements"]:
        total = folded.setdefault((bool(row["toplevel"]), fold(str(row["query"]))), {})
        for key in ("calls", "rows", "total_exec_time", "total_plan_time", "wal_bytes"):
            total[key] = total.get(key, 0.0) + float(row[key] or 0)
    statements = sorted(
        ({"toplevel": t, "query": q, **v} for (t, q), v in folded.items()),
        key=lambda s: -s["total_exec_time"],
    )
    return {
        "files": files,
        "files_per_second": round(files_per_second, 1),
        "server_cpu_ms_per_file": round(observed["server_cpu_seconds"] * 1000 / files, 3),
        "wal_bytes_per_file": round(observed["wal_bytes"] / files),
        "statements": statements,
    }


def _table(found: dict[str, Any], top: int) -> Table:
    files = found["files"]
    statements = found["statements"]
    exec_total = sum(s["total_exec_time"] for s in statements if s["toplevel"]) or 1.0
    plan_total = sum(s["total_plan_time"] for s in statements)
    table = Table(
        f"PostgreSQL per ingested file, by statement ({files:,} images, distributed ingest)",
        [
            "statement",
            "calls/file",
            "rows/file",
            "exec ms/file",
            "share",
            "plan ms/file",
            "WAL B/file",
        ],
    )
    for s in statements[:top]:
        table.rows.append(
            [
                ("" if s["toplevel"] else "(nested) ") + s["query"][:110],
                f"{s['calls'] / files:.3f}",
                f"{s['rows'] / files:.2f}",
                f"{s['total_exec_time'] / files:.3f}",
                f"{s['total_exec_time'] / exec_total:.1%}" if s["toplevel"] else "—",
                f"{s['total_plan_time'] / files:.3f}",
                f"{s['wal_bytes'] / files:,.0f}",
            ]
        )
    table.notes = [
        f"{found['files_per_second']:,.0f} files/s; server CPU {found['server_cpu_ms_per_file']}"
        f" ms/file (every server process); WAL {found['wal_bytes_per_file']:,} B/file",
        f"statements' execution {exec_total / files:.3f} ms/file (wall time inside the server),"
        f" planning {plan_total / files:.3f} ms/file",
        "a private server (fsync off, pg_stat_statements); the burst as `bench.e2e` runs it",
    ]
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--files", type=int, default=4000)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    found = measure(args.files)
    table = _table(found, args.top)
    print(render_table(table))
    result = Result(
        "pg_statements",
        "PostgreSQL per ingested file, by statement",
        f"python -m bench.pg_statements --files {args.files}",
        False,
        [table],
        found,
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pg_statements.json").write_text(json.dumps(result.as_json(), indent=1))


if __name__ == "__main__":
    main()
