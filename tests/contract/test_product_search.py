"""Product search on SQLite and PostgreSQL alike, over files ingested for real.

Every filter is checked against :data:`~tests.support.product_files.KNOWN_PRODUCTS`,
whose headers astropy wrote; cone searches against a brute-force check on the
images' own WCS (astropy, not fitsflow); pages are walked to the end.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.db import Database, migrate
from pipeline.errors import ValidationError
from pipeline.ingest.service import IngestService
from pipeline.jsonutil import loads
from pipeline.search import ProductSearch, build_search, search_products
from pipeline.search.sky import Cone, box_of_product
from pipeline.search.statement import dialect_for, search_statement
from pipeline.settings import ReaderSettings
from tests.support.databases import ONLY_POSTGRESQL, opened_database
from tests.support.product_files import (
    KNOWN_PRODUCTS,
    REWRITTEN,
    ImageSpec,
    KnownCatalogue,
    image_wcs,
    ingest_known_products,
    write_product_file,
)

EVERYTHING_CURRENT = {*KNOWN_PRODUCTS, REWRITTEN}
EXPOSED = {name for name, spec in KNOWN_PRODUCTS.items() if "EXPTIME" in spec.cards}


@pytest.fixture
async def known(database: Database, tmp_path: Path) -> KnownCatalogue:
    return await ingest_known_products(database, tmp_path / "files")


async def _all_ids(database: Database, search: ProductSearch, limit: int = 1000) -> list[int]:
    """Every matching id, walking the pages."""
    found: list[int] = []
    before: int | None = None
    while True:
        async with database.transaction(write=False) as tx:
            page = await search_products(
                tx, database.dialect, search, limit=limit, before_id=before
            )
        found += [product.id for product in page.products]
        if page.next_before_id is None:
            return found
        before = page.next_before_id


async def _names(database: Database, known: KnownCatalogue, **parameters: Any) -> set[str]:
    return known.names(await _all_ids(database, build_search(**parameters)))


# --- names, time, supersession -------------------------------------------------------------


NAME_AND_TIME_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({}, EVERYTHING_CURRENT),
    ({"telescope": "INT"}, {"m31", "m33"}),
    ({"telescope": "int"}, {"m31", "m33"}),
    ({"telescope": "IN"}, set()),
    ({"telescope": "IN*"}, {"m31", "m33"}),
    ({"telescope": "lcogt-1M0"}, {"pointing_only"}),
    ({"instrument": "wf*", "object": "m33"}, {"m33"}),
    ({"object": "NGC 12*"}, {"across_ra_zero", "over_north_pole"}),
    ({"object": "ngc 12"}, {"over_north_pole"}),
    ({"object": "m31*"}, {"m31", "near_south_pole"}),
    ({"object": "*"}, EVERYTHING_CURRENT - {"pointing_only"}),
    ({"filter": "r"}, {"m31"}),
    ({"filter": "R"}, {"m33"}),
    ({"filter": "H*"}, {"across_ra_zero"}),
    ({"filter": "h*"}, set()),
    ({"start": "2020-01-01"}, {"m31", "m33", "across_ra_zero", "near_south_pole"}),
    ({"start": "2020-01-01T00:00:01"}, {"m33", "across_ra_zero", "near_south_pole"}),
    ({"end": "2020-01-01"}, {"over_north_pole"}),
    ({"start": "2020-01-01", "end": "2020-06-01T12:00:00"}, {"m31"}),
    # MJD 58849 is 2020-01-01T00:00 UTC, 59000 is 2020-05-31.
    ({"start": "58849", "end": "59000"}, {"m31"}),
    ({"start": "58849.0", "end": "2021-01-01"}, {"m31", "m33"}),
]


# One catalogue per backend for a whole table of cases: ingesting it is most
# of the time a case takes.
async def test_names_and_times(
    database: Database, known: KnownCatalogue, subtests: pytest.Subtests
) -> None:
    for parameters, expected in NAME_AND_TIME_CASES:
        with subtests.test(msg=str(parameters)):
            assert await _names(database, known, **parameters) == expected


async def test_superseded_products_only_when_asked(
    database: Database, known: KnownCatalogue
) -> None:
    assert await _names(database, known, object="*content") == set()
    assert await _names(database, known, object="old*") == set()
    assert await _names(database, known, object="old*", include_superseded=True) == {
        REWRITTEN + "#1"
    }
    everything = await _names(database, known, include_superseded=True)
    assert everything == EVERYTHING_CURRENT | {REWRITTEN + "#1"}


# --- header conditions ---------------------------------------------------------------------


HEADER_CASES: list[tuple[list[str], set[str]]] = [
        (["EXPTIME>300"], {"m33", "over_north_pole"}),
        (["EXPTIME>=300"], {"m31", "m33", "over_north_pole"}),
        (["EXPTIME=300.0"], {"m31"}),
        (["EXPTIME=0"], {"pointing_only"}),
        (["EXPTIME<30"], {"pointing_only", "no_position"}),
        (["EXPTIME!=300"], EXPOSED - {"m31"}),
        # A number never matches a string value, however numeric it looks ...
        (["AIRMASS<=1.5"], {"m31", "near_south_pole"}),
        # ... and text matches text only. The extension's AIRMASS counts.
        (["AIRMASS='1.1'"], {"across_ra_zero"}),
        (["AIRMASS=1.1"], set()),
        (["AIRMASS>1.3", "AIRMASS<1.5"], {"near_south_pole"}),
        (["IMAGETYP=science"], {"m31", "near_south_pole"}),
        (["IMAGETYP!=bias"], {"m31", "across_ra_zero", "near_south_pole", "no_position"}),
        (["IMAGETYP>=s"], {"m31", "near_south_pole"}),
        (["IMAGETYP<a"], {"across_ra_zero"}),  # upper case sorts before lower case
        (["DATE-OBS>=2020-06-01"], {"m33", "across_ra_zero", "near_south_pole"}),
        (["ESO DET DIT>6"], {"over_north_pole"}),
        (["HIERARCH ESO DET DIT<=5"], {"near_south_pole"}),
        (["eso det dit>=5", "GUIDING=F"], {"near_south_pole"}),
        (["GUIDING=T"], {"over_north_pole"}),
        (["GUIDING!=T"], {"near_south_pole"}),
        (["GUIDING<T"], {"near_south_pole"}),  # F before T
        (["GUIDING>=f"], {"over_north_pole", "near_south_pole"}),
        (["GUIDING=1"], set()),  # a number is not a logical value
        # Beyond a double: every number is below it; no number equals it.
        (["EXPTIME<1e999"], EXPOSED),
        (["EXPTIME=1e999"], set()),
        (["EXPTIME>-1e999", "EXPTIME<=9223372036854775808"], EXPOSED),
        (["COMMENT=x"], set()),
        (["OBJECT='M31'"], {"m31"}),
        (["OBJECT=M31 halo"], {"near_south_pole"}),
        (["TELESCOP=INT", "FILTER=R"], {"m33"}),
        (["NOSUCHKEY=1"], set()),
        (["NAXIS1>50", "NAXIS2=40"], {"m31", "m33", "over_north_pole", "no_position", REWRITTEN}),
]  # fmt: skip


async def test_header_conditions(
    database: Database, known: KnownCatalogue, subtests: pytest.Subtests
) -> None:
    for where, expected in HEADER_CASES:
        with subtests.test(msg=" & ".join(where)):
            assert await _names(database, known, where=where) == expected


INJECTION_ATTEMPTS = [
    "x'); DROP TABLE products; --",
    "' OR '1'='1",
    "M31' OR 1=1 --",
    '$."OBJECT"',
    "$$ || pg_sleep(5) $$",
    "%",
    "_",
    "*",
]


async def test_injection_attempts_stay_data(database: Database, known: KnownCatalogue) -> None:
    for attempt in INJECTION_ATTEMPTS:
        await _attempt(database, known, attempt)
    assert await database.fetch_value("SELECT COUNT(*) FROM products") == len(known.ids)


async def _attempt(database: Database, known: KnownCatalogue, attempt: str) -> None:
    quoted = "'" + attempt.replace("'", "''") + "'"
    for parameters in (
        {"object": attempt},
        {"telescope": attempt + "*"},
        {"where": [f"OBJECT={quoted}"]},
        {"where": [f"OBJECT!={quoted}", "OBJECT=M31"]},
    ):
        try:
            found = await _names(database, known, **parameters)
        except ValidationError:
            continue
        if attempt == "*" and "object" in parameters:
            continue  # a lone * is the documented "any name"
        assert found in (set(), {"m31"}), (parameters, found)


async def test_any_hdu_and_combinations(database: Database, known: KnownCatalogue) -> None:
    # XTENSION is only in extensions; AIRMASS of near_south_pole too.
    assert await _names(database, known, where=["XTENSION=BINTABLE"]) == {"near_south_pole"}
    both = await _names(database, known, telescope="ESO*", where=["XTENSION=BINTABLE"])
    assert both == {"near_south_pole"}
    assert await _names(database, known, telescope="INT", where=["EXPTIME>1000"]) == set()


# --- sky ---------------------------------------------------------------------------------


def _brute_force_touch(spec: ImageSpec, cone: Cone) -> bool | None:
    """Whether the cone meets the image, from astropy's WCS; None if too close to call."""
    centre = SkyCoord(cone.ra, cone.dec, unit="deg")
    if spec.centre is None:
        return False
    if spec.pointing_only:
        distance = centre.separation(SkyCoord(*spec.centre, unit="deg")).deg
        return None if abs(distance - cone.radius) < 1e-7 else bool(distance <= cone.radius)
    wcs = image_wcs(spec)
    ny, nx = spec.shape
    if centre.separation(SkyCoord(*spec.centre, unit="deg")).deg < 80.0:
        x, y = wcs.world_to_pixel(centre)
        # FITS pixel edges are at 0.5 and N + 0.5; astropy counts from 0.
        if -0.5 <= x <= nx - 0.5 and -0.5 <= y <= ny - 0.5:
            return True
    steps = 2000
    t = np.linspace(0.0, 1.0, steps)
    xs = np.concatenate([t * nx, np.full(steps, nx), (1 - t) * nx, np.zeros(steps)]) - 0.5
    ys = np.concatenate([np.zeros(steps), t * ny, np.full(steps, ny), (1 - t) * ny]) - 0.5
    boundary = wcs.pixel_to_world(xs, ys)
    distance = float(centre.separation(boundary).deg.min())
    spacing = spec.scale * max(nx, ny) / steps
    if abs(distance - cone.radius) <= spacing:
        return None
    return distance <= cone.radius


KNOWN_CONES = [
    # (cone, products that must match)
    (Cone(10.68, 41.27, 0.0), {"m31"}),
    (Cone(0.1, -5.0, 0.05), {"across_ra_zero"}),  # east of RA 0, image centred at 359.9
    (Cone(359.2, -5.0, 0.1), set()),  # its western edge is near RA 359.4
    (Cone(359.2, -5.0, 0.25), {"across_ra_zero"}),
    (Cone(0.0, 90.0, 0.0), {"over_north_pole"}),
    (Cone(225.0, 89.9, 0.05), {"over_north_pole"}),  # the other side of the pole
    (Cone(0.0, -90.0, 0.5), set()),
    (Cone(0.0, -90.0, 0.75), {"near_south_pole"}),  # its nearest edge is 0.7 away
    (Cone(180.0, 0.0, 0.001), {"pointing_only"}),
    (Cone(180.0, 1.0, 0.001), {"wide"}),  # 20 degrees tall: the wide index
    (Cone(180.0, 19.5, 0.1), {"wide"}),
    (Cone(100.0, 0.0, 180.0), EVERYTHING_CURRENT - {"no_position"}),
]


async def test_known_cones(
    database: Database, known: KnownCatalogue, subtests: pytest.Subtests
) -> None:
    for cone, expected in KNOWN_CONES:
        with subtests.test(msg=str(cone)):
            found = await _names(database, known, ra=cone.ra, dec=cone.dec, radius=cone.radius)
            assert found == expected


async def test_boxes_are_stored_at_ingest(database: Database, known: KnownCatalogue) -> None:
    rows = await database.fetch_all(
        "SELECT id, footprint, ra, dec, sky_dec_min, sky_dec_max, sky_ra_min, sky_ra_max"
        " FROM products"
    )
    for row in rows:
        box = box_of_product(loads(row["footprint"]), row["ra"], row["dec"])
        stored = (row["sky_dec_min"], row["sky_dec_max"], row["sky_ra_min"], row["sky_ra_max"])
        if box is None:
            assert stored == (None,) * 4
        else:
            assert stored == pytest.approx((box.dec_min, box.dec_max, box.ra_min, box.ra_max))
    no_position = known.ids["no_position"]
    assert [r["sky_dec_min"] for r in rows if r["id"] == no_position] == [None]


def _cones_near_the_catalogue() -> st.SearchStrategy[Cone]:
    centres = [spec.centre for spec in KNOWN_PRODUCTS.values() if spec.centre is not None]
    near = st.tuples(st.sampled_from(centres), st.floats(-3.0, 3.0), st.floats(-3.0, 3.0)).map(
        lambda c: ((c[0][0] + c[1]) % 360.0, max(-90.0, min(90.0, c[0][1] + c[2])))
    )
    anywhere = st.tuples(st.floats(0.0, 360.0, exclude_max=True), st.floats(-90.0, 90.0))
    return st.builds(
        lambda centre, radius: Cone(centre[0], centre[1], radius),
        st.one_of(near, anywhere, st.sampled_from([(0.0, 90.0), (0.0, -90.0), (0.0, 0.0)])),
        st.one_of(st.floats(0.0, 3.0), st.floats(0.0, 30.0)),
    )


@pytest.fixture
def catalogue_loop(known: KnownCatalogue, migrated_database_url: str) -> Iterator[Any]:
    """A private event loop with its own connection, for a synchronous Hypothesis test."""
    loop = asyncio.new_event_loop()
    manager = opened_database(migrated_database_url)
    database = loop.run_until_complete(manager.__aenter__())
    yield loop, database
    loop.run_until_complete(manager.__aexit__(None, None, None))
    loop.close()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(cone=_cones_near_the_catalogue())
def test_random_cones_agree_with_brute_force(
    catalogue_loop: Any, known: KnownCatalogue, cone: Cone
) -> None:
    loop, database = catalogue_loop
    search = build_search(ra=cone.ra, dec=cone.dec, radius=cone.radius)
    found = known.names(loop.run_until_complete(_all_ids(database, search, limit=3)))
    for name, spec in KNOWN_PRODUCTS.items():
        expected = _brute_force_touch(spec, cone)
        if expected is not None:
            assert (name in found) == expected, (name, cone)


# --- pages ----------------------------------------------------------------------------------


async def test_pages_walk_everything_once_newest_first(
    database: Database, known: KnownCatalogue
) -> None:
    for search in (
        build_search(include_superseded=True),
        build_search(ra=180.0, dec=0.0, radius=180.0),
        build_search(where=["EXPTIME>=0"]),
    ):
        everything = await _all_ids(database, search, limit=1000)
        assert everything == sorted(everything, reverse=True)
        for limit in (1, 2, 3, 7):
            assert await _all_ids(database, search, limit=limit) == everything
    assert len(await _all_ids(database, build_search(include_superseded=True), 1)) == len(known.ids)


async def test_a_page_ends_exactly_at_the_last_match(
    database: Database, known: KnownCatalogue
) -> None:
    search = build_search(telescope="INT")
    async with database.transaction(write=False) as tx:
        first = await search_products(tx, database.dialect, search, limit=1)
        second = await search_products(
            tx, database.dialect, search, limit=1, before_id=first.next_before_id
        )
        both = await search_products(tx, database.dialect, search, limit=2)
    assert first.next_before_id == first.products[0].id
    assert second.next_before_id is None and both.next_before_id is None
    assert [p.id for p in both.products] == [first.products[0].id, second.products[0].id]


async def test_cone_candidates_rejected_in_bulk_do_not_end_a_page_early(
    database: Database, tmp_path: Path
) -> None:
    """Hundreds of candidates the exact test rejects, then a match, in one walk."""
    service = IngestService(database, ReaderSettings())
    target = await service.ingest_path(
        write_product_file(tmp_path / "target.fits", ImageSpec(centre=(0.0, 89.0)))
    )
    rng = random.Random(3)
    for index in range(260):
        # Around the pole, inside the cone's box (every RA) but outside the cone.
        spec = ImageSpec(centre=(rng.uniform(0, 360), 89.55), shape=(4, 4), scale=0.001)
        await service.ingest_path(write_product_file(tmp_path / f"decoy{index}.fits", spec))
    search = build_search(ra=0.0, dec=89.0, radius=0.3)
    assert await _all_ids(database, search, limit=1) == [target.product_id]


# --- migration back-fill ---------------------------------------------------------------------


async def test_migration_fills_boxes_of_products_recorded_before(
    empty_database_url: str,
) -> None:
    # Alembic runs its own event loop: off this one.
    await asyncio.to_thread(migrate.upgrade, empty_database_url, "0004")
    footprint = "[[359.5,-1.0],[359.5,1.0],[0.5,1.0],[0.5,-1.0]]"
    rows = [
        ("a" * 64, footprint, 0.0, 0.0),
        ("b" * 64, None, 10.0, 20.0),
        ("c" * 64, None, None, None),
    ]
    async with opened_database(empty_database_url) as database:
        for sha256, corners, ra, dec in rows:
            await database.execute(
                "INSERT INTO products (sha256, path, size, mtime_ns, compression, hdu_count,"
                " checksum_status, footprint, ra, dec, warnings, created_at, updated_at)"
                " VALUES (:sha256, :path, 1, 1, 'none', 1, 'absent', :footprint, :ra, :dec,"
                " '[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                {
                    "sha256": sha256,
                    "path": f"/{sha256}",
                    "footprint": corners,
                    "ra": ra,
                    "dec": dec,
                },
            )
    await asyncio.to_thread(migrate.upgrade, empty_database_url)
    async with opened_database(empty_database_url) as database:
        stored = await database.fetch_all(
            "SELECT sha256, sky_dec_min, sky_dec_max, sky_ra_min, sky_ra_max FROM products"
            " ORDER BY sha256"
        )
    for (sha256, corners, ra, dec), row in zip(rows, stored, strict=True):
        box = box_of_product(json.loads(corners) if corners else None, ra, dec)
        values = (row["sky_dec_min"], row["sky_dec_max"], row["sky_ra_min"], row["sky_ra_max"])
        if box is None:
            assert values == (None,) * 4, sha256
        else:
            assert values == pytest.approx((box.dec_min, box.dec_max, box.ra_min, box.ra_max))
    assert stored[0]["sky_ra_min"] > 359.0 and stored[0]["sky_ra_max"] > 360.0


@ONLY_POSTGRESQL
async def test_a_nights_page_is_chosen_from_the_index_alone(
    database: Database, known: KnownCatalogue
) -> None:
    # Migration 0008: ix_products_obs_start holds every column the page's
    # filters and order read, so PostgreSQL need not visit the table for the
    # products a page leaves out. (The planner is steered off the plans a
    # catalogue this small would rather have: what is tested is that the
    # index covers the query, not the planner's taste.)
    search = build_search(
        telescope="vlt", instrument="FORS2", filter="R", start="2024-03-14", end="2024-03-15"
    )
    statement = search_statement(search, dialect_for("postgresql"), before_id=None, batch=51)
    await database.execute("VACUUM products")  # index-only needs the visibility map
    async with database.transaction() as tx:
        for setting in ("enable_seqscan", "enable_bitmapscan"):
            await tx.execute(f"SET LOCAL {setting} = off")
        await tx.execute("SET LOCAL random_page_cost = 1000")
        plan = await tx.fetch_all("EXPLAIN " + statement.sql, statement.params)
    lines = [str(next(iter(row.values()))) for row in plan]
    assert any("Index Only Scan using ix_products_obs_start" in line for line in lines), lines
