"""``fitsflow ingest PATH…``: read and record files now, without a queue."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from pipeline.cli.common import (
    ConfigOption,
    DatabaseUrlOption,
    JsonOption,
    PriorityOption,
    err_console,
    load,
    print_json,
    reports_errors,
)
from pipeline.db import open_database
from pipeline.db.migrate import ensure_schema
from pipeline.ingest.candidates import Candidate, NamePatterns, candidates
from pipeline.ingest.oneshot import DEFAULT_CONCURRENCY, IngestSummary, ingest_candidates
from pipeline.ingest.service import IngestResult, IngestService
from pipeline.priority import database_at, lower_priority
from pipeline.settings import Settings

__all__ = ["ingest"]


@reports_errors
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and directories to ingest.")],
    database_url: DatabaseUrlOption = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
    concurrency: Annotated[
        int,
        typer.Option(
            min=1, max=256, help="Files in flight at once (read, then recorded together)."
        ),
    ] = DEFAULT_CONCURRENCY,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print every file, not only failures.")
    ] = False,
    priority: PriorityOption = None,
) -> None:
    """Ingest FITS files once: read every header, record one product per file.

    Directories are walked recursively for names matching the include patterns;
    files named directly are always read. Exit status 0 when every file was
    recorded or refused with a reason.
    """
    settings = load(config, database_url, worker={"priority": priority})
    lower_priority(settings.worker.priority)  # before the reader processes start
    ensure_schema(settings.database.url)
    found = list(candidates(paths, NamePatterns(settings.files)))
    summary = asyncio.run(_run(settings, found, paths, json_output, concurrency, verbose))
    if json_output:
        print_json({"summary": summary.to_dict()})
    else:
        _print_summary(summary)
    if not summary.all_accounted:
        raise typer.Exit(1)


async def _run(
    settings: Settings,
    found: Sequence[Candidate],
    paths: Sequence[Path],
    json_output: bool,
    concurrency: int,
    verbose: bool,
) -> IngestSummary:
    # At idle priority, one connection when PostgreSQL shares the host.
    async with open_database(database_at(settings.worker.priority, settings.database)) as database:
        service = IngestService(
            database,
            settings.reader,
            reader_processes=settings.reader.reader_processes(embedded=False),
        )
        try:
            description = "fitsflow ingest " + " ".join(str(p) for p in paths)
            with _ProgressBar(len(found), enabled=sys.stderr.isatty()) as advance:

                def report(result: IngestResult) -> None:
                    advance()
                    if json_output:
                        print_json(result.to_dict())
                    elif verbose or result.status == "failed":
                        _print_result(result)

                return await ingest_candidates(
                    service,
                    found,
                    description=description,
                    concurrency=concurrency,
                    on_result=report,
                )
        finally:
            service.close()


class _ProgressBar:
    """A rich progress bar on a terminal; nothing elsewhere."""

    def __init__(self, total: int, enabled: bool) -> None:
        self._bar: Progress | None = None
        if enabled:
            self._bar = Progress(
                TextColumn("ingesting"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            self._task = self._bar.add_task("files", total=total)

    def __enter__(self) -> Callable[[], None]:
        if self._bar is None:
            return lambda: None
        self._bar.start()
        bar, task = self._bar, self._task
        return lambda: bar.advance(task)

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def _print_result(result: IngestResult) -> None:
    if result.error is not None:
        err_console.print(
            f"[red]failed[/]  {result.path}  [bold]{result.error.code}[/]: {result.error.message}",
            markup=True,
            highlight=False,
        )
    else:
        outcome = result.outcome.value if result.outcome else result.status
        typer.echo(f"{result.status:<9} {result.path}  product {result.product_id} ({outcome})")


def _print_summary(summary: IngestSummary) -> None:
    table = Table(title=f"fitsflow ingest — batch {summary.batch_id}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("files", str(summary.files))
    for status in ("succeeded", "unchanged", "failed"):
        table.add_row(status, str(summary.statuses[status]))
    for code, count in sorted(summary.error_codes.items()):
        table.add_row(f"  {code}", str(count))
    table.add_row("seconds", f"{summary.seconds:.2f}")
    table.add_row("files/s", f"{summary.files_per_second:.1f}")
    Console(highlight=False).print(table)
