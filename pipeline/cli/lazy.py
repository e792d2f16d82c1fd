"""Sub-commands imported only when they are run (or listed by ``--help``).

Importing every command module costs one to two seconds (astropy and numpy for
``ingest`` and ``samples``, Alembic and SQLAlchemy for ``db``, FastAPI for the
services), which every ``fitsflow status`` at a terminal would pay. Click's
documented answer is a group that resolves its sub-commands lazily; this is
that group for Typer: the command table is a mapping whose values are made on
first access, so ``fitsflow status`` imports only ``status_cmd``, while help,
completion and "did you mean" still see every name.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import typer
import typer.core
import typer.main

__all__ = ["LazyCommand", "LazyGroup"]


@dataclass(frozen=True)
class LazyCommand:
    """Where a sub-command lives: ``module:attribute``, a Typer app or a function."""

    name: str
    target: str

    def load(self) -> Any:
        """The click command, built from the imported Typer app or function."""
        module_name, attribute = self.target.split(":")
        obj = getattr(importlib.import_module(module_name), attribute)
        if isinstance(obj, typer.Typer):
            # A group even when it holds one command, as ``add_typer`` makes it.
            command: Any = typer.main.get_group(obj)
        else:
            single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
            single.command(name=self.name)(obj)
            command = typer.main.get_command(single)
        # click names the sub-context (usage lines, error messages) after the
        # command's own name, not the word it was looked up by.
        command.name = self.name
        return command


class _Commands(MutableMapping[str, Any]):
    """A group's command table: eager entries as given, lazy ones built on access."""

    def __init__(self, eager: Mapping[str, Any], lazy: tuple[LazyCommand, ...]) -> None:
        self._loaded: dict[str, Any] = dict(eager)
        self._pending = {entry.name: entry for entry in lazy if entry.name not in eager}
        self._order = [*eager, *self._pending]

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            entry = self._pending.pop(name)  # KeyError for an unknown name, as a dict
            self._loaded[name] = entry.load()
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        if name not in self:  # a name already listed (loaded or not) keeps its place
            self._order.append(name)
        self._pending.pop(name, None)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._loaded and name not in self._pending:
            raise KeyError(name)
        self._loaded.pop(name, None)
        self._pending.pop(name, None)
        self._order.remove(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in self._pending


class LazyGroup(typer.core.TyperGroup):
    """A Typer group whose :attr:`LAZY` sub-commands are imported when used.

    Subclass it with ``LAZY`` set and pass it as ``typer.Typer(cls=...)``.
    """

    LAZY: tuple[LazyCommand, ...] = ()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = _Commands(self.commands, self.LAZY)
