"""``fitsflow scan ROOT``: enqueue everything under ROOT not yet recorded, as one batch.

The walk, the admission and the batch are :class:`pipeline.backfill.Backfill`'s
(``POST /scan`` runs the same). This command talks to the database and the
broker directly, so it works from any host that reaches them. With a
``memory://`` broker the jobs are committed only, and the ``fitsflow run``
process on the same database sends them (see :mod:`pipeline.cli.operator`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from pipeline.backfill import Backfill, BackfillResult
from pipeline.cli.batch_follow import (
    DEFAULT_INTERVAL_SECONDS,
    describe,
    follow_batch,
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
from pipeline.cli.operator import BrokerUrlOption, catalogue, queue_note, sender_for
from pipeline.settings import Settings

__all__ = ["scan"]

NoWaitOption = Annotated[
    bool, typer.Option("--no-wait", help="Enqueue, print the batch id and return.")
]
IntervalOption = Annotated[
    float, typer.Option("--interval", min=0.05, help="Seconds between progress reads.")
]


@reports_errors
def scan(
    root: Annotated[Path, typer.Argument(help="Directory to scan.", exists=True, file_okay=False)],
    database_url: DatabaseUrlOption = None,
    broker_url: BrokerUrlOption = None,
    config: ConfigOption = None,
    no_wait: NoWaitOption = False,
    json_output: JsonOption = False,
    interval: IntervalOption = DEFAULT_INTERVAL_SECONDS,
) -> None:
    """Enqueue every file under ROOT that is not yet recorded, as one batch.

    "Not yet recorded": no current product with the same path, size and mtime,
    and no unfinished job for it. Shows the batch's progress until it is done
    (a live bar on a terminal; JSON lines with --json), or only enqueues with
    --no-wait. Exit status 0 once every job ended, failed ones included.
    """
    settings = load(config, database_url, broker={"url": broker_url})
    note = queue_note(settings)
    if note is not None:
        err_console.print(f"[yellow]note:[/] {note}", markup=True, highlight=False)
    asyncio.run(_scan(settings, root, not no_wait, json_output, interval))


async def _scan(
    settings: Settings, root: Path, wait: bool, json_output: bool, interval: float
) -> None:
    say = _Say(json_output)
    async with catalogue(settings) as database:
        backfill = Backfill(database, sender_for(settings), settings.files, settings.watch.roots)
        batch_id = await backfill.open_batch(root.resolve())
        walking = asyncio.ensure_future(backfill.run(batch_id, root))
        if not wait:
            say.report(await walking)
            progress = await read_batch(database, batch_id)
            if json_output:
                print_json(progress.model_dump(mode="json"))
            else:
                typer.echo(batch_id)
            return
        final = await follow_batch(
            database,
            batch_id,
            json_lines=json_output,
            bar=err_console.is_terminal,
            interval=interval,
            admitting=walking,
        )
        say.report(walking.result())
        say(f"batch {batch_id} done: {describe(final)}")


class _Say:
    """Lines for people: standard output, or standard error when it carries JSON."""

    def __init__(self, json_output: bool) -> None:
        self.json_output = json_output

    def __call__(self, line: str) -> None:
        typer.echo(line, err=self.json_output)

    def report(self, result: BackfillResult) -> None:
        self(
            f"scan of {result.root}: {result.found} files found, {result.admitted} enqueued as "
            f"batch {result.batch_id}, {result.already_recorded} already recorded or queued, "
            f"{result.refused} refused"
        )
