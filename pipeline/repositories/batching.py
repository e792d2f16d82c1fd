"""Statements over many rows at once, written once for both databases.

A list of values becomes ``:p0, :p1, …`` placeholders in chunks of a fixed
size, padded with NULLs (``x IN (…, NULL)`` never matches the padding), so a
statement compiles to the same text whatever the number of values. On
PostgreSQL a list is one array parameter instead (``= ANY(:p::text[])``,
``unnest``): one short statement, kept prepared, for any number of values.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pipeline.db import Connection, Row

__all__ = ["CHUNK", "ValuesIn", "chunks", "fetch_in", "in_list", "unnest_insert", "values_in"]

#: Values per ``IN (…)`` list: big enough to amortise a round trip, small
#: enough for SQLite's variable limit with room to spare.
CHUNK = 200

T = TypeVar("T")


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in consecutive slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def in_list(name: str, values: Sequence[Any], size: int = CHUNK) -> tuple[str, dict[str, Any]]:
    """``(":name0, …", params)`` for at most ``size`` values, padded to ``size``."""
    if len(values) > size:
        raise ValueError(f"{len(values)} values do not fit one list of {size}")
    keys, placeholders = _placeholders(name, size)
    params = dict(zip(keys, values, strict=False))  # the first len(values) keys
    params.update(dict.fromkeys(keys[len(values) :]))  # the padding: NULLs
    return placeholders, params


@functools.cache
def _placeholders(name: str, size: int) -> tuple[tuple[str, ...], str]:
    """The parameter names of a list and its ``:name0, …`` text (made once: every
    admission and every commit builds lists of these)."""
    keys = tuple(f"{name}{index}" for index in range(size))
    return keys, ", ".join(f":{key}" for key in keys)


def unnest_insert(
    table: str, columns: Mapping[str, str], fixed: Mapping[str, str] | None = None
) -> str:
    """PostgreSQL's ``INSERT INTO table (…) SELECT * FROM unnest(…)``: one row
    per position of the arrays ``:name`` (a column of ``columns``, name →
    PostgreSQL type); ``fixed`` columns take an SQL expression (a constant, a
    shared parameter) for every row. The arrays form of a :class:`ManyRows`.

    Written short (no column aliases, ``SELECT *``): asyncpg keeps a
    statement prepared only up to ``KEPT_STATEMENT_MAX_CHARS``.
    """
    fixed = fixed or {}
    arrays = ", ".join(f":{name}::{kind}[]" for name, kind in columns.items())
    selected = ", ".join(["*", *fixed.values()])
    return (
        f"INSERT INTO {table} ({', '.join([*columns, *fixed])})"
        f" SELECT {selected} FROM unnest({arrays})"
    )


@dataclass(frozen=True, slots=True)
class ValuesIn:
    """A read whose condition holds one list of values, in both forms:
    ``chunked`` (``IN (:name0, …)``, :data:`CHUNK` values at a time) and
    ``arrays`` (``= ANY(:name::kind[])``, every value at once)."""

    chunked: str
    arrays: str
    name: str


def values_in(sql: str, name: str, kind: str) -> ValuesIn:
    """``sql`` with ``{values}`` standing for a column's list condition:
    ``WHERE sha256 {values}``; ``kind`` is the values' PostgreSQL type."""
    return ValuesIn(
        chunked=sql.replace("{values}", f"IN ({_placeholders(name, CHUNK)[1]})"),
        arrays=sql.replace("{values}", f"= ANY(:{name}::{kind}[])"),
        name=name,
    )


async def fetch_in(conn: Connection, statement: ValuesIn, values: Sequence[Any]) -> list[Row]:
    """Every row ``statement`` returns for ``values``."""
    if not values:
        return []
    if conn.binds_arrays:
        return await conn.fetch_all(statement.arrays, {statement.name: list(values)})
    rows: list[Row] = []
    for part in chunks(values):
        rows.extend(await conn.fetch_all(statement.chunked, in_list(statement.name, part)[1]))
    return rows
