"""The ``fitsflow`` command imports a sub-command's module only when it runs.

An operator's ``fitsflow status`` must not pay for astropy, Alembic or FastAPI;
help and "did you mean" must still know every command.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from pipeline.cli.lazy import LazyCommand, LazyGroup

#: Modules that only some commands need, and that cost the most to import.
HEAVY = ("astropy", "numpy", "alembic", "sqlalchemy", "fastapi", "dramatiq")


def _modules_after(args: list[str]) -> dict[str, object]:
    """Run ``fitsflow ARGS`` in a fresh interpreter; its exit code and the
    heavy packages it had imported by the end."""
    script = f"""
import json, sys
from pipeline.cli.app import app
try:
    app({args!r})
except SystemExit as end:
    code = end.code
heavy = sorted(name for name in {HEAVY!r} if name in sys.modules)
cli = sorted(name for name in sys.modules if name.startswith("pipeline.cli."))
print(json.dumps({{"code": code, "heavy": heavy, "cli": cli}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def test_version_imports_no_command() -> None:
    seen = _modules_after(["--version"])
    assert seen["code"] == 0
    assert seen["heavy"] == []
    assert not [m for m in seen["cli"] if m.endswith("_cmd")]  # type: ignore[union-attr]


def test_status_imports_its_module_and_none_of_the_heavy_ones() -> None:
    seen = _modules_after(["status", "--help"])
    assert seen["code"] == 0
    assert seen["heavy"] == []
    commands = [m for m in seen["cli"] if m.endswith("_cmd")]  # type: ignore[union-attr]
    assert commands == ["pipeline.cli.status_cmd"]


def test_help_lists_every_command_in_order() -> None:
    result = CliRunner().invoke(_app(), ["--help"])
    assert result.exit_code == 0
    assert result.output.index("first") < result.output.index("group") < result.output.index("last")
    assert "The first command." in result.output and "A group of one." in result.output


class _Probe(LazyGroup):
    LAZY = (
        LazyCommand("first", f"{__name__}:first"),
        LazyCommand("group", f"{__name__}:group"),
        LazyCommand("last", f"{__name__}:last"),
    )


def first(count: int = 1) -> None:
    """The first command."""
    typer.echo(f"first {count}")


def last() -> None:
    """The last command."""
    typer.echo("last")


group = typer.Typer(help="A group of one.")


@group.command()
def only() -> None:
    """The group's only command."""
    typer.echo("only")


def _app() -> typer.Typer:
    app = typer.Typer(cls=_Probe, add_completion=False)

    @app.callback()
    def _root() -> None:
        """Probe."""

    return app


def test_a_lazy_function_runs_with_its_options() -> None:
    result = CliRunner().invoke(_app(), ["first", "--count", "3"])
    assert (result.exit_code, result.output) == (0, "first 3\n")


def test_a_lazy_typer_of_one_command_stays_a_group() -> None:
    # As add_typer makes it: ``probe group only``, not ``probe group``.
    result = CliRunner().invoke(_app(), ["group", "only"])
    assert (result.exit_code, result.output) == (0, "only\n")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["frist"], "Did you mean 'first'?"),
        (["group", "--help"], "Usage: root group"),  # named after the word, not the module
    ],
)
def test_names_in_messages(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(_app(), args, prog_name="root")
    assert expected in result.output


def test_a_lazy_name_set_again_is_listed_once_in_its_place() -> None:
    command = typer.main.get_command(_app())
    replacement = typer.main.get_command(_one_command())
    command.add_command(replacement, "group")  # type: ignore[attr-defined]
    context = command.make_context("root", ["group"])
    assert command.list_commands(context) == ["first", "group", "last"]  # type: ignore[attr-defined]
    assert command.get_command(context, "group") is replacement  # type: ignore[attr-defined]


def _one_command() -> typer.Typer:
    single = typer.Typer()

    @single.command()
    def replaced() -> None:
        """Set in place of the lazy ``group``."""

    return single
