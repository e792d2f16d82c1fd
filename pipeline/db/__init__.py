"""The adapter layer: one async interface over aiosqlite and asyncpg.

``open_database(settings)`` picks the adapter from the URL scheme; only the
adapter modules import their driver.
"""

from __future__ import annotations

from pipeline.db.base import Connection, Database, ManyRows, Params, PoolStats, Row, RowValues
from pipeline.settings import DatabaseSettings

__all__ = [
    "Connection",
    "Database",
    "ManyRows",
    "Params",
    "PoolStats",
    "Row",
    "RowValues",
    "open_database",
]


def open_database(settings: DatabaseSettings) -> Database:
    """An unconnected :class:`Database` for ``settings.url``."""
    if settings.url.startswith("sqlite:///"):
        from pipeline.db.sqlite import SqliteDatabase

        return SqliteDatabase(settings)
    from pipeline.db.postgres import PostgresDatabase

    return PostgresDatabase(settings)
