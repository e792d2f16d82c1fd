"""Compiling fitsflow's SQL (named ``:param`` placeholders) for each driver.

SQL is written once, with ``:name`` placeholders. asyncpg wants ``$1, $2…``
and sqlite3 is given ``?``; both get the parameters as a tuple in the order
the compiler reports. The scanner skips string literals, quoted identifiers,
comments and PostgreSQL ``::`` casts, so a colon inside any of them is left
alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal, NamedTuple

__all__ = ["CompiledSql", "Dialect", "bind", "compile_sql"]

Dialect = Literal["sqlite", "postgresql"]


class CompiledSql(NamedTuple):
    """A statement in a driver's placeholder style and its parameter order."""

    text: str
    names: tuple[str, ...]


def _is_name_start(char: str) -> bool:
    return char.isalpha() or char == "_"


def _is_name_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _skip_quoted(sql: str, start: int, quote: str) -> int:
    """Index just past the literal opened at ``start`` (doubled quotes escape)."""
    i = start + 1
    while i < len(sql):
        if sql[i] == quote:
            if i + 1 < len(sql) and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    raise ValueError(f"unterminated {quote} literal in SQL: {sql!r}")


@lru_cache(maxsize=1024)
def compile_sql(sql: str, dialect: Dialect) -> CompiledSql:
    """Rewrite ``:name`` placeholders of ``sql`` for ``dialect``."""
    out: list[str] = []
    names: list[str] = []
    numbers: dict[str, int] = {}
    i = 0
    length = len(sql)
    while i < length:
        char = sql[i]
        if char in "'\"":
            end = _skip_quoted(sql, i, char)
            out.append(sql[i:end])
            i = end
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = length if end < 0 else end
            out.append(sql[i:end])
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise ValueError(f"unterminated comment in SQL: {sql!r}")
            out.append(sql[i : end + 2])
            i = end + 2
        elif sql.startswith("::", i):
            out.append("::")
            i += 2
        elif char == ":" and i + 1 < length and _is_name_start(sql[i + 1]):
            j = i + 2
            while j < length and _is_name_char(sql[j]):
                j += 1
            name = sql[i + 1 : j]
            if dialect == "postgresql":
                if name not in numbers:
                    names.append(name)
                    numbers[name] = len(names)
                out.append(f"${numbers[name]}")
            else:
                names.append(name)
                out.append("?")
            i = j
        else:
            out.append(char)
            i += 1
    return CompiledSql("".join(out), tuple(names))


def bind(compiled: CompiledSql, params: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """The argument tuple for ``compiled``; KeyError names a missing parameter."""
    if not compiled.names:
        return ()
    if params is None:
        raise KeyError(f"SQL needs parameters {compiled.names} but none were given")
    try:
        return tuple(params[name] for name in compiled.names)
    except KeyError as missing:
        raise KeyError(f"SQL parameter {missing} was not given") from None
