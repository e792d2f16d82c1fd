"""The ``fitsflow`` command: one entry point, a sub-command per task."""

from __future__ import annotations

import typer

from pipeline import __version__
from pipeline.cli import db_cmd
from pipeline.cli.ingest_cmd import ingest
from pipeline.cli.samples_cmd import samples
from pipeline.logs import configure_logging

__all__ = ["app", "main"]

app = typer.Typer(
    name="fitsflow",
    help="Ingest FITS files dropped into watched directories into a queryable catalogue.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db_cmd.app, name="db")
app.command(name="ingest")(ingest)
app.command(name="samples")(samples)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fitsflow {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    log_level: str = typer.Option("WARNING", "--log-level", help="DEBUG, INFO, WARNING, ERROR."),
) -> None:
    configure_logging(log_level)


def main() -> None:
    """Console-script entry point."""
    app()
