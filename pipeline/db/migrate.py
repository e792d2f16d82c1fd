"""Running Alembic from fitsflow: upgrade, downgrade, current, history.

The revision chain lives in ``migrations/`` beside ``alembic.ini`` at the
project root; both databases share it. These functions are synchronous (Alembic
runs its own event loop for the async drivers): call them before starting one.
"""

from __future__ import annotations

import contextlib
import io
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy.exc
import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import migrations
from pipeline.errors import DatabaseError, DatabaseUnavailable

__all__ = [
    "ALEMBIC_INI",
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "downgrade",
    "ensure_schema",
    "head_revision",
    "history",
    "require_schema",
    "sqlalchemy_url",
    "upgrade",
]

log = structlog.get_logger(__name__)

#: The project's alembic.ini, for the plain ``alembic`` command in a checkout.
ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
#: The revision chain, wherever fitsflow is installed.
MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


def _config(output: io.StringIO | None = None) -> Config:
    # Built in code rather than read from alembic.ini, which only a source
    # checkout has; the ini file says the same for the `alembic` command.
    config = Config(stdout=output) if output else Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def sqlalchemy_url(url: str) -> str:
    """fitsflow's database URL spelled for SQLAlchemy's async drivers."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    raise ValueError(f"unsupported database URL {url!r}")


def alembic_config(url: str, output: io.StringIO | None = None) -> Config:
    """An Alembic config for ``url`` (fitsflow's spelling), printing to ``output``."""
    config = _config(output)
    config.attributes["url"] = url
    _ensure_sqlite_directory(url)
    return config


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Hold a Ctrl-C until the block ends, then raise it.

    SQLite's schema changes are not all transactional in Alembic's eyes: a
    migration cut in half by an interrupt during a first start could leave
    a file the next start cannot migrate. Only the main thread sets signal
    handlers; elsewhere (and where SIGINT is ignored) nothing changes.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous in (
        signal.SIG_IGN,
        None,
    ):
        yield
        return
    held: list[int] = []  # the signals that came meanwhile
    signal.signal(signal.SIGINT, lambda number, _frame: held.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        raise KeyboardInterrupt


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (a Ctrl-C waits for the end)."""
    with _ctrl_c_deferred():
        command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``base`` for empty)."""
    with _ctrl_c_deferred():
        command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    """The newest revision of the chain."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at (None when never migrated)."""
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    async def read() -> str | None:
        engine = create_async_engine(sqlalchemy_url(url))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
        finally:
            await engine.dispose()

    _ensure_sqlite_directory(url)
    try:
        return asyncio.run(read())
    except (OSError, sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as error:
        # Connection refused, reset, unknown host: the database is not there (yet).
        raise DatabaseUnavailable(
            f"cannot reach the database to read its schema revision: {error}",
            details={"url": _without_password(url)},
        ) from error


def history() -> list[tuple[str, str | None, str]]:
    """``(revision, down_revision, message)`` from newest to oldest."""
    scripts = ScriptDirectory.from_config(_config())
    entries = []
    for script in scripts.walk_revisions():
        down = script.down_revision
        entries.append((script.revision, down if isinstance(down, str) else None, script.doc))
    return entries


def _ensure_sqlite_directory(url: str) -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def ensure_schema(url: str) -> str:
    """Bring a new database to head; refuse to touch a PostgreSQL one that lags.

    An empty database (never migrated) is created at head, and an embedded
    SQLite file is upgraded in place. A shared PostgreSQL database behind head
    is left alone — upgrading it is an operator's decision — and
    :class:`~pipeline.errors.DatabaseError` says how. Returns what was done:
    ``"current"``, ``"created"`` or ``"upgraded"``.
    """
    head = head_revision()
    current = current_revision(url)
    if current == head:
        return "current"
    if current is None:
        upgrade(url)
        return "created"
    if url.startswith("sqlite:///"):
        upgrade(url)
        return "upgraded"
    raise DatabaseError(
        f"the database schema is at revision {current}, this fitsflow needs {head}; "
        "run `fitsflow db upgrade` first",
        details={"current": current, "head": head},
    )


def require_schema(url: str, wait_seconds: float = 60.0) -> None:
    """Refuse to run against a database that is not at head (never migrates).

    Workers, watchers and the API of a distributed deployment start beside
    each other; only ``fitsflow db upgrade`` (the migrate service) changes
    the schema, so none of them races another to create it. A database that
    cannot be reached yet is waited for, up to ``wait_seconds``.
    """
    head = head_revision()
    current = _wait_for_revision(url, wait_seconds)
    if current != head:
        raise DatabaseError(
            f"the database schema is at revision {current or 'base (empty)'}, this fitsflow "
            f"needs {head}; run `fitsflow db upgrade` first",
            details={"current": current, "head": head},
        )


def _wait_for_revision(url: str, wait_seconds: float) -> str | None:
    deadline = time.monotonic() + wait_seconds
    delay = 0.5
    while True:
        try:
            return current_revision(url)
        except DatabaseUnavailable as error:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("waiting for the database", error=error.message, retry_in=delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _without_password(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"
