"""Alembic environment: one revision chain for SQLite and PostgreSQL.

The URL comes from fitsflow's own settings (or ``config.attributes["url"]``
when fitsflow calls Alembic itself), and is run through the same async
drivers the pipeline uses (aiosqlite, asyncpg).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from pipeline.db.migrate import sqlalchemy_url
from pipeline.db.schema import metadata
from pipeline.settings import load_settings

config = context.config


def _url() -> str:
    url = config.attributes.get("url")
    if url is None:
        url = load_settings().database.url
    return sqlalchemy_url(str(url))


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
    finally:
        await engine.dispose()


def _run_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    asyncio.run(_run_online())
