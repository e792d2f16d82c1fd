"""The catalogue's identity rules, applied inside one transaction.

Identity is content (SHA-256):

- content never seen → a new product (``created``), or, when another product
  was current at the same path, a new version that supersedes it
  (``new_version``; the old record is kept, marked superseded);
- content already recorded at the same path → ``unchanged`` (nothing new);
- content recorded elsewhere whose old path no longer holds it → the product
  ``moved`` to the new path (a rename keeps the product);
- content recorded elsewhere and still there → ``duplicate``: one product,
  the job points at it.

Concurrent recordings of the same path or content are serialised by the
adapter's ``lock_key`` (PostgreSQL advisory locks; SQLite has one writer).
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime

from pipeline.db import Connection
from pipeline.ingest.parse import ParsedFile
from pipeline.models import Outcome, Product
from pipeline.repositories import products

__all__ = ["StillAt", "record_product", "record_products", "still_at_recorded_path"]

#: Whether a product's content still lies at its recorded path.
StillAt = Callable[[Product], bool]


def still_at_recorded_path(product: Product) -> bool:
    """True when the file at ``product.path`` still has the recorded size and mtime."""
    try:
        status = os.stat(product.path)
    except OSError:
        return False
    return status.st_size == product.size and status.st_mtime_ns == product.mtime_ns


async def record_product(
    conn: Connection,
    parsed: ParsedFile,
    now: datetime,
    still_at: StillAt = still_at_recorded_path,
) -> tuple[int, Outcome]:
    """Record ``parsed`` by the identity rules; returns the product id and outcome."""
    path = parsed.product.path
    # Always path before content: a fixed order cannot deadlock.
    await conn.lock_key("path:" + path)
    await conn.lock_key("sha256:" + parsed.product.sha256)
    existing = await products.find_by_sha256(conn, parsed.product.sha256)
    if existing is None:
        return await _record_new(conn, parsed, now)
    if existing.path == path and existing.is_current:
        await products.set_location(conn, existing.id, parsed.product.size, parsed.mtime_ns, now)
        return existing.id, Outcome.UNCHANGED
    if existing.path != path and existing.is_current and still_at(existing):
        return existing.id, Outcome.DUPLICATE
    return existing.id, await _take_path(conn, existing, parsed, now)


async def _record_new(conn: Connection, parsed: ParsedFile, now: datetime) -> tuple[int, Outcome]:
    """Insert new content, superseding whatever was current at its path."""
    retired = await products.retire_current(conn, parsed.product.path, now)
    product = parsed.product
    if retired:
        product = dataclasses.replace(product, version=retired[1] + 1)
    product_id = await products.insert_product(conn, product, now)
    await products.insert_hdus(conn, product_id, parsed.hdus)
    if retired:
        await products.link_superseded(conn, retired[0], product_id)
        return product_id, Outcome.NEW_VERSION
    return product_id, Outcome.CREATED


async def _take_path(
    conn: Connection, existing: Product, parsed: ParsedFile, now: datetime
) -> Outcome:
    """Make recorded content ``existing`` the current product at the new path."""
    path = parsed.product.path
    retired = await products.retire_current(conn, path, now, keep=existing.id)
    version = retired[1] + 1 if retired else existing.version
    await products.make_current(
        conn, existing.id, path, parsed.product.size, parsed.mtime_ns, version, now
    )
    if retired:
        await products.link_superseded(conn, retired[0], existing.id)
    if existing.path == path:
        return Outcome.NEW_VERSION  # content that was superseded here came back
    return Outcome.MOVED


async def record_products(
    conn: Connection,
    parsed: Sequence[ParsedFile],
    now: datetime,
    still_at: StillAt = still_at_recorded_path,
) -> list[tuple[int, Outcome]]:
    """:func:`record_product` for many files in one transaction, in few statements.

    The common case — new content at a path with no current product, neither
    repeated in the group — is inserted in bulk; everything else goes through
    the one-file rules above, in the same transaction.
    """
    paths = [item.product.path for item in parsed]
    shas = [item.product.sha256 for item in parsed]
    # Every path key sorts before every content key, as record_product takes them.
    await conn.lock_keys([*("path:" + p for p in paths), *("sha256:" + s for s in shas)])
    known = await products.ids_by_sha256(conn, shas)
    occupied = await products.current_states(conn, paths)
    sha_counts, path_counts = Counter(shas), Counter(paths)
    plain = {
        index
        for index, item in enumerate(parsed)
        if item.product.sha256 not in known
        and item.product.path not in occupied
        and sha_counts[item.product.sha256] == 1
        and path_counts[item.product.path] == 1
    }
    results: list[tuple[int, Outcome] | None] = [None] * len(parsed)
    for index, item in enumerate(parsed):
        if index not in plain:
            results[index] = await record_product(conn, item, now, still_at)
    if plain:
        fresh = [parsed[index] for index in sorted(plain)]
        ids = await products.insert_products(conn, [item.product for item in fresh], now)
        await products.insert_hdus_of(conn, [(ids[i.product.sha256], i.hdus) for i in fresh])
        for index in plain:
            results[index] = (ids[parsed[index].product.sha256], Outcome.CREATED)
    return [result for result in results if result is not None]
