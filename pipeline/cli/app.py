"""The ``fitsflow`` command: one entry point, a sub-command per task."""

from __future__ import annotations

import typer

from pipeline import __version__
from pipeline.cli.lazy import LazyCommand, LazyGroup
from pipeline.cli.state import set_log_level

__all__ = ["app"]


class _Fitsflow(LazyGroup):
    # In the order ``fitsflow --help`` lists them.
    LAZY = (
        LazyCommand("ingest", "pipeline.cli.ingest_cmd:ingest"),
        LazyCommand("samples", "pipeline.cli.samples_cmd:samples"),
        LazyCommand("status", "pipeline.cli.status_cmd:status"),
        LazyCommand("queues", "pipeline.cli.queues_cmd:queues"),
        LazyCommand("run", "pipeline.cli.services_cmd:run"),
        LazyCommand("watch", "pipeline.cli.services_cmd:watch"),
        LazyCommand("worker", "pipeline.cli.services_cmd:worker"),
        LazyCommand("api", "pipeline.cli.services_cmd:api"),
        LazyCommand("scan", "pipeline.cli.scan_cmd:scan"),
        LazyCommand("db", "pipeline.cli.db_cmd:app"),
        LazyCommand("products", "pipeline.cli.products_cmd:app"),
        LazyCommand("dlq", "pipeline.cli.dlq_cmd:app"),
        LazyCommand("jobs", "pipeline.cli.jobs_cmd:app"),
        LazyCommand("batches", "pipeline.cli.batches_cmd:app"),
    )


app = typer.Typer(
    name="fitsflow",
    cls=_Fitsflow,
    help="Ingest FITS files dropped into watched directories into a queryable catalogue.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fitsflow {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    log_level: str | None = typer.Option(
        None, "--log-level", help="DEBUG, INFO, WARNING, ERROR (default: from settings)."
    ),
) -> None:
    set_log_level(log_level)
