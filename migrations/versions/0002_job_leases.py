"""Job leases: which worker holds a running job, and until when.

A message redelivered by the broker after its worker died takes the job over
at once (same message id); a duplicate sent by the reconciler waits for the
lease to expire.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("worker", sa.Text(), nullable=True))
    # The reconciler's question: which unfinished jobs have gone quiet?
    op.create_index(
        "ix_jobs_unfinished",
        "jobs",
        ["state", "enqueued_at"],
        postgresql_where=sa.text("state IN ('queued', 'running', 'retrying')"),
        sqlite_where=sa.text("state IN ('queued', 'running', 'retrying')"),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_unfinished", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("worker")
        batch.drop_column("lease_expires_at")
