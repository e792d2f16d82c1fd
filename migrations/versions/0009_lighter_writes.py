"""Fewer index entries written per ingested file.

Every state a job goes through (queued, sent, running, finished) is a new
row version, and each version is written into every index of ``jobs`` that
holds it; each product is written into every index of ``products``. Two
changes, none of which any fitsflow query misses:

- Four job indexes hold only the rows with a value (partial, ``IS NOT
  NULL``): ``ix_jobs_error_code`` (a job that succeeds has no error code),
  ``ix_jobs_batch_id_state`` (a watched file's job has no batch),
  ``ix_jobs_finished_at`` and ``ix_jobs_product_id`` (empty until the job
  ends: three of a job's four versions). Every query that reads them names
  a value (``error_code = :code``, ``batch_id = :id``, ``finished_at >=
  :since``, the foreign key's ``product_id = $1``), which both databases
  know implies ``IS NOT NULL``, even in a plan made before the value is
  known: the plans are unchanged.
- ``ix_products_telescope_instrument``, ``ix_products_object`` and
  ``ix_products_ra_dec`` are dropped. Searches match names on ``lower(...)``
  (``ix_products_search_*``, revision 0005) and cones on the sky box
  (``ix_products_sky_*``); nothing reads the raw columns through an index.

Measured with ``python -m bench.pg_statements`` (docs/benchmarks.md): about
1.2 kB less WAL per file (16.5 to 15.2 kB) and 3-10 % less of the server's
CPU.

Rebuilding the four job indexes reads ``jobs`` once each: the whole upgrade
took 2.3 s on a million jobs and products here; writes wait for it.

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
    ("ix_jobs_finished_at", ["finished_at"], "finished_at IS NOT NULL"),
    ("ix_jobs_product_id", ["product_id"], "product_id IS NOT NULL"),
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
