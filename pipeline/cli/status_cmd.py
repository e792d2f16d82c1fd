"""``fitsflow status``: the pipeline at a glance, read from the database directly.

The same document as the API's ``GET /summary`` (one function builds both,
:func:`pipeline.api.summary.build_summary`), so it works while no API runs.
``--json`` prints it for scripts; people get tables. The ``database`` part is
the pool of this command's own short-lived connection, not the server's.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipeline.api.probe import probe_for
from pipeline.api.schemas import Summary
from pipeline.api.summary import build_summary
from pipeline.cli.common import (
    ConfigOption,
    DatabaseUrlOption,
    JsonOption,
    load,
    print_json,
    reports_errors,
)
from pipeline.db import Database, open_database
from pipeline.errors import DatabaseError, NotFound
from pipeline.settings import Settings

__all__ = ["status"]

BrokerUrlOption = Annotated[
    str | None,
    typer.Option("--broker-url", help="redis://, amqp:// or memory:// (default from settings)."),
]


@reports_errors
def status(
    database_url: DatabaseUrlOption = None,
    broker_url: BrokerUrlOption = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show jobs per state, products, queue depths and failures by error code."""
    settings = load(config, database_url, broker={"url": broker_url})
    summary = asyncio.run(_summary(settings))
    if json_output:
        print_json(summary.model_dump(mode="json"))
    else:
        _print(summary, settings)


async def _summary(settings: Settings) -> Summary:
    url = settings.database.url
    if url.startswith("sqlite:///"):
        from pipeline.db.sqlite import sqlite_path

        # Opening a SQLite file that is not there would create an empty one.
        location = sqlite_path(url)
        if not location.is_file():
            raise NotFound(f"no database at {location}", details={"setting": "database.url"})
    database = open_database(settings.database)
    async with database:
        await _require_schema(database)
        return await build_summary(database, probe_for(settings.broker))


async def _require_schema(database: Database) -> None:
    """Say what to do when the database was never migrated, not "no such table"."""
    try:
        await database.fetch_value("SELECT version_num FROM alembic_version")
    except DatabaseError as error:
        # The URL is not repeated: it may carry a password.
        raise DatabaseError(
            "the database holds no fitsflow catalogue; run `fitsflow db upgrade` first"
        ) from error


def _print(summary: Summary, settings: Settings) -> None:
    console = Console(highlight=False)
    jobs = Table(title="jobs")
    jobs.add_column("state")
    jobs.add_column("jobs", justify="right")
    for state, count in summary.jobs.model_dump().items():
        jobs.add_row(state, str(count))
    console.print(jobs)
    console.print(f"products: {summary.products}")
    if summary.failures_by_code:
        failures = Table(title="failures by code")
        failures.add_column("error code")
        failures.add_column("jobs", justify="right")
        for code, count in summary.failures_by_code.items():
            failures.add_row(code, str(count))
        console.print(failures)
    _print_queues(console, summary, settings)


def _print_queues(console: Console, summary: Summary, settings: Settings) -> None:
    if summary.queues is None:
        error = summary.broker_error
        console.print(f"queues: unknown ({error.error}: {error.message})" if error else "")
        return
    if not summary.queues:
        if settings.broker.in_process:
            # The embedded mode's queue lives inside `fitsflow run`; this
            # process can only point at the endpoint that sees it.
            api = f"http://{settings.api.host}:{settings.api.port}/summary"
            console.print(f"queues: in-process (memory://), seen only by `fitsflow run`: {api}")
        else:
            console.print("queues: this broker reports no depths")
        return
    queues = Table(title="queues")
    for column in ("queue", "ready", "delayed", "in flight", "dead"):
        queues.add_column(column, justify="left" if column == "queue" else "right")
    for name, depth in sorted(summary.queues.items()):
        cells = (depth.ready, depth.delayed, depth.in_flight, depth.dead)
        queues.add_row(name, *("?" if cell is None else str(cell) for cell in cells))
    console.print(queues)
