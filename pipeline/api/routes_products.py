"""``GET /products``: search the catalogue (see :mod:`pipeline.search` for the rules).

The handler only gathers parameters: :func:`pipeline.search.build_search`
checks them (a 400 ``validation_error`` names each bad one and what is
wrong) and :func:`pipeline.api.product_search.find_products` answers, the
same function ``fitsflow products search`` calls.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from pipeline.api import schemas
from pipeline.api.context import StatusContext
from pipeline.api.errors import bad_parameter
from pipeline.api.product_search import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PRODUCT_CURSOR_PATTERN,
    ProductPage,
    find_products,
)
from pipeline.search import build_search
from pipeline.search.conditions import CONDITION_PATTERN, MAX_CONDITION_LENGTH
from pipeline.search.criteria import MAX_CONDITIONS, MAX_NAME_LENGTH, MJD_PATTERN

__all__ = ["router"]

_NO_NUL = r"^[^\x00]*$"
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.ErrorEnvelope} for status in (400, 403, 500, 503)
}
#: How ``start`` and ``end`` are published: every value the schema admits is
#: accepted (naive ISO date-times, read as UTC, are accepted too).
_INSTANT_SCHEMA = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "format": "date"},
        {"type": "string", "pattern": f"^{MJD_PATTERN.pattern}$"},
        {"type": "null"},
    ]
}
#: ``ra``, ``dec`` and ``radius`` only make sense together: published as one
#: optional object parameter whose properties are all required, serialised as
#: the three query parameters (OpenAPI ``style: form``, ``explode: true``).
_CONE_PARAMETER = {
    "name": "cone",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": True,
    "description": "A cone search: `ra`, `dec` (ICRS degrees) and `radius` (degrees), "
    "all three. It matches a product whose footprint it meets, or without a footprint "
    "whose pointing it contains.",
    "schema": {
        "type": "object",
        "required": ["ra", "dec", "radius"],
        "properties": {
            "ra": {"type": "number", "minimum": 0, "maximum": 360},
            "dec": {"type": "number", "minimum": -90, "maximum": 90},
            "radius": {"type": "number", "minimum": 0, "maximum": 180},
        },
    },
}

#: Parameters that take one value: a second one would silently win.
_SINGLE = (
    "telescope", "instrument", "object", "filter", "start", "end",
    "ra", "dec", "radius", "include_superseded", "limit", "cursor",
)  # fmt: skip


async def _given_once(request: Request) -> None:
    for name in _SINGLE:
        if len(request.query_params.getlist(name)) > 1:
            raise bad_parameter(name, "given more than once; repeat only `where`")


#: Reads guarded as the app includes it (pipeline.api.auth.read_guard).
router = APIRouter(dependencies=[Depends(_given_once)])


async def _context(request: Request) -> StatusContext:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a
    # hand-off to another thread and back on every request.
    context: StatusContext = request.app.state.status
    return context


def _name(description: str) -> Any:
    return Query(min_length=1, max_length=MAX_NAME_LENGTH, pattern=_NO_NUL, description=description)


def _degrees(low: float, high: float) -> Any:
    # Published as part of the ``cone`` object parameter (see _CONE_PARAMETER).
    return Query(ge=low, le=high, allow_inf_nan=False, include_in_schema=False)


def _instant(description: str) -> Any:
    return Query(description=description, json_schema_extra=_INSTANT_SCHEMA)


_WHERE = (
    "A header condition `KEYWORD op VALUE`, op one of `= != < <= > >=` "
    "(`EXPTIME>300`, `OBJECT='M 31'`, `ESO DET DIT<=10`, `GUIDING=T`); repeat "
    "for more, all must hold. Bare numbers compare with numbers, T/F with logical "
    "values, quoted or other text with text; a product matches when any of its HDUs does."
)
_WHERE_ITEMS = {
    "items": {"type": "string", "maxLength": MAX_CONDITION_LENGTH, "pattern": CONDITION_PATTERN}
}


@router.get(
    "/products",
    tags=["catalogue"],
    response_model=ProductPage,
    responses=_ERRORS,
    openapi_extra={"parameters": [_CONE_PARAMETER]},
)
async def search_products(
    context: Annotated[StatusContext, Depends(_context)],
    telescope: Annotated[str | None, _name("Telescope, any case; `X*` for a prefix.")] = None,
    instrument: Annotated[str | None, _name("Instrument, any case; `X*` for a prefix.")] = None,
    object: Annotated[str | None, _name("Object, any case; `NGC 1*` for a prefix.")] = None,
    filter: Annotated[str | None, _name("Filter, case-sensitive; `X*` for a prefix.")] = None,
    start: Annotated[str | None, _instant("Observed at or after: ISO 8601 or MJD.")] = None,
    end: Annotated[str | None, _instant("Observed before: ISO 8601 or MJD.")] = None,
    where: Annotated[
        list[str] | None,
        Query(max_length=MAX_CONDITIONS, description=_WHERE, json_schema_extra=_WHERE_ITEMS),
    ] = None,
    ra: Annotated[float | None, _degrees(0, 360)] = None,
    dec: Annotated[float | None, _degrees(-90, 90)] = None,
    radius: Annotated[float | None, _degrees(0, 180)] = None,
    include_superseded: Annotated[
        bool, Query(description="Also older contents of paths rewritten since.")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None,
        Query(pattern=PRODUCT_CURSOR_PATTERN, description="`next_cursor` of the page before."),
    ] = None,
) -> Response:
    """Products matching every filter given, newest first, one page at a time.

    A cone (`ra`, `dec`, `radius`, all three) matches a product whose
    footprint it meets, or without a footprint whose pointing it contains.
    Only current products unless `include_superseded`.
    """
    search = build_search(
        telescope=telescope,
        instrument=instrument,
        object=object,
        filter=filter,
        start=start,
        end=end,
        where=where or (),
        ra=ra,
        dec=dec,
        radius=radius,
        include_superseded=include_superseded,
    )
    page = await find_products(context.database, search, limit=limit, cursor=cursor)
    # Written by the page itself: the same document as ProductPage, without
    # FastAPI checking and serialising 50-1,000 products model by model.
    return Response(page.json(), media_type="application/json")
