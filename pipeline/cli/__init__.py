"""The ``fitsflow`` command line."""

from __future__ import annotations

import sys

__all__ = ["INTERRUPTED", "main"]

#: The exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


def main() -> None:
    """Console-script entry point: Ctrl-C ends it quietly from its first instant.

    Importing a command can take a second or two (astropy for ``ingest``,
    Dramatiq for the services; each command's module is imported only when it
    runs, :mod:`pipeline.cli.lazy`); an interrupt then would print a long
    traceback from whichever import it fell in. Once the command runs, Typer
    turns it into exit 130 itself, and the services stop cleanly on their own
    signal handlers.
    """
    try:
        from pipeline.cli.app import app

        app()
    except KeyboardInterrupt:
        print("fitsflow: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
