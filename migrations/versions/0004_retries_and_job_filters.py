"""Retries linked to the failures they retry; indexes for the operators' views.

- ``jobs.retry_of``: a retry is a new job that points at the failed job it
  retries, so every finished job stays exactly as it happened and a file's
  history lists each job and each attempt in order.
- ``ix_jobs_state_error_code_id``: failures grouped by code, and the failed
  jobs of one code newest first (listing and bulk retry), from the index.
- ``ix_jobs_created_at`` and ``ix_jobs_finished_at``: job listings bounded by
  a time range.
- ``ix_jobs_batch_id_finished_at`` (only jobs in a batch): when the last job
  of a batch finished, one index probe whatever the batch's size.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the identifier type as it was at this revision.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
IN_A_BATCH = sa.text("batch_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("retry_of", ID, nullable=True))
        batch.create_foreign_key("fk_jobs_retry_of_jobs", "jobs", ["retry_of"], ["id"])
    op.create_index("ix_jobs_state_error_code_id", "jobs", ["state", "error_code", "id"])
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])
    op.create_index("ix_jobs_finished_at", "jobs", ["finished_at"])
    op.create_index(
        "ix_jobs_batch_id_finished_at",
        "jobs",
        ["batch_id", "finished_at"],
        postgresql_where=IN_A_BATCH,
        sqlite_where=IN_A_BATCH,
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_batch_id_finished_at", table_name="jobs")
    op.drop_index("ix_jobs_finished_at", table_name="jobs")
    op.drop_index("ix_jobs_created_at", table_name="jobs")
    op.drop_index("ix_jobs_state_error_code_id", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("fk_jobs_retry_of_jobs", type_="foreignkey")
        batch.drop_column("retry_of")
