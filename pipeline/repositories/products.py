"""Products and their HDUs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.db import Connection, ManyRows
from pipeline.jsonutil import dumps
from pipeline.models import HduRecord, Product
from pipeline.repositories.batching import fetch_in, unnest_insert, values_in
from pipeline.search.sky import SKY_BOX_COLUMNS, sky_box_columns

__all__ = [
    "NewHdu",
    "NewProduct",
    "count_products",
    "current_at_path",
    "current_states",
    "find_by_sha256",
    "find_unchanged",
    "get_product",
    "hdus_of",
    "ids_by_sha256",
    "insert_hdus",
    "insert_hdus_of",
    "insert_product",
    "insert_products",
    "link_superseded",
    "make_current",
    "retire_current",
    "set_location",
]


@dataclass(frozen=True, slots=True)
class NewProduct:
    """Everything recorded about a new content, before it has an id."""

    sha256: str
    path: str
    size: int
    mtime_ns: int
    version: int
    compression: str
    hdu_count: int
    checksum_status: str
    fields: dict[str, Any]
    warnings: list[dict[str, Any]]
    #: The row's values but its time stamps, computed once on construction:
    #: where the file is read (a reader process or thread), not in the
    #: writers' transactions on the event loop (the sky box alone is ~30 µs).
    columns: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", _product_columns(self))


@dataclass(frozen=True, slots=True)
class NewHdu:
    """One HDU row to insert."""

    hdu_index: int
    name: str | None
    kind: str
    naxis: list[int]
    bitpix: int
    data_size: int
    header_offset: int
    data_offset: int
    checksum_status: str
    footprint: list[list[float]] | None
    #: JSON text: encoded where the file is read (see ingest.parse.ParsedFile).
    header_json: str
    cards_json: str


#: The normalised columns filled from the extracted fields.
FIELD_COLUMNS = (
    "telescope",
    "instrument",
    "object",
    "observer",
    "obs_start",
    "mjd_obs",
    "exptime",
    "filter",
    "ra",
    "dec",
    "footprint",
    "naxis",
    "bitpix",
    "bunit",
    "beam_major",
    "beam_minor",
    "beam_pa",
    "frequency",
    "science_hdu",
)
_JSON_FIELDS = frozenset({"footprint", "naxis"})

INSERT_PRODUCT_SQL = (
    "INSERT INTO products (sha256, path, size, mtime_ns, version, is_current, compression,"
    " hdu_count, checksum_status, "
    + ", ".join(FIELD_COLUMNS + SKY_BOX_COLUMNS)
    + ", warnings, created_at, updated_at) VALUES (:sha256, :path, :size, :mtime_ns,"
    " :version, TRUE, :compression, :hdu_count, :checksum_status, "
    + ", ".join(f":{name}" for name in FIELD_COLUMNS + SKY_BOX_COLUMNS)
    + ", :warnings, :now, :now) RETURNING id"
)
INSERT_HDU_SQL = (
    "INSERT INTO hdus (product_id, hdu_index, name, kind, naxis, bitpix, data_size,"
    " header_offset, data_offset, checksum_status, footprint, header, cards)"
    " VALUES (:product_id, :hdu_index, :name, :kind, :naxis, :bitpix, :data_size,"
    " :header_offset, :data_offset, :checksum_status, :footprint, :header, :cards)"
)
HDU_COLUMN_TYPES: dict[str, str] = {
    "product_id": "bigint",
    "hdu_index": "integer",
    "name": "text",
    "kind": "text",
    "naxis": "jsonb",
    "bitpix": "integer",
    "data_size": "bigint",
    "header_offset": "bigint",
    "data_offset": "bigint",
    "checksum_status": "text",
    "footprint": "jsonb",
    "header": "jsonb",
    "cards": "json",
}
INSERT_HDUS = ManyRows(each=INSERT_HDU_SQL, arrays=unnest_insert("hdus", HDU_COLUMN_TYPES))
SELECT_BY_SHA256_SQL = "SELECT * FROM products WHERE sha256 = :sha256"
SELECT_BY_ID_SQL = "SELECT * FROM products WHERE id = :id"
SELECT_CURRENT_AT_PATH_SQL = "SELECT * FROM products WHERE path = :path AND is_current"
SELECT_UNCHANGED_SQL = (
    "SELECT id FROM products WHERE path = :path AND is_current"
    " AND size = :size AND mtime_ns = :mtime_ns"
)
RETIRE_CURRENT_SQL = (
    "UPDATE products SET is_current = FALSE, superseded_at = :now, updated_at = :now"
    " WHERE path = :path AND is_current AND id <> :keep RETURNING id, version"
)
LINK_SUPERSEDED_SQL = "UPDATE products SET superseded_by = :by WHERE id = :id"
MAKE_CURRENT_SQL = (
    "UPDATE products SET path = :path, size = :size, mtime_ns = :mtime_ns, version = :version,"
    " is_current = TRUE, superseded_by = NULL, superseded_at = NULL, updated_at = :now"
    " WHERE id = :id"
)
SET_LOCATION_SQL = (
    "UPDATE products SET size = :size, mtime_ns = :mtime_ns, updated_at = :now WHERE id = :id"
)
SELECT_HDUS_SQL = "SELECT * FROM hdus WHERE product_id = :product_id ORDER BY hdu_index"
COUNT_PRODUCTS_SQL = "SELECT COUNT(*) FROM products"


async def find_by_sha256(conn: Connection, sha256: str) -> Product | None:
    row = await conn.fetch_one(SELECT_BY_SHA256_SQL, {"sha256": sha256})
    return Product.from_row(row) if row else None


async def get_product(conn: Connection, product_id: int) -> Product | None:
    row = await conn.fetch_one(SELECT_BY_ID_SQL, {"id": product_id})
    return Product.from_row(row) if row else None


async def current_at_path(conn: Connection, path: str) -> Product | None:
    row = await conn.fetch_one(SELECT_CURRENT_AT_PATH_SQL, {"path": path})
    return Product.from_row(row) if row else None


async def find_unchanged(conn: Connection, path: str, size: int, mtime_ns: int) -> int | None:
    """The current product at ``path`` if the file's size and mtime still match it."""
    value = await conn.fetch_value(
        SELECT_UNCHANGED_SQL, {"path": path, "size": size, "mtime_ns": mtime_ns}
    )
    return int(value) if value is not None else None


CURRENT_STATES = values_in(
    "SELECT path, size, mtime_ns FROM products WHERE is_current AND path {values}", "p", "text"
)


async def current_states(conn: Connection, paths: Sequence[str]) -> dict[str, tuple[int, int]]:
    """``path → (size, mtime_ns)`` of the current product at each of ``paths`` that has one."""
    rows = await fetch_in(conn, CURRENT_STATES, paths)
    return {str(row["path"]): (int(row["size"]), int(row["mtime_ns"])) for row in rows}


def _product_columns(product: NewProduct) -> dict[str, Any]:
    columns: dict[str, Any] = {
        "sha256": product.sha256,
        "path": product.path,
        "size": product.size,
        "mtime_ns": product.mtime_ns,
        "version": product.version,
        "compression": product.compression,
        "hdu_count": product.hdu_count,
        "checksum_status": product.checksum_status,
        "warnings": dumps(product.warnings),
    }
    for name in FIELD_COLUMNS:
        value = product.fields.get(name)
        columns[name] = dumps(value) if name in _JSON_FIELDS and value is not None else value
    # The box cone searches prefilter on (pipeline.search.sky).
    fields = product.fields
    columns.update(sky_box_columns(fields.get("footprint"), fields.get("ra"), fields.get("dec")))
    return columns


def _product_params(product: NewProduct, now: datetime) -> dict[str, Any]:
    return {**product.columns, "now": now}


async def insert_product(conn: Connection, product: NewProduct, now: datetime) -> int:
    return int(await conn.fetch_value(INSERT_PRODUCT_SQL, _product_params(product, now)))


# The same insert without RETURNING: drivers run it once per row in one trip.
INSERT_PRODUCTS_SQL = INSERT_PRODUCT_SQL.removesuffix(" RETURNING id")
#: Each column's PostgreSQL type: the arrays PostgreSQL inserts a group from.
PRODUCT_COLUMN_TYPES: dict[str, str] = {
    "sha256": "text",
    "path": "text",
    "size": "bigint",
    "mtime_ns": "bigint",
    "version": "integer",
    "compression": "text",
    "hdu_count": "integer",
    "checksum_status": "text",
    "telescope": "text",
    "instrument": "text",
    "object": "text",
    "observer": "text",
    "obs_start": "timestamptz",
    "mjd_obs": "float8",
    "exptime": "float8",
    "filter": "text",
    "ra": "float8",
    "dec": "float8",
    "footprint": "jsonb",
    "naxis": "jsonb",
    "bitpix": "integer",
    "bunit": "text",
    "beam_major": "float8",
    "beam_minor": "float8",
    "beam_pa": "float8",
    "frequency": "float8",
    "science_hdu": "integer",
    **dict.fromkeys(SKY_BOX_COLUMNS, "float8"),
    "warnings": "jsonb",
}
INSERT_PRODUCTS = ManyRows(
    each=INSERT_PRODUCTS_SQL,
    arrays=unnest_insert(
        "products",
        PRODUCT_COLUMN_TYPES,
        {"is_current": "TRUE", "created_at": ":now", "updated_at": ":now"},
    ),
    shared=frozenset({"now"}),
)
SELECT_IDS_BY_SHA256 = values_in(
    "SELECT id, sha256 FROM products WHERE sha256 {values}", "s", "text"
)


async def insert_products(
    conn: Connection, new_products: Sequence[NewProduct], now: datetime
) -> dict[str, int]:
    """Insert many new contents in one trip; ``sha256 → id``."""
    await conn.execute_rows(INSERT_PRODUCTS, [_product_params(p, now) for p in new_products])
    return await ids_by_sha256(conn, [product.sha256 for product in new_products])


async def ids_by_sha256(conn: Connection, shas: Sequence[str]) -> dict[str, int]:
    """``sha256 → id`` for the recorded contents among ``shas``."""
    rows = await fetch_in(conn, SELECT_IDS_BY_SHA256, shas)
    return {str(row["sha256"]): int(row["id"]) for row in rows}


def _hdu_params(product_id: int, hdu: NewHdu) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "hdu_index": hdu.hdu_index,
        "name": hdu.name,
        "kind": hdu.kind,
        "naxis": dumps(hdu.naxis),
        "bitpix": hdu.bitpix,
        "data_size": hdu.data_size,
        "header_offset": hdu.header_offset,
        "data_offset": hdu.data_offset,
        "checksum_status": hdu.checksum_status,
        "footprint": dumps(hdu.footprint) if hdu.footprint is not None else None,
        "header": hdu.header_json,
        "cards": hdu.cards_json,
    }


async def insert_hdus(conn: Connection, product_id: int, hdus: Sequence[NewHdu]) -> None:
    await conn.execute_rows(INSERT_HDUS, [_hdu_params(product_id, hdu) for hdu in hdus])


async def insert_hdus_of(conn: Connection, rows: Sequence[tuple[int, Sequence[NewHdu]]]) -> None:
    """The HDUs of many products, ``(product_id, hdus)`` each, in one trip."""
    params = [_hdu_params(product_id, hdu) for product_id, hdus in rows for hdu in hdus]
    await conn.execute_rows(INSERT_HDUS, params)


async def retire_current(
    conn: Connection, path: str, now: datetime, keep: int = 0
) -> tuple[int, int] | None:
    """Stop the product current at ``path`` (other than ``keep``) being current.

    Returns its ``(id, version)``, or None when no product was current there.
    The partial unique index on current paths needs this before another product
    takes the path; :func:`link_superseded` then names its successor.
    """
    row = await conn.fetch_one(RETIRE_CURRENT_SQL, {"path": path, "keep": keep, "now": now})
    return (int(row["id"]), int(row["version"])) if row else None


async def link_superseded(conn: Connection, product_id: int, by: int) -> None:
    await conn.execute(LINK_SUPERSEDED_SQL, {"id": product_id, "by": by})


async def make_current(
    conn: Connection,
    product_id: int,
    path: str,
    size: int,
    mtime_ns: int,
    version: int,
    now: datetime,
) -> None:
    """Record that product ``product_id`` now lies at ``path`` (retire the old one first)."""
    await conn.execute(
        MAKE_CURRENT_SQL,
        {
            "id": product_id,
            "path": path,
            "size": size,
            "mtime_ns": mtime_ns,
            "version": version,
            "now": now,
        },
    )


async def set_location(
    conn: Connection, product_id: int, size: int, mtime_ns: int, now: datetime
) -> None:
    """Refresh the size and mtime seen for a product at its unchanged path."""
    await conn.execute(
        SET_LOCATION_SQL, {"id": product_id, "size": size, "mtime_ns": mtime_ns, "now": now}
    )


async def hdus_of(conn: Connection, product_id: int) -> list[HduRecord]:
    rows = await conn.fetch_all(SELECT_HDUS_SQL, {"product_id": product_id})
    return [HduRecord.from_row(row) for row in rows]


async def count_products(conn: Connection) -> int:
    return int(await conn.fetch_value(COUNT_PRODUCTS_SQL))
