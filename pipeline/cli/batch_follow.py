"""Following a batch until it is done: a live progress bar, or JSON lines.

``fitsflow scan``, ``fitsflow batches watch`` and ``fitsflow jobs retry
--wait`` poll the batch's progress (the document of ``GET /batches/{id}``)
until the batch is closed and none of its jobs remains. On a terminal a rich
progress bar shows it; with ``--json`` each changed snapshot is printed as
one JSON line, the last one being the finished batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.api.jobs_views import batch_document
from pipeline.api.schemas import BatchProgress
from pipeline.cli.common import err_console, print_json
from pipeline.clock import utc_now
from pipeline.db import Database

__all__ = ["DEFAULT_INTERVAL_SECONDS", "describe", "follow_batch", "is_complete", "read_batch"]

#: How often the batch is read while following it.
DEFAULT_INTERVAL_SECONDS = 0.5


def is_complete(progress: BatchProgress) -> bool:
    """Every job of the batch was admitted, and every one has finished."""
    return progress.closed and progress.remaining == 0


def describe(progress: BatchProgress) -> str:
    """One line for people: counts, pace and what is left."""
    counts = progress.counts
    parts = [
        f"{counts.succeeded} succeeded",
        f"{counts.failed} failed",
        f"{counts.running} running",
        f"{counts.queued + counts.retrying} waiting",
    ]
    if not progress.closed:
        parts.append("still admitting")
    elif not is_complete(progress):
        parts.append(f"{progress.rate_per_second:.1f}/s")
        eta = progress.eta_seconds
        parts.append("ETA ?" if eta is None else f"ETA {eta:.0f} s")
    return " · ".join(parts)


async def read_batch(database: Database, batch_id: int) -> BatchProgress:
    """Batch ``batch_id``'s progress now (NotFound if there is none)."""
    async with database.transaction(write=False) as tx:
        return await batch_document(tx, batch_id, utc_now())


def _compact(progress: BatchProgress) -> str:
    """:func:`describe` short enough to leave the bar room on an 80-column terminal."""
    counts = progress.counts
    text = f"✓{counts.succeeded} ✗{counts.failed} ▶{counts.running}"
    if not progress.closed:
        return text + " admitting…"
    if is_complete(progress):
        return text
    eta = "?" if progress.eta_seconds is None else f"{progress.eta_seconds:.0f}s"
    return f"{text} {progress.rate_per_second:.1f}/s ETA {eta}"


def _changed(before: BatchProgress | None, now: BatchProgress) -> bool:
    if before is None:
        return True
    keys = ("total", "closed", "counts", "finished_at")
    return any(getattr(before, key) != getattr(now, key) for key in keys)


async def follow_batch(
    database: Database,
    batch_id: int,
    *,
    json_lines: bool = False,
    bar: bool = False,
    interval: float = DEFAULT_INTERVAL_SECONDS,
    admitting: Awaitable[Any] | None = None,
) -> BatchProgress:
    """Read batch ``batch_id`` every ``interval`` seconds until it is complete.

    ``admitting``: the task still admitting the batch's jobs (a scan walking
    its root); its failure ends the following with the same error.
    """
    task = asyncio.ensure_future(admitting) if admitting is not None else None
    shown: BatchProgress | None = None
    with _Bar(enabled=bar and not json_lines) as update:
        while True:
            if task is not None and task.done():
                task.result()  # re-raises what stopped the admission
            progress = await read_batch(database, batch_id)
            if json_lines and _changed(shown, progress):
                print_json(progress.model_dump(mode="json"))
            shown = progress
            update(progress)
            if is_complete(progress):
                break
            await asyncio.sleep(interval)
    if task is not None:
        await task
    return progress


class _Bar:
    """A rich progress bar on standard error; nothing when disabled."""

    def __init__(self, enabled: bool) -> None:
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=err_console,
            )
            self._task = self._progress.add_task("batch", total=None, detail="")

    def __enter__(self) -> _Bar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __call__(self, progress: BatchProgress) -> None:
        if self._progress is None:
            return
        self._progress.update(
            self._task,
            description=f"batch {progress.id}",
            total=progress.total if progress.closed else None,
            completed=progress.done,
            detail=_compact(progress),
        )

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()
