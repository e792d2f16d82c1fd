"""Product search as the API and ``fitsflow products search`` both answer it.

:func:`find_products` is the one function behind ``GET /products`` and the
command, so the two print the same document. Like :mod:`pipeline.api.summary`
it imports no FastAPI: the command runs without the web stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline.api.schemas import Product
from pipeline.db import Database
from pipeline.errors import ValidationError
from pipeline.jsonutil import dumps_document
from pipeline.search import ProductSearch, search_products

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "PRODUCT_CURSOR_PATTERN",
    "FoundPage",
    "ProductPage",
    "decode_product_cursor",
    "encode_product_cursor",
    "find_products",
]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
#: ``p`` and the hexadecimal id of the last product of the page before (at
#: most 2**63 - 1). Published in the schema so that every string it admits
#: is a cursor the API accepts; clients still treat cursors as opaque.
PRODUCT_CURSOR_PATTERN = r"^p[0-7]?[0-9a-f]{1,15}$"


class ProductPage(BaseModel):
    """One page of a product search, newest product first."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    products: list[Product]
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same filters) for the next page; null on the last."
    )


@dataclass(frozen=True, slots=True)
class FoundPage:
    """A page as read: the catalogue's values, not yet checked documents.

    :meth:`json` writes exactly the :class:`ProductPage` document (same
    fields, same order, same types: tests hold them equal) straight from
    each product's values — no record, no pydantic model per product, which
    cost a 50-product search's status API ~3× the CPU of writing the values
    (docs/benchmarks.md, "Status endpoint").
    """

    #: Each product's values as :class:`pipeline.models.Product` holds them.
    values: list[dict[str, Any]]
    next_cursor: str | None

    def json(self) -> bytes:
        page = {"products": self.values, "next_cursor": self.next_cursor}
        return dumps_document(page, self.document)

    def document(self) -> ProductPage:
        return ProductPage(
            products=[Product.model_validate(values) for values in self.values],
            next_cursor=self.next_cursor,
        )


def encode_product_cursor(last_id: int) -> str:
    """The cursor of the page that follows product ``last_id``."""
    return f"p{last_id:x}"


def decode_product_cursor(cursor: str) -> int:
    """The id a cursor continues below; ValidationError naming ``cursor`` otherwise."""
    if re.fullmatch(PRODUCT_CURSOR_PATTERN, cursor) is None:
        message = "not a cursor returned by a product search"
        raise ValidationError(
            f"query parameter 'cursor': {message}",
            details={"parameters": [{"in": "query", "name": "cursor", "message": message}]},
        )
    return int(cursor[1:], 16)


async def find_products(
    database: Database,
    search: ProductSearch,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> FoundPage:
    """One page of the products matching ``search``.

    Read without BEGIN/COMMIT: a page is one statement unless a cone search
    needs more candidates, and those continue below the last id seen, so a
    snapshot across them would add nothing but two round trips.
    """
    before_id = decode_product_cursor(cursor) if cursor is not None else None
    async with database.connection() as conn:
        page = await search_products(
            conn, database.dialect, search, limit=limit, before_id=before_id
        )
    following = page.next_before_id
    return FoundPage(
        values=page.values,
        next_cursor=encode_product_cursor(following) if following is not None else None,
    )
