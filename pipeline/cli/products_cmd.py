"""``fitsflow products search``: the catalogue's products, read from the database.

The same search and the same document as the API's ``GET /products`` (one
function answers both: :func:`pipeline.api.product_search.find_products`),
so it works from any host that reaches the database, with no API running.
``--json`` prints the page for scripts; people get a table and the option
that fetches the next page.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from pipeline.api.product_search import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    FoundPage,
    ProductPage,
    find_products,
)
from pipeline.api.schemas import Product
from pipeline.cli.common import (
    ConfigOption,
    DatabaseUrlOption,
    JsonOption,
    load,
    print_json,
    reports_errors,
)
from pipeline.cli.operator import catalogue
from pipeline.search import ProductSearch, build_search
from pipeline.settings import Settings

__all__ = ["app", "search"]

app = typer.Typer(help="Search the catalogue's products.", no_args_is_help=True)


def _text(flag: str, help: str) -> object:
    return typer.Option(flag, help=help)


@app.command("search")
@reports_errors
def search(
    telescope: Annotated[str | None, _text("--telescope", "Any case; X* for a prefix.")] = None,
    instrument: Annotated[str | None, _text("--instrument", "Any case; X* for a prefix.")] = None,
    object: Annotated[str | None, _text("--object", "Any case; 'NGC 1*' for a prefix.")] = None,
    filter: Annotated[str | None, _text("--filter", "Case-sensitive; X* for a prefix.")] = None,
    start: Annotated[
        str | None, _text("--start", "Observed at or after (ISO 8601 or MJD).")
    ] = None,
    end: Annotated[str | None, _text("--end", "Observed before (ISO 8601 or MJD).")] = None,
    where: Annotated[
        list[str] | None,
        typer.Option("--where", "-w", help="Header condition, e.g. 'EXPTIME>300'; repeatable."),
    ] = None,
    ra: Annotated[float | None, typer.Option("--ra", help="Cone centre RA, degrees.")] = None,
    dec: Annotated[float | None, typer.Option("--dec", help="Cone centre Dec, degrees.")] = None,
    radius: Annotated[float | None, typer.Option("--radius", help="Cone radius, degrees.")] = None,
    include_superseded: Annotated[
        bool, typer.Option("--include-superseded", help="Also older contents of rewritten paths.")
    ] = False,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=MAX_PAGE_SIZE, help="Products per page.")
    ] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Next page's cursor.")] = None,
    database_url: DatabaseUrlOption = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """Products matching every filter given, newest first (the API's GET /products)."""
    settings = load(config, database_url)
    criteria = build_search(
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
    page = asyncio.run(_find(settings, criteria, limit, cursor)).document()
    if json_output:
        print_json(page.model_dump(mode="json"))
    else:
        _print(page)


async def _find(
    settings: Settings, criteria: ProductSearch, limit: int, cursor: str | None
) -> FoundPage:
    async with catalogue(settings) as database:
        return await find_products(database, criteria, limit=limit, cursor=cursor)


#: Narrower terminals get two lines per product instead of a table: the path
#: alone is often half a terminal's width.
TABLE_MIN_WIDTH = 140


def _print(page: ProductPage) -> None:
    console = Console(highlight=False)
    if not page.products:
        console.print("no products match")
    elif console.width >= TABLE_MIN_WIDTH:
        console.print(_table(page))
    else:
        for product in page.products:
            console.print(_lines(product), soft_wrap=True, markup=False)
    if page.next_cursor is not None:
        console.print(f"more: add --cursor {page.next_cursor}")


def _table(page: ProductPage) -> Table:
    table = Table(title=f"products ({len(page.products)}, newest first)", box=box.SIMPLE_HEAD)
    for column in ("id", "observed (UTC)", "telescope", "instrument", "object", "filter"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for column in ("exptime", "ra", "dec"):
        table.add_column(column, justify="right")
    table.add_column("path", overflow="fold")
    for product in page.products:
        table.add_row(*_cells(product))
    return table


def _cells(product: Product) -> list[str]:
    """id, observed, telescope, instrument, object, filter, exptime, ra, dec, path."""
    observed = product.obs_start.strftime("%Y-%m-%d %H:%M:%S") if product.obs_start else ""
    return [
        str(product.id),
        observed,
        product.telescope or "",
        product.instrument or "",
        product.object or "",
        product.filter or "",
        _number(product.exptime, "g", " s"),
        _number(product.ra, ".5f"),
        _number(product.dec, "+.5f"),
        product.path,
    ]


def _lines(product: Product) -> str:
    """Two lines for a narrow terminal: the facts, then the path."""
    observed = product.obs_start.strftime("%Y-%m-%d %H:%M") if product.obs_start else ""
    where = "/".join(name for name in (product.telescope, product.instrument) if name)
    position = ""
    if product.ra is not None and product.dec is not None:
        position = f"{product.ra:.4f} {product.dec:+.4f}"
    facts = (observed, where, product.object, product.filter, _number(product.exptime, "g", " s"))
    line = "  ".join(fact for fact in (*facts, position) if fact)
    return f"{product.id:>6}  {line}\n        {product.path}"


def _number(value: float | None, spec: str, unit: str = "") -> str:
    return "" if value is None else format(value, spec) + unit
