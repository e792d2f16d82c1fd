"""``fitsflow db``: upgrade, downgrade, current, history of the schema."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from pipeline.cli.common import (
    ConfigOption,
    DatabaseUrlOption,
    JsonOption,
    load,
    print_json,
    reports_errors,
)
from pipeline.db import migrate, open_database
from pipeline.db.copy import copy_catalogue
from pipeline.errors import ValidationError
from pipeline.settings import Settings

app = typer.Typer(help="Manage the database schema (Alembic migrations).", no_args_is_help=True)


@app.command()
@reports_errors
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    database_url: DatabaseUrlOption = None,
    config: ConfigOption = None,
) -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    url = load(config, database_url).database.url
    migrate.upgrade(url, revision)
    typer.echo(f"database at revision {migrate.current_revision(url)}")


# ignore_unknown_options: lets "-1" (one step back) through as the revision.
@app.command(context_settings={"ignore_unknown_options": True})
@reports_errors
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, -1 for one step, or base.")],
    database_url: DatabaseUrlOption = None,
    config: ConfigOption = None,
) -> None:
    """Migrate the database down to REVISION (``base`` removes every table)."""
    url = load(config, database_url).database.url
    migrate.downgrade(url, revision)
    typer.echo(f"database at revision {migrate.current_revision(url) or 'base'}")


@app.command()
@reports_errors
def current(
    database_url: DatabaseUrlOption = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show the database's revision and the newest one this fitsflow knows."""
    url = load(config, database_url).database.url
    revision, head = migrate.current_revision(url), migrate.head_revision()
    if json_output:
        print_json({"current": revision, "head": head, "up_to_date": revision == head})
        return
    state = "up to date" if revision == head else f"behind head {head}"
    typer.echo(f"{revision or 'base (empty)'} ({state})")


@app.command()
@reports_errors
def history(json_output: JsonOption = False) -> None:
    """List the revisions, newest first."""
    entries = migrate.history()
    if json_output:
        print_json([{"revision": r, "down_revision": d, "message": m} for r, d, m in entries])
        return
    for revision, down, message in entries:
        typer.echo(f"{down or 'base'} -> {revision}  {message}")


@app.command()
@reports_errors
def copy(
    source_url: Annotated[str, typer.Option("--from", help="The database to copy from.")],
    target_url: Annotated[str, typer.Option("--to", help="An empty database to copy into.")],
    config: ConfigOption = None,
) -> None:
    """Copy a whole catalogue to another database (e.g. SQLite to PostgreSQL).

    The target's schema is created (or upgraded) to head first; both databases
    must then be at the same revision, and the target must hold no products.
    """
    settings = load(config)
    migrate.upgrade(target_url)
    source_revision = migrate.current_revision(source_url)
    if source_revision != migrate.current_revision(target_url):
        raise ValidationError(
            f"the source is at revision {source_revision}, the target at head "
            f"{migrate.head_revision()}; run `fitsflow db upgrade --database-url {source_url}`"
        )
    counts = asyncio.run(_copy(settings, source_url, target_url))
    for table, rows in counts.items():
        typer.echo(f"{table:<13} {rows:>10} rows")


async def _copy(settings: Settings, source_url: str, target_url: str) -> dict[str, int]:
    source = open_database(settings.database.model_copy(update={"url": source_url}))
    target = open_database(settings.database.model_copy(update={"url": target_url}))
    async with source, target:
        return await copy_catalogue(source, target)
