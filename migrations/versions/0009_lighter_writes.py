"""Fewer index entries written per ingested file.

Every state a job goes through (queued, sent, running, finished) is a new
row version, and each version is written into every index of ``jobs`` that
holds it; each product is written into every index of ``products``. Three
changes, none of which any fitsflow query misses:

- ``ix_jobs_error_code`` holds only jobs with an error code and
  ``ix_jobs_batch_id_state`` only jobs in a batch (both partial). A job that
  succeeds has no error code, and a watched file's job no batch, so neither
  index is written for them. Every query that reads them names a code or a
  batch (``error_code = :code``, ``batch_id = :id``), which both databases
  know implies ``IS NOT NULL``: their plans are unchanged.
- ``ix_products_telescope_instrument``, ``ix_products_object`` and
  ``ix_products_ra_dec`` are dropped. Searches match names on ``lower(...)``
  (``ix_products_search_*``, revision 0005) and cones on the sky box
  (``ix_products_sky_*``); nothing reads the raw columns through an index.

Measured with ``python -m bench.pg_statements`` (docs/benchmarks.md): about
850 bytes less WAL per file (16.3 to 15.5 kB), the same for every state a
job takes.

Rebuilding the two job indexes reads ``jobs`` once each (about a second a
million jobs here); writes to ``jobs`` wait for it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The partial job indexes: name, columns, the rows they hold.
PARTIAL_JOB_INDEXES = (
    ("ix_jobs_error_code", ["error_code"], "error_code IS NOT NULL"),
    ("ix_jobs_batch_id_state", ["batch_id", "state"], "batch_id IS NOT NULL"),
)
#: Product indexes no query reads: name, columns (for a downgrade).
UNREAD_PRODUCT_INDEXES = (
    ("ix_products_telescope_instrument", ["telescope", "instrument"]),
    ("ix_products_object", ["object"]),
    ("ix_products_ra_dec", ["ra", "dec"]),
)


def upgrade() -> None:
    for name, columns, rows in PARTIAL_JOB_INDEXES:
        op.drop_index(name, table_name="jobs")
        where = sa.text(rows)
        op.create_index(name, "jobs", columns, postgresql_where=where, sqlite_where=where)
    for name, _ in UNREAD_PRODUCT_INDEXES:
        op.drop_index(name, table_name="products")


def downgrade() -> None:
    for name, columns in UNREAD_PRODUCT_INDEXES:
        op.create_index(name, "products", columns)
    for name, columns, _ in PARTIAL_JOB_INDEXES:
        op.drop_index(name, table_name="jobs")
        op.create_index(name, "jobs", columns)
