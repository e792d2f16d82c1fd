"""Product search: sky boxes for cone searches, case-folded names, header containment.

- ``products.sky_dec_min/sky_dec_max/sky_ra_min/sky_ra_max``: a box around
  each product's footprint (or pointing), declination band and RA arc, with
  ``sky_ra_max`` above 360 for an arc across RA 0. Filled at ingest and here
  for the products already recorded.
- ``ix_products_sky_narrow``: boxes at most 5 degrees tall and 10 degrees of
  RA wide (every ordinary image), found by ranges on ``sky_dec_min`` and
  ``sky_ra_min``; ``ix_products_sky_wide``: the others (large fields, and
  footprints near a pole), by declination.
- ``ix_products_search_telescope_instrument``, ``ix_products_search_object``:
  ``lower(...)``, for names matched ignoring case, prefixes included
  (``text_pattern_ops`` on PostgreSQL: byte-order ranges under any collation).
- ``st_products_sky_extent`` (PostgreSQL): statistics on the boxes' sizes,
  so that the planner knows wide boxes are rare (it cannot see inside the
  partial indexes' predicates otherwise).
- ``ix_hdus_header``: GIN ``jsonb_path_ops`` on the headers, for
  ``KEYWORD=value`` as JSONB containment; empty on SQLite, which has no GIN.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SKY_COLUMNS = ("sky_dec_min", "sky_dec_max", "sky_ra_min", "sky_ra_max")
NARROW = sa.text("sky_dec_max - sky_dec_min <= 5.0 AND sky_ra_max - sky_ra_min <= 10.0")
WIDE = sa.text("sky_dec_max - sky_dec_min > 5.0 OR sky_ra_max - sky_ra_min > 10.0")
BACKFILL_BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("products") as batch:
        for name in SKY_COLUMNS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))
    _backfill_sky_boxes()
    postgres = op.get_bind().dialect.name == "postgresql"
    _create_sky_indexes(postgres)
    _create_name_indexes(postgres)
    # SQLite has no GIN; there the index is empty (WHERE 0), as declared.
    op.create_index(
        "ix_hdus_header",
        "hdus",
        ["header"],
        postgresql_using="gin",
        postgresql_ops={"header": "jsonb_path_ops"},
        sqlite_where=sa.text("0"),
    )


def _create_sky_indexes(postgres: bool) -> None:
    op.create_index(
        "ix_products_sky_narrow",
        "products",
        ["sky_dec_min", "sky_ra_min", "sky_dec_max", "sky_ra_max"],
        postgresql_where=NARROW,
        sqlite_where=NARROW,
    )
    op.create_index(
        "ix_products_sky_wide",
        "products",
        ["sky_dec_min", "sky_dec_max"],
        postgresql_where=WIDE,
        sqlite_where=WIDE,
    )
    if postgres:
        # Without statistics on the boxes' sizes the planner guesses that a
        # third of the products are wide, and walks the whole table for a
        # small cone instead of reading two index ranges.
        op.execute(
            "CREATE STATISTICS st_products_sky_extent"
            " ON (sky_dec_max - sky_dec_min), (sky_ra_max - sky_ra_min) FROM products"
        )


def _create_name_indexes(postgres: bool) -> None:
    # text_pattern_ops: prefix ranges in byte order whatever the collation.
    folded = "{} text_pattern_ops" if postgres else "{}"
    telescope, instrument = folded.format("lower(telescope)"), folded.format("lower(instrument)")
    op.execute(
        "CREATE INDEX ix_products_search_telescope_instrument"
        f" ON products ({telescope}, {instrument})"
    )
    op.execute(
        f"CREATE INDEX ix_products_search_object ON products ({folded.format('lower(object)')})"
    )


def _backfill_sky_boxes() -> None:
    """Boxes for the products recorded before this revision, a batch at a time.

    They come from the very function the ingest path calls, so old and new
    rows agree exactly. A later change to how boxes are computed needs a
    revision of its own that recomputes them (the contract tests run this
    one from an empty database, so a renamed function cannot go unnoticed).
    """
    from pipeline.search.sky import sky_box_columns

    bind = op.get_bind()
    select = sa.text(
        "SELECT id, footprint, ra, dec FROM products WHERE id > :after"
        " AND (footprint IS NOT NULL OR (ra IS NOT NULL AND dec IS NOT NULL))"
        " ORDER BY id LIMIT :size"
    )
    update = sa.text(
        "UPDATE products SET "
        + ", ".join(f"{name} = :{name}" for name in SKY_COLUMNS)
        + " WHERE id = :id"
    )
    after = 0
    while rows := bind.execute(select, {"after": after, "size": BACKFILL_BATCH}).all():
        boxes = [
            {"id": row.id, **sky_box_columns(_json(row.footprint), row.ra, row.dec)} for row in rows
        ]
        bind.execute(update, boxes)
        after = rows[-1].id


def _json(value: Any) -> Any:
    # SQLite hands back the stored text; SQLAlchemy's asyncpg dialect decodes JSONB.
    return json.loads(value) if isinstance(value, str | bytes) else value


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS st_products_sky_extent")
    op.drop_index("ix_hdus_header", table_name="hdus")
    op.drop_index("ix_products_search_object", table_name="products")
    op.drop_index("ix_products_search_telescope_instrument", table_name="products")
    op.drop_index("ix_products_sky_wide", table_name="products")
    op.drop_index("ix_products_sky_narrow", table_name="products")
    with op.batch_alter_table("products") as batch:
        for name in reversed(SKY_COLUMNS):
            batch.drop_column(name)
