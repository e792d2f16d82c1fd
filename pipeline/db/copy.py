"""Copying a whole catalogue between databases (SQLite → PostgreSQL and back).

Tables go in dependency order with their ids, in batches, each table in one
transaction. ``products.superseded_by`` points between products in either
direction, so it is filled in after every product exists. PostgreSQL's id
sequences are then moved past the copied ids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from pipeline.clock import as_datetime
from pipeline.db.base import Connection, Database
from pipeline.db.schema import metadata
from pipeline.errors import ValidationError
from pipeline.jsonutil import dumps

__all__ = ["COPY_ORDER", "copy_catalogue"]

#: Parents before children.
COPY_ORDER = ("batches", "products", "hdus", "jobs", "job_attempts")
_BATCH_ROWS = 1000
_DEFERRED = {"products": "superseded_by"}


def _converter(column: sa.Column[Any]) -> Callable[[Any], Any]:
    """Turn a value read from one driver into what the other accepts."""
    kind = column.type
    if isinstance(kind, sa.DateTime):
        return as_datetime
    if isinstance(kind, sa.Boolean):
        return lambda value: None if value is None else bool(value)
    if isinstance(kind, sa.JSON):
        return lambda value: value if value is None or isinstance(value, str) else dumps(value)
    return lambda value: value


async def copy_catalogue(
    source: Database, target: Database, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Copy every fitsflow table from ``source`` into an empty ``target``.

    Both must be migrated to the same revision (the caller checks). Returns
    the number of rows copied per table.
    """
    async with target.connection() as conn:
        if await conn.fetch_value("SELECT COUNT(*) FROM products"):
            raise ValidationError(
                "the target database already holds products; copy into an empty one"
            )
    copied: dict[str, int] = {}
    for name in COPY_ORDER:
        copied[name] = await _copy_table(source, target, metadata.tables[name], progress)
    await _link_superseded(source, target)
    if target.dialect == "postgresql":
        async with target.transaction() as tx:
            for name in ("batches", "products", "jobs", "job_attempts"):
                await tx.execute(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'),"
                    f" COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"
                )
    return copied


async def _copy_table(
    source: Database,
    target: Database,
    table: sa.Table,
    progress: Callable[[str, int], None] | None,
) -> int:
    columns = [column.name for column in table.columns]
    converters = {column.name: _converter(column) for column in table.columns}
    deferred = _DEFERRED.get(table.name)
    insert = (
        f"INSERT INTO {table.name} ({', '.join(columns)})"
        f" VALUES ({', '.join(':' + name for name in columns)})"
    )
    order = ", ".join(column.name for column in table.primary_key.columns)
    total = 0
    async with source.transaction(write=False) as reader, target.transaction() as writer:
        offset = 0
        while True:
            rows = await reader.fetch_all(
                f"SELECT * FROM {table.name} ORDER BY {order} LIMIT :limit OFFSET :offset",
                {"limit": _BATCH_ROWS, "offset": offset},
            )
            if not rows:
                break
            await writer.execute_many(insert, [_convert(row, converters, deferred) for row in rows])
            offset += len(rows)
            total += len(rows)
            if progress is not None:
                progress(table.name, total)
    return total


def _convert(
    row: Mapping[str, Any], converters: Mapping[str, Callable[[Any], Any]], deferred: str | None
) -> dict[str, Any]:
    values = {name: convert(row[name]) for name, convert in converters.items()}
    if deferred is not None:
        values[deferred] = None
    return values


async def _link_superseded(source: Database, target: Database) -> None:
    async with source.transaction(write=False) as reader:
        links = await reader.fetch_all(
            "SELECT id, superseded_by FROM products WHERE superseded_by IS NOT NULL"
        )
    if links:
        async with target.transaction() as writer:
            await _apply_links(writer, links)


async def _apply_links(writer: Connection, links: list[Mapping[str, Any]]) -> None:
    await writer.execute_many(
        "UPDATE products SET superseded_by = :superseded_by WHERE id = :id",
        [{"id": row["id"], "superseded_by": row["superseded_by"]} for row in links],
    )
