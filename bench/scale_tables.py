"""The tables of :mod:`bench.scale`: figures beside their baselines and goals."""

from __future__ import annotations

from typing import Any, Final

from bench.harness import Result, Spread, Table

__all__ = ["RSS_GROWTH_GOAL", "SCAN_MB_GOAL", "SCAN_SECONDS_GOAL", "mb", "result"]

#: Worker memory at the end of a backfill ÷ after its first files.
RSS_GROWTH_GOAL: Final = 1.10
SCAN_SECONDS_GOAL: Final = 60.0
SCAN_MB_GOAL: Final = 500.0


def mb(kib: float) -> float:
    """KiB (as /proc reports them) in MB of 10^6 bytes."""
    return kib * 1024 / 1e6


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _backfill_table(data: dict[str, Any]) -> Table:
    baseline = data["baseline"]
    rows = []
    points = [("baseline", baseline), *[("", m) for m in data["milestones"]], ("end", data["end"])]
    for label, point in points:
        rows.append(
            [
                f"{point['ended']:,}" + (f" ({label})" if label else ""),
                f"{point['seconds']:,.0f}",
                f"{mb(point['rss_kib']):,.1f}",
                " + ".join(f"{mb(k):.1f}" for k in point["rss_by_process_kib"]),
                f"{point['rss_kib'] / baseline['rss_kib']:.3f}",
            ]
        )
    peak = data["peak"]
    rows.append(
        [
            f"{peak['ended']:,} (peak of samples)",
            f"{peak['seconds']:,.0f}",
            f"{mb(peak['rss_kib']):,.1f}",
            " + ".join(f"{mb(k):.1f}" for k in peak["rss_by_process_kib"]),
            f"{peak['rss_kib'] / baseline['rss_kib']:.3f}",
        ]
    )
    growth = data["rss_growth"]
    return Table(
        f"Worker memory across a {data['files']:,}-file backfill "
        f"({data['processes']} worker processes)",
        ["files ingested", "seconds", "worker RSS, MB", "per process, MB", "÷ baseline"],
        rows,
        [
            f"goal: RSS at the end ≤ {RSS_GROWTH_GOAL:.2f} × RSS after the first "
            f"{data['baseline_files']:,} files: {growth:.3f} × — "
            f"{_verdict(growth <= RSS_GROWTH_GOAL)}",
            f"RSS summed over the worker processes (VmRSS, sampled every "
            f"{data['interval']:g} s); sum of their peaks (VmHWM) at the end: "
            f"{mb(data['end']['peak_kib']):,.1f} MB",
            f"{data['files_per_second']:,} files/s over the backfill, {data['failed']} failed",
        ],
    )


def _pool_table(data: dict[str, Any]) -> Table:
    pool = data["pool_max"]
    exhausted = int(data["pool_exhausted"])
    rows = [
        ["connections open (max)", f"{pool['size']:.0f} of {pool['max_size']:.0f} allowed"],
        ["in use (max sampled)", f"{pool['in_use']:.0f}"],
        ["callers waiting (max sampled)", f"{pool['waiting']:.0f}"],
        ["longest acquire wait", f"{pool['acquire_wait_max_seconds'] * 1000:,.1f} ms"],
        [
            "mean acquire wait",
            f"{data['pool_acquire_wait_mean_ms']:.3f} ms over {data['pool_acquires']:,.0f}",
        ],
        ["exhausted (pool_exhausted)", f"{exhausted}"],
    ]
    return Table(
        f"Worker connection pools during the {data['files']:,}-file backfill (default settings)",
        ["figure", "value"],
        rows,
        [
            f"goal: no exhaustion at default settings: {exhausted} — {_verdict(exhausted == 0)}",
            "summed over the worker processes (their metrics endpoint, "
            "pool=worker); in use and waiting are the values each process last "
            "reported (after each message), sampled with the memory",
        ],
    )


_THROUGHPUT_COLUMNS = [
    "worker processes",
    "files",
    "files/s",
    "× 1 process",
    "machine CPU busy",
    "CPU ms per file: workers + PostgreSQL",
]


def _cpu_cells(runs: list[dict[str, Any]]) -> list[str]:
    """Median machine busy share and CPU per file over ``runs``."""
    cpu = [r["cpu"] for r in runs if r.get("cpu")]
    if not cpu:
        return ["—", "—"]
    busy = Spread.of([c["machine_busy_share"] * 100 for c in cpu]).median
    worker = Spread.of([c["worker_ms_per_file"] for c in cpu]).median
    postgres = Spread.of([c["postgres_ms_per_file"] for c in cpu]).median
    return [f"{busy:.0f} %", f"{worker:.2f} + {postgres:.2f}"]


def _throughput_table(data: dict[str, Any]) -> Table:
    notes = [
        "files/s from the first job admitted to the last ended; CPU from the scan's start "
        "to the last job ended: the machine's cores busy (of 2, whoever used them), and CPU "
        "time per file of the worker processes and of the database's server processes"
    ]
    runs = data.get("throughput")
    if runs is None:
        backfill = data["backfill"]
        row = [
            str(backfill["processes"]),
            f"{backfill['files']:,}",
            f"{backfill['files_per_second']:,}",
            "—",
            *_cpu_cells([backfill]),
        ]
        notes.append(
            "the backfill's run only: no 1-process run to compare with (--quick, or skipped)"
        )
        return Table("Throughput by worker processes", _THROUGHPUT_COLUMNS, [row], notes)
    one = [r["files_per_second"] for r in runs["1"]]
    two = [r["files_per_second"] for r in runs["2"]]
    ratio = Spread.of([b / a for a, b in zip(one, two, strict=True)])
    files = runs["1"][0]["files"]
    notes.insert(
        0,
        f"median (min–max) of {len(one)} repetitions, the order of the two swapped each "
        "repetition; the catalogue emptied before each run",
    )
    return Table(
        "Throughput by worker processes, same files, same database and broker",
        _THROUGHPUT_COLUMNS,
        [
            ["1", f"{files:,}", Spread.of(one).text(1), "1 (baseline)", *_cpu_cells(runs["1"])],
            [
                "2",
                f"{files:,}",
                Spread.of(two).text(1),
                f"{ratio.text(2)}×",
                *_cpu_cells(runs["2"]),
            ],
        ],
        notes,
    )


def _server_note(data: dict[str, Any]) -> str:
    server = data.get("postgres", {})
    return (
        f"PostgreSQL {server.get('version', '?')}, autovacuum {server.get('autovacuum', '?')}; "
        # Results from before the thread count was recorded ran with 16.
        f"{data.get('threads', 16)} threads per worker process, "
        "default pool (10 connections per process)"
    )


def _startup_table(data: dict[str, Any]) -> Table:
    watch = data["watch"]
    files = data["files"]
    rows = [
        [
            f"fitsflow watch, {files:,} recorded files",
            f"{watch['scan_seconds']:,.2f} s",
            f"{watch['ready_seconds']:,.1f} s",
            f"{mb(watch['peak_kib']):,.0f} MB",
            f"{watch['offered']:,} offered, {watch['admitted']} admitted",
        ],
        [
            "bare walk of the same tree (scandir + lstat)",
            f"{data['bare_walk_seconds']:,.2f} s",
            "—",
            "—",
            "baseline for the time",
        ],
    ]
    notes = [
        f"goal: scan ≤ {SCAN_SECONDS_GOAL:.0f} s: {watch['scan_seconds']:,.1f} s — "
        f"{_verdict(watch['scan_seconds'] <= SCAN_SECONDS_GOAL)}",
        f"goal: ≤ {SCAN_MB_GOAL:.0f} MB: peak {mb(watch['peak_kib']):,.0f} MB — "
        f"{_verdict(mb(watch['peak_kib']) <= SCAN_MB_GOAL)}",
        f"scan ÷ bare walk: {watch['scan_seconds'] / max(data['bare_walk_seconds'], 1e-9):,.1f}×",
    ]
    empty = data.get("empty")
    if empty is not None:
        rows.append(
            [
                "fitsflow watch, empty directory",
                f"{empty['scan_seconds']:,.2f} s",
                f"{empty['ready_seconds']:,.1f} s",
                f"{mb(empty['peak_kib']):,.0f} MB",
                "baseline for the memory",
            ]
        )
        notes.append(
            f"the scan's own memory (peak − empty directory's peak): "
            f"{mb(watch['peak_kib'] - empty['peak_kib']):,.0f} MB"
        )
    notes.append(
        "scan: the `seconds` of the watcher's `scan finished` line; ready: process start → "
        "that line; peak: the watcher's VmHWM then; MB = 10^6 bytes; files on a warm cache"
    )
    return Table(
        f"Watcher start-up scan over {files:,} already recorded files",
        ["", "scan", "ready", "peak RSS", "files"],
        rows,
        notes,
    )


def result(data: dict[str, Any], command: str, quick: bool) -> Result:
    """The harness's result for ``data`` (what :func:`measure` returned)."""
    tables = []
    if "backfill" in data:
        tables += [_backfill_table(data["backfill"]), _pool_table(data["backfill"])]
    if "throughput" in data or "backfill" in data:
        tables.append(_throughput_table(data))
        tables[-1].notes.append(_server_note(data))
    if "startup" in data:
        tables.append(_startup_table(data["startup"]))
    return Result("scale", "Memory and scale", command, quick, tables, data=data)
