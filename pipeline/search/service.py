"""Running a product search: SQL candidates, the exact sky test, keyset pages.

Products come newest first (descending id, unique and stable: a product
keeps its id for life). A page ends at its last product; the next page is
everything below that id, so a walk through every page sees each product
that matched throughout exactly once, whatever is ingested meanwhile.

SQL decides every filter but the cone, which SQL only narrows to candidates
(see :mod:`pipeline.search.sky`); the exact test rejects some of them, so the
candidates are read in growing batches until the page is full or none are left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.db import Connection
from pipeline.db.sql import Dialect
from pipeline.jsonutil import loads
from pipeline.models import Product, product_values_reader
from pipeline.search.criteria import ProductSearch
from pipeline.search.sky import Cone, product_region, region_touches_cone
from pipeline.search.statement import dialect_for, search_statement

__all__ = ["MAX_CANDIDATE_BATCH", "MIN_CANDIDATE_BATCH", "SearchPage", "search_products"]

#: Candidates read at once for a cone search: at least this many (the exact
#: test may reject some), doubling per batch up to the maximum.
MIN_CANDIDATE_BATCH = 200
MAX_CANDIDATE_BATCH = 5000


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of matching products, newest first."""

    #: Each product's values as :class:`Product` holds them
    #: (:func:`pipeline.models.product_values`): the status API writes them
    #: out as they are, without a record per product.
    values: list[dict[str, Any]]
    #: Continue below this id for the next page; None on the last page.
    next_before_id: int | None

    @property
    def products(self) -> list[Product]:
        return [Product(**values) for values in self.values]


async def search_products(
    conn: Connection,
    dialect: Dialect,
    search: ProductSearch,
    *,
    limit: int,
    before_id: int | None = None,
) -> SearchPage:
    """Up to ``limit`` products matching ``search`` with ids below ``before_id``."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    wanted = limit + 1  # one more than asked says whether another page exists
    sql_dialect = dialect_for(dialect)
    batch = wanted if search.cone is None else max(wanted, MIN_CANDIDATE_BATCH)
    found: list[Sequence[Any]] = []
    columns: tuple[str, ...] = ()
    position = before_id
    while len(found) < wanted:
        statement = search_statement(search, sql_dialect, before_id=position, batch=batch)
        result = await conn.fetch_all_values(statement.sql, statement.params)
        rows, columns = result.rows, result.columns or columns
        touches = _cone_test(search.cone, columns) if search.cone is not None and rows else None
        for row in rows:
            if touches is None or touches(row):
                found.append(row)
                if len(found) == wanted:
                    break
        if len(rows) < batch:
            break  # no candidates left
        position = int(rows[-1][columns.index("id")])
        batch = min(batch * 2, MAX_CANDIDATE_BATCH)
    if not found:
        return SearchPage([], None)
    # The row past the page only says that another page exists.
    values_of = product_values_reader(columns)
    page = [values_of(row) for row in found[:limit]]
    return SearchPage(page, int(page[-1]["id"]) if len(found) > limit else None)


def _cone_test(cone: Cone, columns: tuple[str, ...]) -> Callable[[Sequence[Any]], bool]:
    """Whether a row (values in ``columns``' order) touches ``cone``, exactly."""
    footprint, ra, dec = (columns.index(name) for name in ("footprint", "ra", "dec"))

    def touches(row: Sequence[Any]) -> bool:
        region = product_region(loads(row[footprint]), row[ra], row[dec])
        return region is not None and region_touches_cone(region, cone)

    return touches
