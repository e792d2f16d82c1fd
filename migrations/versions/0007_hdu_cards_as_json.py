"""HDU cards stored as ``json`` on PostgreSQL: the text fitsflow wrote, kept as it is.

``hdus.cards`` (every card of an HDU, ``[keyword, value, comment]`` in file
order, ~4 KB for 100 cards) is only ever written whole and read back whole:
no query looks inside it (searches use ``hdus.header``, which stays
``jsonb`` for its GIN index). As ``jsonb`` the server parsed every value into
its binary form on the way in and printed it back to text on the way out;
as ``json`` it checks the text is JSON and keeps it. Measured on 20,000 rows
of a 100-card image's cards (``docs/benchmarks.md``): writing 30 against 53
µs a row, reading the text back 28–33 against 80–90 µs a row, 162 against
240 MB stored (``jsonb`` keeps every string's length and every number as a
``numeric``). Values read back are the same: fitsflow parses the text either
way.

The column's compression (``lz4`` since 0006, where the server has it) is
kept: a change of type rewrites every row, and PostgreSQL would otherwise
reset the column to the server's default method. The rewrite holds an
exclusive lock on ``hdus`` while it runs (~70 µs a row here: about a minute
for a million HDUs); ingest waits for it. SQLite stores JSON as text
already, so there this revision does nothing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: pg_attribute.attcompression → the method's name in ALTER TABLE.
_METHODS = {"l": "lz4", "p": "pglz"}


def upgrade() -> None:
    _retype_cards("json")


def downgrade() -> None:
    _retype_cards("jsonb")


def _retype_cards(kind: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    compression = bind.execute(
        sa.text(
            "SELECT attcompression::text FROM pg_attribute"
            " WHERE attrelid = 'hdus'::regclass AND attname = 'cards'"
        )
    ).scalar()
    change = f"ALTER TABLE hdus ALTER COLUMN cards TYPE {kind} USING cards::{kind}"
    method = _METHODS.get(str(compression or ""))
    if method is not None:
        # In the same statement, so the rewritten rows are compressed with it.
        change += f", ALTER COLUMN cards SET COMPRESSION {method}"
    op.execute(change)
