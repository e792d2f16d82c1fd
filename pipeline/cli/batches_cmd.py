"""``fitsflow batches list|show|watch``: batches and their progress, from the database.

The documents are the API's (``GET /batches``, ``GET /batches/{id}``), built by
:mod:`pipeline.api.jobs_views`; ``--json`` prints them, people get tables and
a live progress bar.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipeline.api.jobs_views import batch_page
from pipeline.api.schemas import BatchProgress
from pipeline.api.schemas_jobs import BatchPage
from pipeline.cli.batch_follow import (
    DEFAULT_INTERVAL_SECONDS,
    describe,
    follow_batch,
    is_complete,
    read_batch,
)
from pipeline.cli.common import (
    ConfigOption,
    DatabaseUrlOption,
    JsonOption,
    err_console,
    load,
    print_json,
    reports_errors,
)
from pipeline.cli.operator import catalogue, parse_cursor
from pipeline.clock import utc_now
from pipeline.settings import Settings

__all__ = ["app"]

app = typer.Typer(help="Batches (scans, bulk retries, ingests) and their progress.")

BatchIdArgument = Annotated[int, typer.Argument(min=1, help="The batch's id.")]


@app.command(name="list")
@reports_errors
def list_batches(
    limit: Annotated[int, typer.Option(min=1, max=200, help="Batches per page.")] = 20,
    cursor: Annotated[str | None, typer.Option(help="`next_cursor` of the last page.")] = None,
    database_url: DatabaseUrlOption = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """Batches, newest first, with their progress."""
    settings = load(config, database_url)
    page = asyncio.run(_page(settings, parse_cursor(cursor), limit))
    if json_output:
        print_json(page.model_dump(mode="json"))
        return
    _print_page(page)


async def _page(settings: Settings, before_id: int | None, limit: int) -> BatchPage:
    async with catalogue(settings) as database, database.transaction(write=False) as tx:
        return await batch_page(tx, before_id, limit, utc_now())


@app.command()
@reports_errors
def show(
    batch_id: BatchIdArgument,
    database_url: DatabaseUrlOption = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """One batch's progress now."""
    settings = load(config, database_url)
    progress = asyncio.run(_show(settings, batch_id))
    if json_output:
        print_json(progress.model_dump(mode="json"))
        return
    _print_page(BatchPage(batches=[progress], next_cursor=None))


async def _show(settings: Settings, batch_id: int) -> BatchProgress:
    async with catalogue(settings) as database:
        return await read_batch(database, batch_id)


@app.command()
@reports_errors
def watch(
    batch_id: BatchIdArgument,
    interval: Annotated[
        float, typer.Option(min=0.05, help="Seconds between progress reads.")
    ] = DEFAULT_INTERVAL_SECONDS,
    database_url: DatabaseUrlOption = None,
    config: ConfigOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print each changed snapshot as a JSON line.")
    ] = False,
) -> None:
    """Follow a batch until it is done: a live progress bar, or JSON lines."""
    settings = load(config, database_url)
    final = asyncio.run(_watch(settings, batch_id, json_output, interval))
    if not json_output:
        typer.echo(f"batch {batch_id} done: {describe(final)}")


async def _watch(
    settings: Settings, batch_id: int, json_output: bool, interval: float
) -> BatchProgress:
    async with catalogue(settings) as database:
        return await follow_batch(
            database,
            batch_id,
            json_lines=json_output,
            bar=err_console.is_terminal,
            interval=interval,
        )


def _state(progress: BatchProgress) -> str:
    if is_complete(progress):
        return "done"
    return "running" if progress.closed else "admitting"


def _print_page(page: BatchPage) -> None:
    table = Table(title="batches")
    for column in ("id", "kind", "state", "total", "done", "failed", "rate/s", "ETA s"):
        table.add_column(column, justify="left" if column in ("kind", "state") else "right")
    table.add_column("description")
    for batch in page.batches:
        eta = "" if batch.eta_seconds is None else f"{batch.eta_seconds:.0f}"
        table.add_row(
            str(batch.id),
            batch.kind,
            _state(batch),
            str(batch.total),
            str(batch.done),
            str(batch.counts.failed),
            f"{batch.rate_per_second:.1f}",
            eta,
            batch.description or "",
        )
    Console(highlight=False).print(table)
    if page.next_cursor:
        typer.echo(f"more: --cursor {page.next_cursor}")
