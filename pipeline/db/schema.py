"""The schema the repositories query, declared once.

Migrations under ``migrations/versions`` are the history that builds it (each
revision is frozen in time and does not import this module); this declaration
is what the history must add up to. ``tests/contract/test_migrations.py``
compares a database migrated to head with it, on SQLite and PostgreSQL, and
``alembic revision --autogenerate`` diffs against it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

__all__ = ["JOB_STATES", "NARROW_SKY_BOX", "WIDE_SKY_BOX", "metadata"]

#: Every state a job can be in; terminal ones are ``succeeded`` and ``failed``.
JOB_STATES = ("queued", "running", "retrying", "succeeded", "failed")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
#: JSON kept as the text written (``json`` on PostgreSQL): for values only ever
#: written and read whole, which the server need not parse (migration 0007).
JsonText = sa.JSON().with_variant(postgresql.JSON(), "postgresql")
Timestamp = sa.DateTime(timezone=True)
Identifier = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _partial_index(
    name: str, *columns: str | sa.Column[float], where: str, unique: bool = False
) -> sa.Index:
    """An index holding only the rows ``where`` holds, on both databases alike."""
    rows = sa.text(where)
    return sa.Index(name, *columns, unique=unique, postgresql_where=rows, sqlite_where=rows)


batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", Identifier, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.Text(), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("total", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("closed", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp, nullable=True),
)

products = sa.Table(
    "products",
    metadata,
    sa.Column("id", Identifier, primary_key=True, autoincrement=True),
    sa.Column("sha256", sa.Text(), nullable=False),
    sa.Column("path", sa.Text(), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
    # True while this content is what lies at ``path``; at most one per path.
    sa.Column("is_current", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("superseded_by", Identifier, sa.ForeignKey("products.id"), nullable=True),
    sa.Column("superseded_at", Timestamp, nullable=True),
    sa.Column("compression", sa.Text(), nullable=False),
    sa.Column("hdu_count", sa.Integer(), nullable=False),
    sa.Column("checksum_status", sa.Text(), nullable=False),
    sa.Column("telescope", sa.Text(), nullable=True),
    sa.Column("instrument", sa.Text(), nullable=True),
    sa.Column("object", sa.Text(), nullable=True),
    sa.Column("observer", sa.Text(), nullable=True),
    sa.Column("obs_start", Timestamp, nullable=True),
    sa.Column("mjd_obs", sa.Float(), nullable=True),
    sa.Column("exptime", sa.Float(), nullable=True),
    sa.Column("filter", sa.Text(), nullable=True),
    sa.Column("ra", sa.Float(), nullable=True),
    sa.Column("dec", sa.Float(), nullable=True),
    sa.Column("footprint", Json, nullable=True),
    sa.Column("naxis", Json, nullable=True),
    sa.Column("bitpix", sa.Integer(), nullable=True),
    sa.Column("bunit", sa.Text(), nullable=True),
    sa.Column("beam_major", sa.Float(), nullable=True),
    sa.Column("beam_minor", sa.Float(), nullable=True),
    sa.Column("beam_pa", sa.Float(), nullable=True),
    sa.Column("frequency", sa.Float(), nullable=True),
    sa.Column("science_hdu", sa.Integer(), nullable=True),
    sa.Column("warnings", Json, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    # Sky box for cone searches (pipeline.search.sky): declination band and an
    # RA arc, sky_ra_max above 360 when it crosses RA 0; NULL without a position.
    sa.Column("sky_dec_min", sa.Float(), nullable=True),
    sa.Column("sky_dec_max", sa.Float(), nullable=True),
    sa.Column("sky_ra_min", sa.Float(), nullable=True),
    sa.Column("sky_ra_max", sa.Float(), nullable=True),
    sa.UniqueConstraint("sha256"),
    _partial_index("ux_products_current_path", "path", unique=True, where="is_current"),
    sa.Index("ix_products_path", "path"),
    # A search's page comes from this index alone on PostgreSQL (migration 0008).
    sa.Index(
        "ix_products_obs_start",
        "obs_start",
        postgresql_include=["id", "is_current", "telescope", "instrument", "filter"],
    ),
)

hdus = sa.Table(
    "hdus",
    metadata,
    sa.Column(
        "product_id",
        Identifier,
        sa.ForeignKey("products.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("hdu_index", sa.Integer(), primary_key=True),
    sa.Column("name", sa.Text(), nullable=True),
    sa.Column("kind", sa.Text(), nullable=False),
    sa.Column("naxis", Json, nullable=False),
    sa.Column("bitpix", sa.Integer(), nullable=False),
    sa.Column("data_size", sa.BigInteger(), nullable=False),
    sa.Column("header_offset", sa.BigInteger(), nullable=False),
    sa.Column("data_offset", sa.BigInteger(), nullable=False),
    sa.Column("checksum_status", sa.Text(), nullable=False),
    sa.Column("footprint", Json, nullable=True),
    sa.Column("header", Json, nullable=False),
    sa.Column("cards", JsonText, nullable=False),
)

# Product search (pipeline.search, migration 0005). Names are searched ignoring
# case, prefixes included (text_pattern_ops: byte-order ranges whatever the
# database's collation); sky boxes by two ranges when narrow, by declination
# when wide (pipeline/search/sky_sql.py repeats these predicates as written;
# on PostgreSQL, st_products_sky_extent, statistics on the boxes' sizes, tells
# the planner that wide boxes are rare); header equality through JSONB containment.
NARROW_SKY_BOX = "sky_dec_max - sky_dec_min <= 5.0 AND sky_ra_max - sky_ra_min <= 10.0"
WIDE_SKY_BOX = "sky_dec_max - sky_dec_min > 5.0 OR sky_ra_max - sky_ra_min > 10.0"
sa.Index(
    "ix_products_search_telescope_instrument",
    sa.func.lower(products.c.telescope).label("telescope_folded"),
    sa.func.lower(products.c.instrument).label("instrument_folded"),
    postgresql_ops={
        "telescope_folded": "text_pattern_ops",
        "instrument_folded": "text_pattern_ops",
    },
)
sa.Index(
    "ix_products_search_object",
    sa.func.lower(products.c.object).label("object_folded"),
    postgresql_ops={"object_folded": "text_pattern_ops"},
)
_partial_index(
    "ix_products_sky_narrow",
    products.c.sky_dec_min,
    products.c.sky_ra_min,
    products.c.sky_dec_max,
    products.c.sky_ra_max,
    where=NARROW_SKY_BOX,
)
_partial_index(
    "ix_products_sky_wide", products.c.sky_dec_min, products.c.sky_dec_max, where=WIDE_SKY_BOX
)
# SQLite has no GIN: there the index is declared empty (WHERE 0) rather than
# spend space on JSON text in a B-tree that no query could use.
sa.Index(
    "ix_hdus_header",
    hdus.c.header,
    postgresql_using="gin",
    postgresql_ops={"header": "jsonb_path_ops"},
    sqlite_where=sa.text("0"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", Identifier, primary_key=True, autoincrement=True),
    sa.Column("path", sa.Text(), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=True),
    sa.Column("mtime_ns", sa.BigInteger(), nullable=True),
    sa.Column("state", sa.Text(), nullable=False),
    sa.Column("outcome", sa.Text(), nullable=True),
    sa.Column("source", sa.Text(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("error_code", sa.Text(), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("error_details", Json, nullable=True),
    sa.Column("product_id", Identifier, sa.ForeignKey("products.id"), nullable=True),
    sa.Column("batch_id", Identifier, sa.ForeignKey("batches.id"), nullable=True),
    sa.Column("message_id", sa.Text(), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("enqueued_at", Timestamp, nullable=True),
    sa.Column("started_at", Timestamp, nullable=True),
    sa.Column("finished_at", Timestamp, nullable=True),
    sa.Column("next_attempt_at", Timestamp, nullable=True),
    sa.Column("lease_expires_at", Timestamp, nullable=True),
    sa.Column("worker", sa.Text(), nullable=True),
    # A retry is a new job pointing at the failed one (which stays as it ended).
    sa.Column("retry_of", Identifier, sa.ForeignKey("jobs.id"), nullable=True),
    sa.CheckConstraint(
        "state IN ('queued', 'running', 'retrying', 'succeeded', 'failed')", name="state"
    ),
    sa.Index("ix_jobs_state_updated_at", "state", "updated_at"),
    sa.Index("ix_jobs_path_id", "path", "id"),
    # Partial (migration 0009): only rows with a value, which every query
    # reading these indexes names. A job that succeeds has no error code, a
    # watched file's job no batch, and a job has no product nor end until it
    # ends: most of a job's row versions are written into none of the four.
    _partial_index("ix_jobs_batch_id_state", "batch_id", "state", where="batch_id IS NOT NULL"),
    _partial_index("ix_jobs_error_code", "error_code", where="error_code IS NOT NULL"),
    _partial_index("ix_jobs_product_id", "product_id", where="product_id IS NOT NULL"),
    _partial_index(
        "ix_jobs_unfinished",
        "state",
        "enqueued_at",
        where="state IN ('queued', 'running', 'retrying')",
    ),
    sa.Index("ix_jobs_state_error_code_id", "state", "error_code", "id"),
    sa.Index("ix_jobs_created_at", "created_at"),
    _partial_index("ix_jobs_finished_at", "finished_at", where="finished_at IS NOT NULL"),
    _partial_index(
        "ix_jobs_batch_id_finished_at", "batch_id", "finished_at", where="batch_id IS NOT NULL"
    ),
)

job_attempts = sa.Table(
    "job_attempts",
    metadata,
    sa.Column("id", Identifier, primary_key=True, autoincrement=True),
    sa.Column("job_id", Identifier, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp, nullable=True),
    sa.Column("outcome", sa.Text(), nullable=True),
    sa.Column("error_code", sa.Text(), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("worker", sa.Text(), nullable=True),
    sa.UniqueConstraint("job_id", "attempt"),
)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.Text(), primary_key=True),  # host:pid, as jobs.worker records it
    sa.Column("hostname", sa.Text(), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("threads", sa.Integer(), nullable=False),
    sa.Column("queues", Json, nullable=False),
    sa.Column("heartbeat_seconds", sa.Float(), nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("heartbeat_at", Timestamp, nullable=False),
)
