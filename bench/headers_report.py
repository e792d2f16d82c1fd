"""Turning the header benchmark's timings into its tables and JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.agreement import Agreement
from bench.harness import Result, Spread, Table

__all__ = ["GOALS", "CorpusTiming", "build_result"]

HEADLINE = "fitsflow"
#: The issue's goals: fitsflow at least this many times faster than the baseline.
GOALS = {"astropy open": 20.0, "ImageFileCollection": 35.0}
_SPEED_COLUMNS = (
    "fitsflow",
    "fitsflow parse_file",
    "astropy open",
    "astropy getheader",
    "ImageFileCollection",
    "floor",
)
_BASELINES = ("astropy open", "astropy getheader", "ImageFileCollection")


@dataclass
class CorpusTiming:
    """Seconds per repetition of every contestant over one corpus."""

    kind: str
    files: int
    bytes: int
    seconds: dict[str, list[float]]


def build_result(
    timings: list[CorpusTiming],
    agreements: dict[str, Agreement],
    repetitions: int,
    command: str,
    quick: bool,
) -> Result:
    """The tables (files/s, speed-ups, agreement), goal verdicts and raw data."""
    generated = [t for t in timings if t.kind != "astropy"]
    rows = [*timings, _total("generated, all kinds", generated), _total("overall", timings)]
    verdicts = [_verdict(rows[-1], baseline, goal) for baseline, goal in GOALS.items()]
    tables = [_speed_table(rows, repetitions), _ratio_table(rows, verdicts)]
    tables.append(_agreement_table(agreements))
    return Result(
        name="headers",
        title="Header reading",
        command=command,
        quick=quick,
        tables=tables,
        data={
            "repetitions": repetitions,
            "cards_compared": sum(a.cards_compared for a in agreements.values()),
            "corpora": [_corpus_data(row) for row in rows],
            "excluded": {kind: a.excluded for kind, a in agreements.items()},
        },
        notes=verdicts,
    )


def _speed_table(rows: list[CorpusTiming], repetitions: int) -> Table:
    return Table(
        f"Header reading, files/s — median (min–max) of {repetitions} repetitions",
        ["corpus", "files", *_SPEED_COLUMNS],
        [
            [row.kind, str(row.files), *(_speed(row, name) for name in _SPEED_COLUMNS)]
            for row in rows
        ],
    )


def _ratio_table(rows: list[CorpusTiming], verdicts: list[str]) -> Table:
    return Table(
        "fitsflow speed-up: baseline time ÷ fitsflow time, same repetition — median (min–max)",
        ["corpus", *(f"vs {name}" for name in _BASELINES), "parse_file vs astropy", "time ÷ floor"],
        [_ratio_row(row) for row in rows],
        verdicts,
    )


def _agreement_table(agreements: dict[str, Agreement]) -> Table:
    return Table(
        "Agreement with astropy, checked before timing",
        ["corpus", "files identical to astropy", "cards compared", "files not timed"],
        [_agreement_row(kind, a) for kind, a in agreements.items()],
        [
            f"not timed: {kind}/{name} — {why}"
            for kind, a in agreements.items()
            for name, why in sorted(a.excluded.items())
        ],
    )


def _total(kind: str, timings: list[CorpusTiming]) -> CorpusTiming:
    """The corpora together: per repetition, the sum of their times."""
    names = set.intersection(*(set(t.seconds) for t in timings))
    seconds = {
        name: [sum(t.seconds[name][r] for t in timings) for r in _reps(timings)] for name in names
    }
    return CorpusTiming(kind, sum(t.files for t in timings), sum(t.bytes for t in timings), seconds)


def _reps(timings: list[CorpusTiming]) -> range:
    return range(min(len(t.seconds[HEADLINE]) for t in timings))


def _files_per_second(row: CorpusTiming, name: str) -> Spread | None:
    if name not in row.seconds:
        return None
    return Spread.of([row.files / seconds for seconds in row.seconds[name]])


def _speed(row: CorpusTiming, name: str) -> str:
    spread = _files_per_second(row, name)
    return spread.text() if spread else "—"


def _speedup(row: CorpusTiming, baseline: str, contestant: str = HEADLINE) -> Spread | None:
    """Per repetition, ``baseline``'s time ÷ ``contestant``'s."""
    if baseline not in row.seconds or contestant not in row.seconds:
        return None
    pairs = zip(row.seconds[baseline], row.seconds[contestant], strict=True)
    return Spread.of([theirs / ours for theirs, ours in pairs])


def _ratio_row(row: CorpusTiming) -> list[str]:
    cells = [row.kind]
    for baseline in _BASELINES:
        spread = _speedup(row, baseline)
        cells.append(f"{spread.text(1)}×" if spread else "—")
    parse_file = _speedup(row, "astropy open", "fitsflow parse_file")
    cells.append(f"{parse_file.text(1)}×" if parse_file else "—")
    floor = _speedup(row, HEADLINE, "floor")
    cells.append(f"{floor.text(1)}×" if floor else "—")
    return cells


def _verdict(row: CorpusTiming, baseline: str, goal: float) -> str:
    spread = _speedup(row, baseline)
    if spread is None:
        return f"goal ≥ {goal:g}× {baseline}: not measured ({baseline} unavailable)"
    met = "met" if spread.median >= goal else "NOT met"
    return f"goal ≥ {goal:g}× {baseline} ({row.kind}): {spread.median:.1f}× — {met}"


def _agreement_row(kind: str, agreement: Agreement) -> list[str]:
    compared = f"{agreement.cards_compared:,}"
    return [kind, str(len(agreement.agreed)), compared, str(len(agreement.excluded))]


def _corpus_data(row: CorpusTiming) -> dict[str, Any]:
    data: dict[str, Any] = {"corpus": row.kind, "files": row.files, "bytes": row.bytes}
    data["seconds"] = row.seconds
    data["files_per_second"] = {
        name: spread.median for name in row.seconds if (spread := _files_per_second(row, name))
    }
    data["speedup"] = {
        name: spread.median for name in _BASELINES if (spread := _speedup(row, name)) is not None
    }
    if (floor := _speedup(row, HEADLINE, "floor")) is not None:
        data["time_over_floor"] = floor.median
    return data
