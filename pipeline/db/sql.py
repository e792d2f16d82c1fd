"""Compiling fitsflow's SQL (named ``:param`` placeholders) for each driver.

SQL is written once, with ``:name`` placeholders. asyncpg wants ``$1, $2…``
and sqlite3 is given ``?``; both get the parameters as a tuple in the order
the compiler reports. The scanner skips string literals, quoted identifiers,
comments and PostgreSQL ``::`` casts, ``E'...'`` strings and ``$$``/``$tag$``
dollar-quoted bodies, so a colon inside any of them is left alone.
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


def _skip_quoted(sql: str, start: int, quote: str, *, backslashes: bool = False) -> int:
    """Index just past the literal opened at ``start`` (doubled quotes escape).

    ``backslashes``: PostgreSQL ``E'...'`` strings, where ``\\'`` escapes too.
    """
    i = start + 1
    while i < len(sql):
        if backslashes and sql[i] == "\\":
            i += 2
            continue
        if sql[i] == quote:
            if i + 1 < len(sql) and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    raise ValueError(f"unterminated {quote} literal in SQL: {sql!r}")


def _dollar_tag(sql: str, start: int) -> str | None:
    """The ``$$`` or ``$tag$`` opening a dollar-quoted string at ``start``, if any."""
    if start > 0 and (_is_name_char(sql[start - 1]) or sql[start - 1] == "$"):
        return None  # part of an identifier such as ``a$b``
    j = start + 1
    if j < len(sql) and _is_name_start(sql[j]):
        while j < len(sql) and _is_name_char(sql[j]):
            j += 1
    if j < len(sql) and sql[j] == "$":
        return sql[start : j + 1]
    return None  # ``$1`` and a lone ``$`` are not quotes


def _opaque_end(sql: str, i: int, dialect: Dialect) -> int | None:
    """End of the literal, quoted identifier or comment starting at ``i``, if any.

    Nothing inside such a span is a placeholder.
    """
    char = sql[i]
    if char in "'\"":
        escaped = (
            dialect == "postgresql"
            and char == "'"
            and i > 0
            and sql[i - 1] in "eE"
            and (i < 2 or not _is_name_char(sql[i - 2]))
        )
        return _skip_quoted(sql, i, char, backslashes=escaped)
    if sql.startswith("--", i):
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end
    if sql.startswith("/*", i):
        end = sql.find("*/", i + 2)
        if end < 0:
            raise ValueError(f"unterminated comment in SQL: {sql!r}")
        return end + 2
    if char == "$" and dialect == "postgresql":
        tag = _dollar_tag(sql, i)
        if tag is not None:
            end = sql.find(tag, i + len(tag))
            if end < 0:
                raise ValueError(f"unterminated {tag} string in SQL: {sql!r}")
            return end + len(tag)
    return None


@lru_cache(maxsize=1024)
def compile_sql(sql: str, dialect: Dialect) -> CompiledSql:
    """Rewrite ``:name`` placeholders of ``sql`` for ``dialect``."""
    out: list[str] = []
    names: list[str] = []
    numbers: dict[str, int] = {}
    i = 0
    length = len(sql)
    while i < length:
        opaque_end = _opaque_end(sql, i, dialect)
        if opaque_end is not None:
            out.append(sql[i:opaque_end])
            i = opaque_end
        elif sql.startswith("::", i):
            out.append("::")
            i += 2
        elif sql[i] == ":" and i + 1 < length and _is_name_start(sql[i + 1]):
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
            out.append(sql[i])
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
