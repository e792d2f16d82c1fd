"""``fitsflow dlq list|requeue|purge``: the dead-letter queue, from any host.

The same documents and the same functions as ``GET /dlq``,
``POST /dlq/requeue`` and ``POST /dlq/purge``
(:mod:`pipeline.api.deadletters`), on the database and the broker directly.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from pydantic import ValidationError as PydanticValidationError
from rich.console import Console
from rich.table import Table

from pipeline.api.deadletters import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    dead_letter_page,
    purge_dead_letters,
    requeue_dead_letters,
)
from pipeline.api.queue_schemas import (
    DeadLetterPage,
    DeadLetterSelection,
    PurgeResult,
    RequeueResult,
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
from pipeline.cli.queues_cmd import BrokerUrlOption, connected
from pipeline.errors import ValidationError
from pipeline.settings import Settings

__all__ = ["app"]

app = typer.Typer(help="Dead letters: list, requeue or purge them.", no_args_is_help=True)

#: How many of a bundle's job ids a line names.
BUNDLE_IDS_SHOWN = 5

IdsArgument = Annotated[
    list[str] | None,
    typer.Argument(help="Message ids from `fitsflow dlq list`.", show_default=False),
]
AllOption = Annotated[bool, typer.Option("--all", help="Every dead letter there is now.")]


def _selection(message_ids: list[str] | None, every: bool) -> DeadLetterSelection:
    """The request body the API would take; a usage error unless exactly one is given."""
    try:
        return DeadLetterSelection(message_ids=message_ids or None, all=every)
    except PydanticValidationError as error:
        raise ValidationError(
            "give message ids or --all (not both)", details={"arguments": ["ids", "--all"]}
        ) from error


@app.command(name="list")
@reports_errors
def list_letters(
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, typer.Option(help="`next_cursor` of the last page.")] = None,
    database_url: DatabaseUrlOption = None,
    broker_url: BrokerUrlOption = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """List dead letters with their job, path, error and attempts, in the order they died."""
    settings = load(config, database_url, broker={"url": broker_url})
    page = asyncio.run(_page(settings, limit, cursor))
    if json_output:
        print_json(page.model_dump(mode="json"))
    else:
        _print_page(page)
    if page.broker_error is not None:
        if not json_output:
            err_console.print(f"fitsflow: {page.broker_error.error}: {page.broker_error.message}")
        raise typer.Exit(1)


async def _page(settings: Settings, limit: int, cursor: str | None) -> DeadLetterPage:
    async with connected(settings) as (database, broker):
        return await dead_letter_page(database, broker, limit, cursor)


@app.command()
@reports_errors
def requeue(
    message_ids: IdsArgument = None,
    every: AllOption = False,
    database_url: DatabaseUrlOption = None,
    broker_url: BrokerUrlOption = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """Send dead letters again as fresh messages; their failed jobs go back to queued."""
    selection = _selection(message_ids, every)
    settings = load(config, database_url, broker={"url": broker_url})
    result = asyncio.run(_requeue(settings, selection))
    if json_output:
        print_json(result.model_dump(mode="json"))
        return
    for item in result.requeued:
        if item.job_id is None:
            job = _bundle(item.job_ids)
        else:
            job = f"job {item.job_id}: {item.job_state.value if item.job_state else 'no job'}"
        typer.echo(f"requeued {item.message_id} as {item.new_message_id} ({job})")
    _print_missing(result.not_found)
    typer.echo(f"{len(result.requeued)} requeued")


async def _requeue(settings: Settings, selection: DeadLetterSelection) -> RequeueResult:
    async with connected(settings) as (database, broker):
        return await requeue_dead_letters(database, broker, selection)


@app.command()
@reports_errors
def purge(
    message_ids: IdsArgument = None,
    every: AllOption = False,
    database_url: DatabaseUrlOption = None,
    broker_url: BrokerUrlOption = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """Delete dead letters; their jobs stay failed with their reason."""
    selection = _selection(message_ids, every)
    settings = load(config, database_url, broker={"url": broker_url})
    result = asyncio.run(_purge(settings, selection))
    if json_output:
        print_json(result.model_dump(mode="json"))
        return
    for item in result.purged:
        job = f"job {item.job_id}" if item.job_id is not None else _bundle(item.job_ids)
        typer.echo(f"purged {item.message_id} ({job})")
    _print_missing(result.not_found)
    typer.echo(f"{len(result.purged)} purged")


async def _purge(settings: Settings, selection: DeadLetterSelection) -> PurgeResult:
    async with connected(settings) as (_, broker):
        return await purge_dead_letters(broker, selection)


def _bundle(job_ids: list[int]) -> str:
    """A bundle's jobs, the first few named (``fitsflow jobs show`` tells each)."""
    if not job_ids:
        return "no job"
    shown = ", ".join(str(job_id) for job_id in job_ids[:BUNDLE_IDS_SHOWN])
    more = ", …" if len(job_ids) > BUNDLE_IDS_SHOWN else ""
    return f"bundle of {len(job_ids)} jobs: {shown}{more}"


def _print_missing(not_found: list[str]) -> None:
    for message_id in not_found:
        err_console.print(f"not a dead letter (now): {message_id}")


def _print_page(page: DeadLetterPage) -> None:
    console = Console(highlight=False)
    if page.dead_letters is None:
        return
    if not page.dead_letters:
        console.print(f"no dead letters in {page.queue or 'the queue'}")
        return
    table = Table(title=f"dead letters ({page.queue})")
    for column in ("message id", "job", "path", "error", "attempts", "died at"):
        table.add_column(column)
    for letter in page.dead_letters:
        error = f"{letter.error_code}: {letter.error_message}" if letter.error_code else "-"
        died = letter.died_at.isoformat(timespec="seconds") if letter.died_at else "?"
        if letter.job_id is None:
            job = _bundle(letter.job_ids) if letter.job_ids else "-"
        else:
            state = f" ({letter.job_state.value})" if letter.job_state else ""
            job = f"{letter.job_id}{state}"
        attempts = str(letter.attempts) if letter.attempts is not None else "-"
        table.add_row(letter.message_id, job, letter.path or "-", error, attempts, died)
    console.print(table)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")
