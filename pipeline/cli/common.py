"""What every command shares: settings from flags, error reporting, output."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from pipeline.errors import FitsflowError, ValidationError
from pipeline.jsonutil import dumps
from pipeline.priority import CpuPriority
from pipeline.settings import Settings, load_settings

__all__ = [
    "ConfigOption",
    "DatabaseUrlOption",
    "JsonOption",
    "err_console",
    "load",
    "print_json",
    "reports_errors",
]

P = ParamSpec("P")
R = TypeVar("R")

err_console = Console(stderr=True, highlight=False)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Settings file (TOML). Default: config/fitsflow.toml, or $FITSFLOW_CONFIG.",
        dir_okay=False,
    ),
]
DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="sqlite:///path.db or postgresql://user@host/db (default from settings).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
PriorityOption = Annotated[
    CpuPriority | None,
    typer.Option(
        "--priority",
        help="CPU priority; idle: only when nothing else wants the CPU (Linux SCHED_IDLE), "
        "and one connection to a PostgreSQL on this host, so the status endpoint stays "
        "quick during a backfill (default: worker.priority).",
        show_default=False,
    ),
]


def load(config: Path | None, database_url: str | None = None, **sections: Any) -> Settings:
    """Settings from file and environment, with the command's flags on top."""
    overrides: dict[str, dict[str, Any]] = {"database": {"url": database_url}}
    overrides.update(sections)
    return load_settings(overrides, config_file=config)


def print_json(value: Any) -> None:
    """One JSON document on its own line of standard output."""
    sys.stdout.write(dumps(value) + "\n")
    sys.stdout.flush()


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn fitsflow errors into one clear line and an exit status.

    Exit status 2 for invalid settings or arguments, 1 for anything else.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except FitsflowError as error:
            err_console.print(f"[bold red]fitsflow: {error.code}:[/] {error.message}", markup=True)
            raise typer.Exit(2 if isinstance(error, ValidationError) else 1) from error

    return wrapper
