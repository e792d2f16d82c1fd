"""The cone prefilter's index ranges keep every stored box that overlaps, on both SQL forms.

Random boxes (narrow and wide, across RA 0, around the poles) go into an
in-memory SQLite table with the partial indexes of the declared schema; each
dialect's filter must select exactly the boxes :meth:`SkyBox.overlaps` says
overlap the cone's box (it may not drop one; it selects no others either,
since every arm also tests the overlap itself).
"""

from __future__ import annotations

import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.db.schema import NARROW_SKY_BOX, WIDE_SKY_BOX
from pipeline.db.sql import compile_sql
from pipeline.search.sky import Cone, SkyBox, cone_box
from pipeline.search.sky_sql import NARROW, WIDE, sky_arms
from pipeline.search.statement import dialect_for


def test_predicates_are_the_declared_indexes() -> None:
    # SQLite uses a partial index only when the query repeats its WHERE as written.
    assert NARROW.format(t="") == NARROW_SKY_BOX
    assert WIDE.format(t="") == f"({WIDE_SKY_BOX})"


@st.composite
def boxes(draw: st.DrawFn) -> SkyBox:
    low = draw(st.floats(-90.0, 90.0))
    height = draw(st.one_of(st.floats(0.0, 6.0), st.floats(0.0, 180.0), st.just(5.0)))
    if draw(st.booleans()) or low + height >= 90.0:
        return SkyBox(low, min(90.0, low + height), 0.0, 360.0)
    start = draw(st.one_of(st.floats(0.0, 360.0, exclude_max=True), st.sampled_from([0.0, 359.9])))
    width = draw(st.one_of(st.floats(0.0, 12.0), st.floats(0.0, 359.0), st.just(10.0)))
    return SkyBox(low, low + height, start, start + width)


cones = st.builds(
    Cone,
    st.one_of(st.floats(0.0, 360.0, exclude_max=True), st.sampled_from([0.0, 0.5, 359.5])),
    st.one_of(st.floats(-90.0, 90.0), st.sampled_from([-89.9, 0.0, 89.9])),
    st.one_of(st.floats(0.0, 10.0), st.floats(0.0, 120.0)),
)


def _table(stored: list[SkyBox]) -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    columns = "sky_dec_min REAL, sky_dec_max REAL, sky_ra_min REAL, sky_ra_max REAL"
    connection.execute(f"CREATE TABLE products (id INTEGER PRIMARY KEY, {columns})")
    connection.execute(
        "CREATE INDEX ix_products_sky_narrow ON products"
        f" (sky_dec_min, sky_ra_min, sky_dec_max, sky_ra_max) WHERE {NARROW_SKY_BOX}"
    )
    connection.execute(
        "CREATE INDEX ix_products_sky_wide ON products (sky_dec_min, sky_dec_max)"
        f" WHERE {WIDE_SKY_BOX}"
    )
    connection.executemany(
        "INSERT INTO products VALUES (?, ?, ?, ?, ?)",
        [(i, b.dec_min, b.dec_max, b.ra_min, b.ra_max) for i, b in enumerate(stored, 1)],
    )
    return connection


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stored=st.lists(boxes(), min_size=1, max_size=40), cone=cones)
def test_both_forms_select_exactly_the_overlapping_boxes(stored: list[SkyBox], cone: Cone) -> None:
    box = cone_box(cone)
    expected = {i for i, b in enumerate(stored, 1) if b.overlaps(box)}
    arms, params = sky_arms(box)
    connection = _table(stored)
    for name in ("sqlite", "postgresql"):
        where = dialect_for(name).sky_filter(arms)  # type: ignore[arg-type]
        compiled = compile_sql(f"SELECT p.id FROM products AS p WHERE {where}", "sqlite")
        args = [params[key] for key in compiled.names]
        found = {row[0] for row in connection.execute(compiled.text, args)}
        assert found == expected, (name, box, where)
