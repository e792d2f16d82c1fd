"""``GET /products`` and ``fitsflow products search`` as their users meet them.

Over the known catalogue of :mod:`tests.support.product_files`, ingested for
real on each backend: filters over HTTP, 400s that name the parameter, pages
walked by cursor, the token rule, the command's ``--json`` against the API
and its table, and schemathesis against the published schema of the endpoint.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from pipeline.api import create_app
from pipeline.api.product_search import find_products
from pipeline.db import Database
from pipeline.search import build_search
from pipeline.settings import Settings
from tests.acceptance.conftest import FixedBrokerProbe, asgi_client
from tests.acceptance.test_status_cli import fitsflow
from tests.support.live_api import live_api_over
from tests.support.product_files import KnownCatalogue, ingest_known_products
from tests.support.schemathesis_cases import validate_as_sent

TOKEN = "s3cret-token-for-tests"
ENVELOPE_KEYS = {"error", "message", "details"}


@pytest.fixture
async def known(database: Database, tmp_path: Path) -> KnownCatalogue:
    return await ingest_known_products(database, tmp_path / "files")


@pytest.fixture
async def http(database: Database, known: KnownCatalogue) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(database, FixedBrokerProbe(), settings=Settings())
    async with asgi_client(app) as client:
        yield client


async def _names(http: httpx.AsyncClient, known: KnownCatalogue, params: Any) -> set[str]:
    response = await http.get("/products", params=params)
    assert response.status_code == 200, response.text
    return known.names([product["id"] for product in response.json()["products"]])


async def test_filters_over_http(http: httpx.AsyncClient, known: KnownCatalogue) -> None:
    assert await _names(http, known, {"telescope": "int", "filter": "R"}) == {"m33"}
    assert await _names(http, known, {"object": "NGC 12*"}) == {"across_ra_zero", "over_north_pole"}
    where = [("where", "EXPTIME>300"), ("where", "ESO DET DIT>10")]
    assert await _names(http, known, where) == {"over_north_pole"}
    assert await _names(http, known, {"start": "58849", "end": "2020-06-01T12:00:00"}) == {"m31"}
    cone = {"ra": "0.0", "dec": "90", "radius": "0"}
    assert await _names(http, known, cone) == {"over_north_pole"}
    assert await _names(http, known, {"ra": 0.1, "dec": -5, "radius": 0.05}) == {"across_ra_zero"}
    old = {"object": "old*", "include_superseded": "true"}
    assert await _names(http, known, old) == {"rewritten#1"}
    response = await http.get("/products", params={"object": "m31"})
    product = response.json()["products"][0]
    assert product["telescope"] == "INT" and product["footprint"] and "hdus" not in product
    assert product["obs_start"] == "2020-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("params", "name", "problem"),
    [
        ({"where": "EXPTIME>>300"}, "where", "unknown operator '>>'"),
        ({"where": "EXPTIME"}, "where", "no operator"),
        ({"where": "OBJECT="}, "where", "value is missing"),
        ({"where": "OBJECT='M31"}, "where", "not closed"),
        ({"start": "last tuesday"}, "start", "neither ISO 8601"),
        ({"end": "2024-13-01"}, "end", "neither ISO 8601"),
        ({"ra": "10"}, "dec", "ra, dec and radius together"),
        ({"ra": "400", "dec": "0", "radius": "1"}, "ra", "less than or equal to 360"),
        ({"ra": "nan", "dec": "0", "radius": "1"}, "ra", "finite number"),
        ({"radius": "-1", "ra": "0", "dec": "0"}, "radius", "greater than or equal to 0"),
        ({"telescope": ""}, "telescope", "at least 1 character"),
        ({"object": "M\x0031"}, "object", "pattern"),
        ({"limit": "0"}, "limit", "greater than or equal to 1"),
        ({"cursor": "c12"}, "cursor", "pattern"),
        ({"include_superseded": "maybe"}, "include_superseded", "boolean"),
    ],
)
async def test_bad_parameters_are_400_naming_them(
    http: httpx.AsyncClient, params: dict[str, str], name: str, problem: str
) -> None:
    response = await http.get("/products", params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == ENVELOPE_KEYS and body["error"] == "validation_error"
    named = [p for p in body["details"]["parameters"] if p["name"] == name]
    assert named and problem in named[0]["message"], body
    assert name in body["message"]


async def test_pages_by_cursor(http: httpx.AsyncClient, known: KnownCatalogue) -> None:
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2, "include_superseded": "true"}
    while True:
        page = (await http.get("/products", params=params)).raise_for_status().json()
        seen += [product["id"] for product in page["products"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == sorted(known.ids.values(), reverse=True)


async def test_pages_are_written_as_the_published_document(
    database: Database, http: httpx.AsyncClient, known: KnownCatalogue
) -> None:
    """The endpoint writes pages without a pydantic model per product
    (:meth:`FoundPage.json`): byte for byte what the documented ProductPage gives."""
    response = await http.get("/products", params={"include_superseded": "true", "limit": 1000})
    found = await find_products(database, build_search(include_superseded=True), limit=1000)
    documented = found.document().model_dump_json().encode()
    assert response.headers["content-type"] == "application/json"
    assert response.content == found.json() == documented
    assert len(found.values) == len(known.ids)
    assert any(product["superseded_at"] is not None for product in found.values)


async def test_reads_can_require_the_token(database: Database, known: KnownCatalogue) -> None:
    protected = Settings(api={"token": TOKEN, "protect_reads": True})
    app = create_app(database, FixedBrokerProbe(), settings=protected)
    async with asgi_client(app) as client:
        refused = await client.get("/products")
        allowed = await client.get("/products", headers={"Authorization": f"Bearer {TOKEN}"})
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert allowed.status_code == 200 and len(allowed.json()["products"]) == len(known.ids) - 1


# --- the command ----------------------------------------------------------------------------


async def test_json_agrees_with_the_api(
    http: httpx.AsyncClient, migrated_database_url: str
) -> None:
    arguments = ["--telescope", "INT*", "--where", "EXPTIME>=300", "--limit", "1"]
    code, stdout, stderr = await fitsflow(
        "products", "search", *arguments, "--json", "--database-url", migrated_database_url
    )
    assert code == 0, stderr
    printed = json.loads(stdout)
    params = {"telescope": "INT*", "where": "EXPTIME>=300", "limit": 1}
    served = (await http.get("/products", params=params)).raise_for_status().json()
    assert printed == served and len(printed["products"]) == 1 and printed["next_cursor"]
    code, stdout, _ = await fitsflow(
        "products", "search", *arguments, "--cursor", printed["next_cursor"], "--json",
        "--database-url", migrated_database_url,
    )  # fmt: skip
    params["cursor"] = printed["next_cursor"]
    assert json.loads(stdout) == (await http.get("/products", params=params)).json()


async def test_lines_and_tables_for_people_and_errors_for_scripts(
    known: KnownCatalogue, migrated_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    search = ["products", "search", "--object", "m3*", "--database-url", migrated_database_url]
    monkeypatch.setenv("COLUMNS", "80")
    code, stdout, stderr = await fitsflow(*search, "--limit", "1")
    assert code == 0, stderr
    newest = known.ids["near_south_pole"]
    assert stdout.splitlines() == [
        f"{newest:>6}  2022-02-02 02:02  ESO-VLT-U1/FORS2  M31 halo  300.0000 -89.0000",
        f"        {known.root / 'near_south_pole.fits'}",
        f"more: add --cursor p{newest:x}",
    ]
    monkeypatch.setenv("COLUMNS", "200")
    code, stdout, stderr = await fitsflow(*search)
    assert code == 0, stderr
    rows = [line.split() for line in stdout.splitlines()]
    assert [row[0] for row in rows if row and row[0].isdigit()] == [
        str(known.ids[name]) for name in ("near_south_pole", "m33", "m31")
    ]
    assert "more:" not in stdout
    code, stdout, stderr = await fitsflow(
        "products", "search", "--where", "EXPTIME>>1", "--ra", "10",
        "--database-url", migrated_database_url,
    )  # fmt: skip
    assert code == 2 and stdout == ""
    assert "validation_error" in stderr and "EXPTIME>>1" in stderr and "dec" in stderr


# --- schemathesis ---------------------------------------------------------------------------


@pytest.fixture
def live_products_api(migrated_database_url: str, tmp_path: Path) -> Iterator[str]:
    with live_api_over(migrated_database_url, tmp_path / "files", ingest_known_products) as url:
        yield url


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schemathesis_finds_no_server_error(live_products_api: str, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{live_products_api}/openapi.json")
    operation = schema["/products"]["GET"]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    def answers_well(case: Any) -> None:
        response = case.call()
        assert response.status_code < 500, (case.query, response.text)
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == ENVELOPE_KEYS, body
        validate_as_sent(case, response)

    answers_well()
