"""Worker heartbeats: which worker processes are alive, and since when.

Each worker process (``fitsflow worker``, ``dramatiq workers``, the threads of
``fitsflow run``) upserts its row every ``worker.heartbeat_seconds``; it is
alive while its last heartbeat is under three of its own intervals old. The
id is ``host:pid``, the same name the jobs and attempts record as ``worker``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types as they were at this revision.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("hostname", sa.Text(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=False),
        sa.Column("queues", JSON, nullable=False),
        # The worker's own interval: hosts may be configured differently, and
        # "alive" is judged against the interval the worker promised.
        sa.Column("heartbeat_seconds", sa.Float(), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("heartbeat_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workers"),
    )


def downgrade() -> None:
    op.drop_table("workers")
