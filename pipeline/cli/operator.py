"""What the operators' commands share: the catalogue, the queue, times, the cursor.

``fitsflow jobs``, ``batches`` and ``scan`` work from any host that reaches
the database and the broker: they need no API. With a ``memory://`` broker
there is no queue outside the ``fitsflow run`` process that owns it, so
these commands only commit their jobs (the outbox); that process's
reconciler sends them (see :func:`queue_note`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

import typer

from pipeline.db import Database, open_database
from pipeline.errors import DatabaseError, NotFound, ValidationError
from pipeline.outbox import Sender
from pipeline.settings import Settings

__all__ = [
    "BrokerUrlOption",
    "absolute_prefix",
    "catalogue",
    "parse_cursor",
    "parse_time",
    "queue_note",
    "sender_for",
]

BrokerUrlOption = Annotated[
    str | None,
    typer.Option("--broker-url", help="redis://, amqp:// or memory:// (default from settings)."),
]


@contextlib.asynccontextmanager
async def catalogue(settings: Settings) -> AsyncIterator[Database]:
    """The connected catalogue; a clear error when it is missing or not migrated."""
    url = settings.database.url
    if url.startswith("sqlite:///"):
        from pipeline.db.sqlite import sqlite_path

        # Opening a SQLite file that is not there would create an empty one.
        location = sqlite_path(url)
        if not location.is_file():
            raise NotFound(f"no database at {location}", details={"setting": "database.url"})
    async with open_database(settings.database) as database:
        try:
            await database.fetch_value("SELECT version_num FROM alembic_version")
        except DatabaseError as error:
            # The URL is not repeated: it may carry a password.
            raise DatabaseError(
                "the database holds no fitsflow catalogue; run `fitsflow db upgrade` first"
            ) from error
        yield database


def sender_for(settings: Settings) -> Sender | None:
    """The queue for ``settings.broker.url``; None for memory:// (see the module docstring)."""
    if settings.broker.in_process:
        return None
    from workers.runtime import install

    return install(settings)


def queue_note(settings: Settings) -> str | None:
    """What a person must know when the jobs cannot be sent from here, if anything."""
    if not settings.broker.in_process:
        return None
    return (
        "broker.url is memory://: the jobs are committed to the database, and the "
        "`fitsflow run` process using it sends them (its reconciler, within "
        f"{settings.reconciler.interval_seconds:g} s plus a few seconds, or when it next "
        "starts). For workers elsewhere, give --broker-url redis://… or amqp://…"
    )


def absolute_prefix(prefix: str | None) -> str | None:
    """A path prefix made absolute as recorded paths are, keeping a final ``/``
    (``night2/`` must not take in ``night20``)."""
    if prefix is None:
        return None
    absolute = os.path.abspath(prefix)
    return absolute + "/" if prefix.endswith("/") and not absolute.endswith("/") else absolute


def parse_time(option: str, text: str | None) -> datetime | None:
    """An ISO 8601 time given to ``option`` as aware UTC (no offset: UTC)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise ValidationError(
            f"{option}: {text!r} is not an ISO 8601 time (e.g. 2026-11-26T12:00:00Z)"
        ) from error


def parse_cursor(text: str | None) -> int | None:
    """The id a ``next_cursor`` printed by these commands (or the API) continues before."""
    if text is None:
        return None
    from pipeline.api.params import decode_cursor  # FastAPI loads only when asked for

    try:
        return decode_cursor(text)
    except ValidationError as error:
        raise ValidationError(f"--cursor: {text!r} is not a cursor printed by fitsflow") from error
