"""Initial schema: batches, products, HDUs, jobs and job attempts.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types as they were at this revision.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("closed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
    )
    _create_products()
    _create_hdus()
    _create_jobs()
    op.create_table(
        "job_attempts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("job_id", ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("worker", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_job_attempts"),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_attempts_job_id_jobs", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("job_id", "attempt", name="uq_job_attempts_job_id_attempt"),
    )


def _create_products() -> None:
    op.create_table(
        "products",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("is_current", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("superseded_by", ID, nullable=True),
        sa.Column("superseded_at", TIMESTAMP, nullable=True),
        sa.Column("compression", sa.Text(), nullable=False),
        sa.Column("hdu_count", sa.Integer(), nullable=False),
        sa.Column("checksum_status", sa.Text(), nullable=False),
        sa.Column("telescope", sa.Text(), nullable=True),
        sa.Column("instrument", sa.Text(), nullable=True),
        sa.Column("object", sa.Text(), nullable=True),
        sa.Column("observer", sa.Text(), nullable=True),
        sa.Column("obs_start", TIMESTAMP, nullable=True),
        sa.Column("mjd_obs", sa.Float(), nullable=True),
        sa.Column("exptime", sa.Float(), nullable=True),
        sa.Column("filter", sa.Text(), nullable=True),
        sa.Column("ra", sa.Float(), nullable=True),
        sa.Column("dec", sa.Float(), nullable=True),
        sa.Column("footprint", JSON, nullable=True),
        sa.Column("naxis", JSON, nullable=True),
        sa.Column("bitpix", sa.Integer(), nullable=True),
        sa.Column("bunit", sa.Text(), nullable=True),
        sa.Column("beam_major", sa.Float(), nullable=True),
        sa.Column("beam_minor", sa.Float(), nullable=True),
        sa.Column("beam_pa", sa.Float(), nullable=True),
        sa.Column("frequency", sa.Float(), nullable=True),
        sa.Column("science_hdu", sa.Integer(), nullable=True),
        sa.Column("warnings", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        sa.ForeignKeyConstraint(
            ["superseded_by"], ["products.id"], name="fk_products_superseded_by_products"
        ),
        sa.UniqueConstraint("sha256", name="uq_products_sha256"),
    )
    op.create_index(
        "ux_products_current_path",
        "products",
        ["path"],
        unique=True,
        postgresql_where=sa.text("is_current"),
        sqlite_where=sa.text("is_current"),
    )
    op.create_index("ix_products_path", "products", ["path"])
    op.create_index("ix_products_telescope_instrument", "products", ["telescope", "instrument"])
    op.create_index("ix_products_object", "products", ["object"])
    op.create_index("ix_products_obs_start", "products", ["obs_start"])
    op.create_index("ix_products_ra_dec", "products", ["ra", "dec"])


def _create_hdus() -> None:
    op.create_table(
        "hdus",
        sa.Column("product_id", ID, nullable=False),
        sa.Column("hdu_index", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("naxis", JSON, nullable=False),
        sa.Column("bitpix", sa.Integer(), nullable=False),
        sa.Column("data_size", sa.BigInteger(), nullable=False),
        sa.Column("header_offset", sa.BigInteger(), nullable=False),
        sa.Column("data_offset", sa.BigInteger(), nullable=False),
        sa.Column("checksum_status", sa.Text(), nullable=False),
        sa.Column("footprint", JSON, nullable=True),
        sa.Column("header", JSON, nullable=False),
        sa.Column("cards", JSON, nullable=False),
        sa.PrimaryKeyConstraint("product_id", "hdu_index", name="pk_hdus"),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name="fk_hdus_product_id_products", ondelete="CASCADE"
        ),
    )


def _create_jobs() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_details", JSON, nullable=True),
        sa.Column("product_id", ID, nullable=True),
        sa.Column("batch_id", ID, nullable=True),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("enqueued_at", TIMESTAMP, nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name="fk_jobs_product_id_products"
        ),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name="fk_jobs_batch_id_batches"),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'retrying', 'succeeded', 'failed')",
            name="ck_jobs_state",
        ),
    )
    op.create_index("ix_jobs_state_updated_at", "jobs", ["state", "updated_at"])
    op.create_index("ix_jobs_path_id", "jobs", ["path", "id"])
    op.create_index("ix_jobs_batch_id_state", "jobs", ["batch_id", "state"])
    op.create_index("ix_jobs_error_code", "jobs", ["error_code"])
    op.create_index("ix_jobs_product_id", "jobs", ["product_id"])


def downgrade() -> None:
    op.drop_table("job_attempts")
    op.drop_table("jobs")
    op.drop_table("hdus")
    op.drop_table("products")
    op.drop_table("batches")
