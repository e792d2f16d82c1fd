"""The cone prefilter as index ranges: which stored sky boxes can overlap a cone's box.

An overlap test between intervals (``box.dec_min <= high AND box.dec_max >=
low``) is no index range, and planners misjudge how many rows it keeps (the
two columns are tightly correlated). So boxes are split in two, by the
partial indexes of migration 0005:

- *narrow* boxes, at most :data:`NARROW_DEC_HEIGHT` tall and
  :data:`NARROW_RA_WIDTH` wide in right ascension (every ordinary image):
  one that overlaps the cone's box starts at most that much below and west
  of it, so ``sky_dec_min`` and ``sky_ra_min`` each fall in a known range —
  two plain ranges, well estimated and served by ``ix_products_sky_narrow``;
- *wide* boxes (large fields, and footprints near a pole, whose right
  ascension spreads out): few, found by ``ix_products_sky_wide`` on their
  declination alone.

Right ascension wraps: a box arc is ``[ra_min, ra_max]`` with ``ra_min`` in
[0, 360) (``ra_max`` above 360 across RA 0), and two arcs meet when one of
them, turned by -360, 0 or +360 degrees, meets the other (see
:meth:`pipeline.search.sky.SkyBox.overlaps`); turns that cannot place
``ra_min`` in [0, 360) are left out.

Each arm is a predicate with ``{t}`` before every column (``p.`` or nothing)
and is complete on its own, so each is one index range; the dialect decides
how the arms are combined (:meth:`~pipeline.search.statement.SqlDialect.sky_filter`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.search.sky import SkyBox

__all__ = [
    "NARROW",
    "NARROW_DEC_HEIGHT",
    "NARROW_RA_WIDTH",
    "WIDE",
    "SkyArm",
    "sky_arms",
]

#: The largest box, in degrees of declination and of right ascension, kept
#: in the narrow index: above any single camera's field away from the poles.
NARROW_DEC_HEIGHT = 5.0
NARROW_RA_WIDTH = 10.0
#: The partial indexes' predicates, exactly as declared in pipeline/db/schema.py
#: (SQLite uses a partial index only for a query that repeats its WHERE as written).
NARROW = (
    f"{{t}}sky_dec_max - {{t}}sky_dec_min <= {NARROW_DEC_HEIGHT:.1f}"
    f" AND {{t}}sky_ra_max - {{t}}sky_ra_min <= {NARROW_RA_WIDTH:.1f}"
)
WIDE = (
    f"({{t}}sky_dec_max - {{t}}sky_dec_min > {NARROW_DEC_HEIGHT:.1f}"
    f" OR {{t}}sky_ra_max - {{t}}sky_ra_min > {NARROW_RA_WIDTH:.1f})"
)
#: Rounding can only widen a range by this much (degrees).
_SLACK = 1e-9


@dataclass(frozen=True, slots=True)
class SkyArm:
    """One index range: the index that serves it and its predicate (``{t}`` columns)."""

    index: str
    predicate: str


def sky_arms(box: SkyBox) -> tuple[list[SkyArm], dict[str, Any]]:
    """The arms whose union holds every stored box overlapping ``box``, and their parameters."""
    params: dict[str, Any] = {
        "sky_dec_low": box.dec_min,
        "sky_dec_high": box.dec_max,
        "sky_dec_reach": box.dec_min - NARROW_DEC_HEIGHT - _SLACK,
    }
    declination = "{t}sky_dec_min <= :sky_dec_high AND {t}sky_dec_max >= :sky_dec_low"
    narrow = f"{NARROW} AND {{t}}sky_dec_min >= :sky_dec_reach AND {declination}"
    wide = f"{WIDE} AND {declination}"
    if box.full_circle:
        arms = [SkyArm("ix_products_sky_narrow", narrow), SkyArm("ix_products_sky_wide", wide)]
        return arms, params
    arms, arcs = [], []
    for name, turn in (("west", -360.0), ("same", 0.0), ("east", 360.0)):
        low, high = box.ra_min + turn, box.ra_max + turn
        arcs.append(f"{{t}}sky_ra_min <= :ra_{name}_high AND {{t}}sky_ra_max >= :ra_{name}_low")
        params.update({f"ra_{name}_low": low, f"ra_{name}_high": high})
        reach = low - NARROW_RA_WIDTH - _SLACK
        if high >= 0.0 and reach < 360.0:  # some ra_min in [0, 360) can fall in range
            params[f"ra_{name}_reach"] = reach
            starts = f"{{t}}sky_ra_min >= :ra_{name}_reach AND {arcs[-1]}"
            arms.append(SkyArm("ix_products_sky_narrow", f"{narrow} AND {starts}"))
    any_arc = " OR ".join(f"({arc})" for arc in arcs)
    arms.append(SkyArm("ix_products_sky_wide", f"{wide} AND ({any_arc})"))
    return arms, params
