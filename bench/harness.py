"""What every benchmark shares: results, tables, timing, the machine.

A benchmark is one module ``bench/<name>.py`` exposing::

    def run(quick: bool) -> Result: ...

and one entry in ``bench.__main__.BENCHMARKS``. ``quick`` asks for a
smoke run (seconds, not minutes): the test suite uses it to prove the
benchmark still works and asserts nothing about the figures.

This machine is shared and noisy, so a figure alone says little: every
contestant of a benchmark is timed in the same repetition on the same files
(:func:`interleaved`), and figures are reported as ratios against a
baseline measured in that repetition, as median and range over the
repetitions (:class:`Spread`).
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "REPOSITORY",
    "Result",
    "Spread",
    "Table",
    "interleaved",
    "machine",
    "render_table",
    "versions",
]

REPOSITORY = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Spread:
    """Median and range of one figure over repetitions."""

    median: float
    low: float
    high: float
    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        return cls(statistics.median(samples), min(samples), max(samples), tuple(samples))

    def text(self, digits: int = 0) -> str:
        """``median (low–high)``, e.g. ``1,234 (1,100–1,300)``."""
        return f"{self.median:,.{digits}f} ({self.low:,.{digits}f}–{self.high:,.{digits}f})"


@dataclass
class Table:
    """A titled table of text cells, printed and written to the docs as is."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Result:
    """What one benchmark run produced: tables for people, data for machines."""

    name: str
    title: str
    command: str
    quick: bool
    tables: list[Table]
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The result with when, on what machine and with which versions it was measured."""
        measured_at = datetime.now(UTC).isoformat(timespec="seconds")
        return {
            **asdict(self),
            "measured_at": measured_at,
            "machine": machine(),
            "versions": versions(),
        }


def interleaved(
    contestants: Mapping[str, Callable[[], object]], repetitions: int
) -> dict[str, list[float]]:
    """Seconds per call of each contestant, per repetition.

    Within a repetition every contestant runs once; the order rotates from
    one repetition to the next so that none always runs first (cold) or
    right after another's garbage.
    """
    names = list(contestants)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for repetition in range(repetitions):
        shift = repetition % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            contestants[name]()
            seconds[name].append(time.perf_counter() - started)
    return seconds


def render_table(table: Table) -> str:
    """``table`` as aligned plain text."""
    cells = [table.columns, *table.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.columns))]
    lines = [table.title, "  ".join(c.ljust(w) for c, w in zip(table.columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in table.rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    lines += [f"  {note}" for note in table.notes]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """The facts about this machine that a figure depends on."""
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": round(_memory_bytes() / 1024**3, 1),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "platform": platform.platform(),
    }


def versions() -> dict[str, str]:
    """Python, the libraries compared, and the fitsflow commit measured."""
    found = {"python": platform.python_version(), "fitsflow": _git_revision()}
    for package in ("astropy", "numpy", "ccdproc"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _git_revision() -> str:
    """The commit measured, ``+dirty`` when the work tree has changes."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}+dirty" if dirty else sha
