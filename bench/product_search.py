"""Product search latency with ~100,000 products in PostgreSQL (reported, never asserted).

    python -m bench.product_search                     # 2,000 files x 50 = 100,000 products
    python -m bench.product_search --files 500 --copies 20 --repeat 5   # a quicker look
    python -m bench.product_search --database-url postgresql://…/db     # reuse a filled one

1. creates ``fitsflow_bench_search_<hex>`` on ``FITSFLOW_BENCH_POSTGRES`` and
   migrates it;
2. writes ``--files`` sample files (:mod:`pipeline.samples`: images,
   multi-extension files, 1,000-card headers, radio cubes…) and ingests them
   through the real ingest service, so headers, footprints and sky boxes are
   what fitsflow records;
3. copies every product ``--copies - 1`` times on the server, each copy
   rotated in right ascension (footprint corners, pointing and sky box
   alike: a rotation about the pole keeps every shape exact) with its HDUs
   and headers, then ``VACUUM ANALYZE``;
4. runs each query of :data:`QUERIES` through :func:`pipeline.search.search_products`
   (the exact sky test included) ``--repeat`` times for the first page of
   100, and reports p50/p95/max; then ``EXPLAIN (ANALYZE, BUFFERS)`` of its
   first SQL statement and the indexes the plan uses;
5. writes ``bench/results/product_search.json`` and drops the database
   (unless ``--keep`` or ``--database-url``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline.db import Database, migrate, open_database
from pipeline.ingest.service import IngestService
from pipeline.samples import write_corpus
from pipeline.search import build_search, search_products
from pipeline.search.statement import dialect_for, search_statement
from pipeline.settings import DatabaseSettings, ReaderSettings

RESULTS = Path(__file__).resolve().parent / "results"
POSTGRES_ADMIN = os.environ.get(
    "FITSFLOW_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)

#: name → the search's parameters (as the API takes them).
QUERIES: dict[str, dict[str, Any]] = {
    # OBJECT of the first product ingested: one file and its copies.
    "keyword, equality, selective (OBJECT=<one object>)": {"where": ["OBJECT={first_object}"]},
    "keyword, range, common (EXPTIME>300)": {"where": ["EXPTIME>300"]},
    "keyword, range, selective (AIRMASS<1.0005)": {"where": ["AIRMASS<1.0005"]},
    "keyword, two conditions (FILTER=r, SEEING<0.6)": {"where": ["FILTER=r", "SEEING<0.6"]},
    "cone r=0.5 deg (ra 150, dec 20)": {"ra": 150.0, "dec": 20.0, "radius": 0.5},
    "cone r=5 deg (ra 150, dec 20)": {"ra": 150.0, "dec": 20.0, "radius": 5.0},
    "cone r=1 deg across RA 0 (ra 0.2, dec -30)": {"ra": 0.2, "dec": -30.0, "radius": 1.0},
    "cone r=1 deg at the pole (dec 89.5)": {"ra": 0.0, "dec": 89.5, "radius": 1.0},
    "cone r=5 deg + EXPTIME>=300": {
        "ra": 150.0, "dec": 20.0, "radius": 5.0, "where": ["EXPTIME>=300"]
    },
    "names: telescope=CFHT, object=NGC 1*": {"telescope": "CFHT", "object": "NGC 1*"},
}  # fmt: skip


def _settings(url: str) -> DatabaseSettings:
    return DatabaseSettings(url=url, pool_min_size=0, pool_max_size=2, statement_timeout=3600)


async def _admin(sql: str) -> None:
    async with open_database(_settings(POSTGRES_ADMIN)) as database:
        await database.execute(sql)


async def _ingest(database: Database, files: int, seed: int) -> int:
    service = IngestService(database, ReaderSettings())
    with tempfile.TemporaryDirectory(prefix="fitsflow-bench-search-") as directory:
        paths = write_corpus(directory, files, seed=seed)
        for path in paths:
            result = await service.ingest_path(path)
            assert result.status == "succeeded", result.to_dict()
    return len(paths)


# Each copy k is the original turned by k * (360 / copies) degrees of right
# ascension about the pole; a box of every RA stays (0, 360).
_COPY_PRODUCTS_SQL = """
INSERT INTO products (sha256, path, size, mtime_ns, version, is_current, compression,
    hdu_count, checksum_status, telescope, instrument, object, observer, obs_start, mjd_obs,
    exptime, filter, ra, dec, footprint, naxis, bitpix, bunit, beam_major, beam_minor, beam_pa,
    frequency, science_hdu, warnings, created_at, updated_at,
    sky_dec_min, sky_dec_max, sky_ra_min, sky_ra_max)
SELECT md5(p.sha256 || k) || md5(k || p.sha256), p.path || '#' || k, p.size, p.mtime_ns,
    1, true, p.compression, p.hdu_count, p.checksum_status, p.telescope, p.instrument,
    p.object, p.observer, p.obs_start, p.mjd_obs, p.exptime, p.filter,
    mod((p.ra + k * :turn)::numeric, 360)::float8, p.dec,
    (SELECT jsonb_agg(jsonb_build_array(
        mod(((c ->> 0)::float8 + k * :turn)::numeric, 360)::float8, (c ->> 1)::float8))
     FROM jsonb_array_elements(p.footprint) AS c),
    p.naxis, p.bitpix, p.bunit, p.beam_major, p.beam_minor, p.beam_pa, p.frequency,
    p.science_hdu, p.warnings, p.created_at, p.updated_at,
    p.sky_dec_min, p.sky_dec_max,
    CASE WHEN p.sky_ra_max - p.sky_ra_min >= 360 THEN 0
         ELSE mod((p.sky_ra_min + k * :turn)::numeric, 360)::float8 END,
    CASE WHEN p.sky_ra_max - p.sky_ra_min >= 360 THEN 360
         ELSE mod((p.sky_ra_min + k * :turn)::numeric, 360)::float8
              + (p.sky_ra_max - p.sky_ra_min) END
FROM products AS p, generate_series(1, :copies - 1) AS k
WHERE p.id <= :originals
"""
_COPY_HDUS_SQL = """
INSERT INTO hdus (product_id, hdu_index, name, kind, naxis, bitpix, data_size, header_offset,
    data_offset, checksum_status, footprint, header, cards)
SELECT c.id, h.hdu_index, h.name, h.kind, h.naxis, h.bitpix, h.data_size, h.header_offset,
    h.data_offset, h.checksum_status, h.footprint, h.header, h.cards
FROM products AS c
JOIN products AS o ON o.path = split_part(c.path, '#', 1) AND o.id <= :originals
JOIN hdus AS h ON h.product_id = o.id
WHERE c.id > :originals
"""


async def fill(database: Database, files: int, copies: int, seed: int) -> dict[str, float]:
    """Ingest ``files`` sample files, then make ``copies`` of everything; seconds per step."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    originals = await _ingest(database, files, seed)
    timings["ingest"] = time.perf_counter() - started
    params = {"copies": copies, "turn": 360.0 / copies, "originals": originals}
    async with database.connection() as conn:
        await conn.execute("SET synchronous_commit = off")
        for step, sql in (("copy products", _COPY_PRODUCTS_SQL), ("copy hdus", _COPY_HDUS_SQL)):
            started = time.perf_counter()
            await conn.execute(sql, params)
            timings[step] = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        timings["vacuum analyze"] = time.perf_counter() - started
    return timings


async def measure(database: Database, repeat: int) -> list[dict[str, Any]]:
    """Latency of the first page of each query, and its plan."""
    rows = []
    first_object = await database.fetch_value(
        "SELECT object FROM products WHERE object IS NOT NULL ORDER BY id LIMIT 1"
    )
    for name, template in QUERIES.items():
        parameters = json.loads(json.dumps(template).replace("{first_object}", first_object))
        search = build_search(**parameters)
        seconds: list[float] = []
        for _ in range(repeat):
            started = time.perf_counter()
            async with database.transaction(write=False) as tx:
                page = await search_products(tx, database.dialect, search, limit=100)
            seconds.append(time.perf_counter() - started)
        plan = await _explain(database, search)
        rows.append(
            {
                "query": name,
                "parameters": parameters,
                "found": len(page.products),
                "more": page.next_before_id is not None,
                "p50_ms": statistics.median(seconds) * 1000,
                "p95_ms": _percentile(seconds, 0.95) * 1000,
                "max_ms": max(seconds) * 1000,
                "indexes": _indexes(plan),
                "plan": plan,
            }
        )
    return rows


async def _explain(database: Database, search: Any) -> list[str]:
    statement = search_statement(search, dialect_for(database.dialect), before_id=None, batch=101)
    postgres = database.dialect == "postgresql"
    explain = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
    async with database.transaction(write=False) as tx:
        plan = await tx.fetch_all(explain + statement.sql, statement.params)
    if postgres:
        return [str(next(iter(row.values()))) for row in plan]
    return [str(row["detail"]) for row in plan]


def _indexes(plan: list[str]) -> list[str]:
    """The indexes a plan reads (PostgreSQL's or SQLite's wording)."""
    found = re.findall(r"\b(?:using|on|USING INDEX|USING COVERING INDEX) (\w+)", " ".join(plan))
    return sorted({name for name in found if name.startswith(("ix_", "pk_", "ux_", "sqlite_"))})


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _sizes(database: Database) -> dict[str, Any]:
    counts = {
        "products": await database.fetch_value("SELECT count(*) FROM products"),
        "hdus": await database.fetch_value("SELECT count(*) FROM hdus"),
    }
    if database.dialect != "postgresql":
        return {"rows": counts, "sizes": {}}
    sql = (
        "SELECT relname, pg_size_pretty(pg_relation_size(oid)) AS size FROM pg_class"
        " WHERE relname IN ('products', 'hdus', 'ix_hdus_header', 'ix_products_sky_narrow',"
        " 'ix_products_sky_wide', 'ix_products_search_object',"
        " 'ix_products_search_telescope_instrument')"
    )
    sizes = {row["relname"]: row["size"] for row in await database.fetch_all(sql)}
    return {"rows": counts, "sizes": sizes}


def _print(report: dict[str, Any]) -> None:
    print(f"rows: {report['catalogue']['rows']}  sizes: {report['catalogue']['sizes']}")
    print(f"fill: { {k: round(v, 1) for k, v in report['fill'].items()} }")
    for row in report["queries"]:
        print(
            f"{row['query']:<52} p50 {row['p50_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms"
            f"  found {row['found']:>3}{'+' if row['more'] else ' '}  {', '.join(row['indexes'])}"
        )


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    url = args.database_url
    created = None
    if url is None:
        created = f"fitsflow_bench_search_{secrets.token_hex(4)}"
        await _admin(f'CREATE DATABASE "{created}"')
        url = POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + created
        await asyncio.to_thread(migrate.upgrade, url)
    try:
        async with open_database(_settings(url)) as database:
            timings: dict[str, float] = {}
            if created is not None:
                timings = await fill(database, args.files, args.copies, args.seed)
            return {
                "catalogue": await _sizes(database),
                "fill": timings,
                "queries": await measure(database, args.repeat),
            }
    finally:
        if created is not None and not args.keep:
            await _admin(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", help="measure this catalogue (PostgreSQL or SQLite)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--label", default="postgresql", help="results file suffix")
    args = parser.parse_args()
    report = asyncio.run(_run(args))
    _print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"product_search.{args.label}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
