"""``fitsflow jobs list|show|failures|history|retry``: jobs, read and retried from the database.

Each view prints the API's document with ``--json`` (built by
:mod:`pipeline.api.jobs_views`, as ``GET /jobs``, ``/jobs/{id}``,
``/failures`` and ``/files/history`` build theirs) and a table otherwise.
Retries go through :class:`pipeline.retry.Retrier`, as ``POST /jobs/…/retry``
does, straight to the database and the broker: no API is needed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from pipeline.api.jobs_views import (
    DEFAULT_EXAMPLES,
    failure_report,
    file_history,
    job_document,
    job_page,
)
from pipeline.cli import jobs_tables
from pipeline.cli.batch_follow import describe, follow_batch, read_batch
from pipeline.cli.common import (
    ConfigOption,
    DatabaseUrlOption,
    JsonOption,
    err_console,
    load,
    print_json,
    reports_errors,
)
from pipeline.cli.operator import (
    BrokerUrlOption,
    absolute_prefix,
    catalogue,
    parse_cursor,
    parse_time,
    queue_note,
    sender_for,
)
from pipeline.db import Connection
from pipeline.errors import ValidationError
from pipeline.models import JobState
from pipeline.repositories.status import JobQuery
from pipeline.retry import Retrier, RetrySelection
from pipeline.settings import Settings

__all__ = ["app"]

T = TypeVar("T")

app = typer.Typer(help="Jobs: list, show, failures by code, a file's history, retry.")

TimeOption = Annotated[str | None, typer.Option(help="ISO 8601 time (UTC when no offset).")]
PrefixOption = Annotated[str | None, typer.Option("--path-prefix", help="Paths starting so.")]


def _read(settings: Settings, view: Callable[[Connection], Awaitable[T]]) -> T:
    """Run ``view(tx)`` in one read block on the catalogue."""

    async def run() -> T:
        async with catalogue(settings) as database, database.transaction(write=False) as tx:
            return await view(tx)

    return asyncio.run(run())


@app.command(name="list")
@reports_errors
def list_jobs(
    state: Annotated[JobState | None, typer.Option(help="Only jobs in this state.")] = None,
    code: Annotated[str | None, typer.Option("--code", help="Only this error code.")] = None,
    path: Annotated[str | None, typer.Option(help="Only jobs of this path.")] = None,
    path_prefix: PrefixOption = None,
    batch: Annotated[int | None, typer.Option(min=1, help="Only this batch.")] = None,
    created_after: TimeOption = None,
    created_before: TimeOption = None,
    finished_after: TimeOption = None,
    finished_before: TimeOption = None,
    unresolved: Annotated[
        bool, typer.Option(help="Only failed jobs still the newest of their path.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Jobs per page.")] = 100,
    cursor: Annotated[str | None, typer.Option(help="`next_cursor` of the last page.")] = None,
    database_url: DatabaseUrlOption = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """Jobs matching every filter given, newest first (``*-after`` inclusive, ``*-before`` not)."""
    query = JobQuery(
        state=state,
        path=os.path.abspath(path) if path is not None else None,
        path_prefix=absolute_prefix(path_prefix),
        error_code=code,
        batch_id=batch,
        before_id=parse_cursor(cursor),
        created_after=parse_time("--created-after", created_after),
        created_before=parse_time("--created-before", created_before),
        finished_after=parse_time("--finished-after", finished_after),
        finished_before=parse_time("--finished-before", finished_before),
        unresolved=unresolved,
    )
    page = _read(load(config, database_url), lambda tx: job_page(tx, query, limit))
    if json_output:
        print_json(page.model_dump(mode="json"))
    else:
        jobs_tables.print_page(page)


@app.command()
@reports_errors
def show(
    job_id: Annotated[int, typer.Argument(min=1, help="The job's id.")],
    database_url: DatabaseUrlOption = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """One job and every attempt at it."""
    detail = _read(load(config, database_url), lambda tx: job_document(tx, job_id))
    if json_output:
        print_json(detail.model_dump(mode="json"))
    else:
        jobs_tables.print_detail(detail)


@app.command()
@reports_errors
def failures(
    path_prefix: PrefixOption = None,
    finished_after: TimeOption = None,
    finished_before: TimeOption = None,
    examples: Annotated[
        int, typer.Option(min=0, max=20, help="Example jobs per error code.")
    ] = DEFAULT_EXAMPLES,
    database_url: DatabaseUrlOption = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """Failed jobs grouped by error code: how many, how many unresolved, examples."""
    where = JobQuery(
        path_prefix=absolute_prefix(path_prefix),
        finished_after=parse_time("--finished-after", finished_after),
        finished_before=parse_time("--finished-before", finished_before),
    )
    report = _read(load(config, database_url), lambda tx: failure_report(tx, where, examples))
    if json_output:
        print_json(report.model_dump(mode="json"))
    else:
        jobs_tables.print_failures(report)


@app.command()
@reports_errors
def history(
    path: Annotated[str, typer.Argument(help="The file's path.")],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Newest jobs shown.")] = 100,
    database_url: DatabaseUrlOption = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """Every job of a path with its attempts, and every product version recorded there."""
    absolute = os.path.normpath(os.path.abspath(path))
    found = _read(load(config, database_url), lambda tx: file_history(tx, absolute, limit))
    if json_output:
        print_json(found.model_dump(mode="json"))
    else:
        jobs_tables.print_history(found)


@app.command()
@reports_errors
def retry(
    job_id: Annotated[int | None, typer.Argument(min=1, help="The failed job to retry.")] = None,
    code: Annotated[
        str | None, typer.Option("--code", help="Every unresolved failure of this code.")
    ] = None,
    path_prefix: Annotated[
        str | None,
        typer.Option("--path-prefix", help="Every unresolved failure under this prefix."),
    ] = None,
    wait: Annotated[bool, typer.Option(help="Follow a bulk retry until it is done.")] = False,
    database_url: DatabaseUrlOption = None,
    broker_url: BrokerUrlOption = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """Retry one failed job (ID), or every unresolved failure of --code and/or under
    --path-prefix as one batch. A retry is a new job that reads the file as it is now;
    the failed job and its attempts stay in the history."""
    if (job_id is None) == (code is None and path_prefix is None):
        raise ValidationError("give a job ID, or --code and/or --path-prefix (not both kinds)")
    settings = load(config, database_url, broker={"url": broker_url})
    note = queue_note(settings)
    if note is not None:
        err_console.print(f"[yellow]note:[/] {note}", markup=True, highlight=False)
    if job_id is not None:
        asyncio.run(_retry_one(settings, job_id, json_output))
    else:
        selection = RetrySelection(code, absolute_prefix(path_prefix))
        asyncio.run(_retry_many(settings, selection, wait, json_output))


async def _retry_one(settings: Settings, job_id: int, json_output: bool) -> None:
    async with catalogue(settings) as database:
        retrier = Retrier(database, sender_for(settings), settings.watch.roots)
        new_id = await retrier.retry_job(job_id)
        async with database.transaction(write=False) as tx:
            detail = await job_document(tx, new_id)
    if json_output:
        print_json(detail.model_dump(mode="json"))
    else:
        typer.echo(f"job {job_id} retried as job {new_id}")


async def _retry_many(
    settings: Settings, selection: RetrySelection, wait: bool, json_output: bool
) -> None:
    async with catalogue(settings) as database:
        retrier = Retrier(database, sender_for(settings), settings.watch.roots)
        batch_id = await retrier.retry_all(selection)
        if wait:
            bar = err_console.is_terminal
            final = await follow_batch(database, batch_id, json_lines=json_output, bar=bar)
        else:
            final = await read_batch(database, batch_id)
            if json_output:
                print_json(final.model_dump(mode="json"))
    if not json_output:
        typer.echo(f"batch {batch_id}: {final.total} jobs retried ({describe(final)})")
