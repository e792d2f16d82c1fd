"""Product search as the API and ``fitsflow products search`` both answer it.

:func:`find_products` is the one function behind ``GET /products`` and the
command, so the two print the same document. Like :mod:`pipeline.api.summary`
it imports no FastAPI: the command runs without the web stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from pipeline import models
from pipeline.api.schemas import Product
from pipeline.db import Database
from pipeline.errors import ValidationError
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
    """A page as read: the catalogue's records, not yet checked documents.

    :meth:`json` writes exactly the :class:`ProductPage` document (same
    fields, same order, same types: a test holds them equal) without
    building and checking a pydantic model per product first, which FastAPI
    then checked again: ~12 % of a 50-product search's CPU in the status API
    (docs/benchmarks.md, "Status endpoint").
    """

    products: list[models.Product]
    next_cursor: str | None

    def json(self) -> bytes:
        return _FOUND_PAGE_JSON.dump_json(self)

    def document(self) -> ProductPage:
        return ProductPage(
            products=[Product.model_validate(product) for product in self.products],
            next_cursor=self.next_cursor,
        )


_FOUND_PAGE_JSON: TypeAdapter[FoundPage] = TypeAdapter(FoundPage)


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
        products=page.products,
        next_cursor=encode_product_cursor(following) if following is not None else None,
    )
