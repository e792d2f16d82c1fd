"""``fitsflow queues``: the broker's queues and the worker processes, from any host.

The same document as ``GET /queues`` (:func:`pipeline.api.queues.build_queues`
builds both), read from the database and the broker directly, so it works
with no API running. ``--json`` prints it for scripts; people get tables.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipeline.api.probe import BrokerProbe, probe_for
from pipeline.api.queue_schemas import QueueFigures, Queues, Worker
from pipeline.api.queues import build_queues
from pipeline.cli.common import (
    ConfigOption,
    DatabaseUrlOption,
    JsonOption,
    load,
    print_json,
    reports_errors,
)
from pipeline.cli.operator import catalogue
from pipeline.db import Database
from pipeline.settings import Settings

__all__ = ["BrokerUrlOption", "connected", "queues"]

BrokerUrlOption = Annotated[
    str | None,
    typer.Option("--broker-url", help="redis://, amqp:// or memory:// (default from settings)."),
]


@contextlib.asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[tuple[Database, BrokerProbe]]:
    """The catalogue database (which must exist and be migrated) and the broker."""
    async with catalogue(settings) as database:
        yield database, probe_for(settings.broker)


@reports_errors
def queues(
    database_url: DatabaseUrlOption = None,
    broker_url: BrokerUrlOption = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show each queue (ready, delayed, in flight, dead, oldest wait) and the workers."""
    settings = load(config, database_url, broker={"url": broker_url})
    document = asyncio.run(_queues(settings))
    if json_output:
        print_json(document.model_dump(mode="json"))
    else:
        print_queues(document)


async def _queues(settings: Settings) -> Queues:
    async with connected(settings) as (database, broker):
        return await build_queues(database, broker, settings.broker.url)


def _cell(value: int | float | None, unit: str = "") -> str:
    if value is None:
        return "?"
    return f"{value:.1f}{unit}" if isinstance(value, float) else str(value)


def print_queues(document: Queues) -> None:
    """The document as tables: queues (with why a figure is unknown), jobs, workers."""
    console = Console(highlight=False)
    if document.queues is None:
        error = document.broker_error
        reason = f"{error.error}: {error.message}" if error else "unknown"
        console.print(f"queues ({document.broker}): unknown ({reason})")
    else:
        _print_figures(console, document.broker, document.queues)
    jobs = document.jobs
    console.print(f"jobs: {jobs.queued} queued, {jobs.running} running, {jobs.retrying} retrying")
    print_workers(console, document.workers)


def _print_figures(console: Console, broker: str, figures: list[QueueFigures]) -> None:
    table = Table(
        title=f"queues ({broker})",
        # A burst's files travel several to a message (broker.bundle_size):
        # the broker counts messages, the jobs line below counts files.
        caption="messages; a burst's files travel several to a message (jobs: files)",
    )
    for column in ("queue", "ready", "delayed", "in flight", "dead", "oldest wait"):
        table.add_column(column, justify="left" if column == "queue" else "right")
    notes: list[str] = []
    for queue in figures:
        cells = (queue.ready, queue.delayed, queue.in_flight, queue.dead)
        age = _cell(queue.oldest_ready_age_seconds, " s") if queue.ready else "-"
        table.add_row(queue.name, *(_cell(cell) for cell in cells), age)
        notes += [f"? {figure}: {why}" for figure, why in queue.unknown.items()]
    console.print(table)
    for note in notes:
        console.print(note)


def print_workers(console: Console, workers: list[Worker]) -> None:
    """One row per worker process, with the jobs it is running."""
    if not workers:
        console.print("workers: none has reported a heartbeat")
        return
    table = Table(title="workers")
    for column in ("worker", "alive", "threads", "queues", "last heartbeat", "processing"):
        table.add_column(column)
    for worker in workers:
        processing = "\n".join(f"job {job.job_id} {job.path}" for job in worker.processing)
        table.add_row(
            worker.id,
            "yes" if worker.alive else "NO",
            str(worker.threads),
            ", ".join(worker.queues),
            f"{worker.seconds_since_heartbeat:.1f} s ago",
            processing or "-",
        )
    console.print(table)
