"""HDU headers and cards compressed with LZ4 on PostgreSQL (where the server has it).

Every HDU row stores its header (~2 KB of JSON for 100 cards) and its cards
(~4 KB): together past the TOAST threshold, so PostgreSQL compresses them as
each row is written. With the default method (``pglz``) that compression was
~12 % of PostgreSQL's CPU during ingest (``perf`` over a distributed burst),
for ~25 % saved on ``cards``; LZ4 does it for ~1.5 % (``docs/benchmarks.md``).

Only new values are written with LZ4; rows already stored stay as they are
(both methods are read transparently). A server built without LZ4 support
keeps ``pglz``: nothing else depends on the method. SQLite compresses
nothing, so there this revision does nothing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("header", "cards")


def upgrade() -> None:
    if _lz4_available():
        _set_compression("lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _set_compression("DEFAULT")


def _lz4_available() -> bool:
    """Whether this is PostgreSQL, built with LZ4 (the setting then lists it)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    methods = bind.execute(
        sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    ).scalar()
    return methods is not None and "lz4" in methods


def _set_compression(method: str) -> None:
    # Catalogue only (no table rewrite); new values use the method from now on.
    for column in COLUMNS:
        op.execute(f"ALTER TABLE hdus ALTER COLUMN {column} SET COMPRESSION {method}")
