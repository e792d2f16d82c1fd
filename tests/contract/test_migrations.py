"""One revision chain, two databases: up, down, up again, and exactly the declared schema."""

from __future__ import annotations

import inspect
import logging
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect as inspect_schema
from sqlalchemy.ext.asyncio import create_async_engine

from pipeline.db import ManyRows, migrate
from pipeline.db.schema import metadata
from pipeline.ingest.parse import parse_file
from pipeline.ingest.service import IngestService
from pipeline.jsonutil import loads
from pipeline.repositories import batches, jobs, products
from pipeline.repositories.batching import ValuesIn
from pipeline.samples import SampleKind, rng_for, write_sample
from pipeline.settings import ReaderSettings
from tests.support.databases import ONLY_POSTGRESQL, _run_isolated, opened_database

FITSFLOW_TABLES = {"batches", "products", "hdus", "jobs", "job_attempts"}


def _inspect(url: str, work: Any) -> Any:
    """Run ``work(sync_connection)`` against ``url`` through SQLAlchemy."""

    async def run() -> Any:
        engine = create_async_engine(migrate.sqlalchemy_url(url))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return _run_isolated(run())


def _tables(url: str) -> set[str]:
    return set(_inspect(url, lambda sync: inspect_schema(sync).get_table_names()))


def _schema_differences(url: str) -> list[Any]:
    def compare(sync: Any) -> list[Any]:
        context = MigrationContext.configure(sync, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    return list(_inspect(url, compare))


def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    url = empty_database_url
    assert migrate.current_revision(url) is None
    migrate.upgrade(url)
    assert migrate.current_revision(url) == migrate.head_revision()
    assert _tables(url) >= FITSFLOW_TABLES
    migrate.downgrade(url, "base")
    assert migrate.current_revision(url) is None
    assert not FITSFLOW_TABLES & _tables(url)
    migrate.upgrade(url)
    assert migrate.current_revision(url) == migrate.head_revision()
    assert _tables(url) >= FITSFLOW_TABLES


class _CtrlCAtSecondRevision(logging.Handler):
    """Sends this process a SIGINT as Alembic starts the chain's second revision."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.sent and record.getMessage().startswith("Running upgrade 0001 -> 0002"):
            self.sent = True
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_during_an_upgrade_waits_for_its_end(empty_database_url: str) -> None:
    url = empty_database_url
    interrupter = _CtrlCAtSecondRevision()
    logger = logging.getLogger("alembic.runtime.migration")
    # Earlier tests' logging set-up may have disabled or quietened the logger.
    level, disabled = logger.level, logger.disabled
    logger.setLevel(logging.INFO)
    logger.disabled = False
    logger.addHandler(interrupter)
    # Run from a non-interactive shell's background job, this process ignores
    # SIGINT; a terminal's Ctrl-C meets Python's own handler.
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            migrate.upgrade(url)
    finally:
        logger.removeHandler(interrupter)
        logger.setLevel(level)
        logger.disabled = disabled
        # And Ctrl-C was Python's again once the migration ended.
        restored = signal.signal(signal.SIGINT, before)
    assert restored is signal.default_int_handler
    assert interrupter.sent
    # The whole chain ran: the interrupt came after it, not inside it.
    assert migrate.current_revision(url) == migrate.head_revision()
    assert _tables(url) >= FITSFLOW_TABLES


def test_migrated_schema_is_the_declared_schema(migrated_database_url: str) -> None:
    assert _schema_differences(migrated_database_url) == []


def _repository_statements(*, arrays: bool) -> list[tuple[str, str]]:
    """The repositories' statements: for both databases, or (``arrays``) the
    forms only PostgreSQL runs, which bind lists as arrays."""
    found = []
    for module in (products, jobs, batches):
        prefix = module.__name__.rsplit(".", 1)[-1]
        for name, value in inspect.getmembers(module):
            if isinstance(value, str) and name.endswith("_SQL"):
                if ("_ARRAYS_" in name) == arrays:
                    found.append((f"{prefix}.{name}", value))
            elif isinstance(value, ManyRows | ValuesIn):
                forms = {"arrays": value.arrays} if arrays else {}
                if not arrays:
                    forms = {"each": value.each} if isinstance(value, ManyRows) else {}
                    forms |= {"chunked": value.chunked} if isinstance(value, ValuesIn) else {}
                found.extend((f"{prefix}.{name}.{form}", sql) for form, sql in forms.items())
    return found


STATEMENTS = _repository_statements(arrays=False)
ARRAYS_STATEMENTS = _repository_statements(arrays=True)


def test_repositories_declare_their_statements() -> None:
    # Guards the parametrisation below against silently testing nothing.
    assert len(STATEMENTS) >= 25 and len(ARRAYS_STATEMENTS) >= 10


@pytest.mark.parametrize(("name", "sql"), STATEMENTS, ids=[name for name, _ in STATEMENTS])
async def test_every_repository_statement_compiles_against_the_migrated_schema(
    migrated_database_url: str, name: str, sql: str
) -> None:
    await _explained(migrated_database_url, name, sql)


@ONLY_POSTGRESQL
@pytest.mark.parametrize(
    ("name", "sql"), ARRAYS_STATEMENTS, ids=[name for name, _ in ARRAYS_STATEMENTS]
)
async def test_every_arrays_statement_compiles_against_the_migrated_schema(
    migrated_database_url: str, name: str, sql: str
) -> None:
    await _explained(migrated_database_url, name, sql)


async def _explained(migrated_database_url: str, name: str, sql: str) -> None:
    from pipeline.db.sql import compile_sql

    async with opened_database(migrated_database_url) as database:
        names = compile_sql(sql, database.dialect).names
        params = dict.fromkeys(names)
        # EXPLAIN plans the statement against the real tables without running it.
        async with database.transaction() as tx:
            plan = await tx.fetch_all("EXPLAIN " + sql, params)
        assert plan, name


def _compression_of_hdu_columns(url: str) -> dict[str, str]:
    """How PostgreSQL compresses new ``hdus.header``/``cards`` values ('' = the default)."""

    async def read() -> dict[str, str]:
        async with opened_database(url) as database, database.transaction() as tx:
            rows = await tx.fetch_all(
                "SELECT attname, attcompression::text AS attcompression FROM pg_attribute"
                " WHERE attrelid = 'hdus'::regclass AND attname IN ('header', 'cards')"
            )
        return {str(row["attname"]): str(row["attcompression"]) for row in rows}

    return _run_isolated(read())


@ONLY_POSTGRESQL
def test_hdu_headers_and_cards_are_written_with_lz4_on_postgresql(
    empty_database_url: str, tmp_path: Path
) -> None:
    # The server here is built with LZ4 (Debian's and the postgres image's are);
    # a server without it keeps pglz and this test would say so.
    url = empty_database_url
    migrate.upgrade(url)
    assert _compression_of_hdu_columns(url) == {"header": "l", "cards": "l"}
    path = write_sample(tmp_path, 0, SampleKind.LONG_HEADER, rng_for(0, 0))

    async def ingest_and_look() -> list[Any]:
        async with opened_database(url) as database:
            result = await IngestService(database, ReaderSettings()).ingest_path(path)
            assert result.status == "succeeded", result
            async with database.transaction() as tx:
                return await tx.fetch_all(
                    "SELECT pg_column_compression(header) AS header,"
                    " pg_column_compression(cards) AS cards FROM hdus"
                )

    stored = _run_isolated(ingest_and_look())
    assert [dict(row) for row in stored] == [{"header": "lz4", "cards": "lz4"}]

    migrate.downgrade(url, "0005")
    assert _compression_of_hdu_columns(url) == {"header": "", "cards": ""}
    migrate.upgrade(url)
    assert _compression_of_hdu_columns(url) == {"header": "l", "cards": "l"}


@ONLY_POSTGRESQL
def test_hdu_cards_are_kept_as_the_text_written_on_postgresql(
    empty_database_url: str, tmp_path: Path
) -> None:
    # jsonb prints the cards back in its own spacing and number forms; json
    # keeps fitsflow's text, still compressed with lz4 after the rewrite.
    url = empty_database_url
    before, after = (write_sample(tmp_path, n, SampleKind.IMAGE, rng_for(0, n)) for n in range(2))

    async def ingest(path: Path) -> None:
        async with opened_database(url) as database:
            result = await IngestService(database, ReaderSettings()).ingest_path(path)
            assert result.status == "succeeded", result

    async def stored(path: Path) -> dict[str, Any]:
        async with opened_database(url) as database, database.transaction() as tx:
            row = await tx.fetch_one(
                "SELECT pg_typeof(h.cards)::text AS kind, h.cards::text AS text,"
                " pg_column_compression(h.cards) AS compression"
                " FROM hdus h JOIN products p ON p.id = h.product_id WHERE p.path = :path",
                {"path": str(path)},
            )
            assert row is not None
            return dict(row)

    def written(path: Path) -> str:
        return parse_file(path, ReaderSettings(), None).hdus[0].cards_json

    migrate.upgrade(url, "0006")
    _run_isolated(ingest(before))
    as_jsonb = _run_isolated(stored(before))
    assert as_jsonb["kind"] == "jsonb" and as_jsonb["text"] != written(before)

    migrate.upgrade(url)
    converted = _run_isolated(stored(before))  # the rows already there
    assert converted["kind"] == "json" and converted["compression"] == "lz4"
    assert loads(converted["text"]) == loads(written(before))
    _run_isolated(ingest(after))
    assert _run_isolated(stored(after)) == {
        "kind": "json",
        "text": written(after),
        "compression": "lz4",
    }

    migrate.downgrade(url, "0006")
    back = _run_isolated(stored(after))
    assert back["kind"] == "jsonb" and back["compression"] == "lz4"
    assert loads(back["text"]) == loads(written(after))
