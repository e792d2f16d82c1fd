"""The ``fitsflow`` command: one entry point, a sub-command per task."""

from __future__ import annotations

import typer

from pipeline import __version__
from pipeline.cli import batches_cmd, db_cmd, jobs_cmd
from pipeline.cli.dlq_cmd import app as dlq_app
from pipeline.cli.ingest_cmd import ingest
from pipeline.cli.products_cmd import app as products_app
from pipeline.cli.queues_cmd import queues
from pipeline.cli.samples_cmd import samples
from pipeline.cli.scan_cmd import scan
from pipeline.cli.services_cmd import api, run, watch, worker
from pipeline.cli.state import set_log_level
from pipeline.cli.status_cmd import status

__all__ = ["app"]

app = typer.Typer(
    name="fitsflow",
    help="Ingest FITS files dropped into watched directories into a queryable catalogue.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db_cmd.app, name="db")
app.add_typer(products_app, name="products")
app.command(name="ingest")(ingest)
app.command(name="samples")(samples)
app.command(name="status")(status)
app.command(name="queues")(queues)
app.add_typer(dlq_app, name="dlq")
app.command(name="run")(run)
app.command(name="watch")(watch)
app.command(name="worker")(worker)
app.command(name="api")(api)
app.add_typer(jobs_cmd.app, name="jobs")
app.add_typer(batches_cmd.app, name="batches")
app.command(name="scan")(scan)


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
