"""Where a product lies on the sky, and whether a cone reaches it.

A product's *region* is its footprint, the spherical polygon whose vertices
are the stored corners and whose edges are great-circle arcs (exact for TAN
images, whose straight pixel edges the gnomonic projection maps to great
circles; the polygon through the corners for other projections). Without a
footprint it is the pointing ``(ra, dec)``, a point. Corners that no open
hemisphere holds describe no side of the sky: such a product counts as
covering all of it (a match too many rather than one missed).

A cone search runs in two steps:

1. SQL keeps the products whose :class:`SkyBox` (stored at ingest) overlaps
   the cone's box — a necessary condition, since any point the cone and the
   region share lies in both boxes.
2. :func:`region_touches_cone` decides exactly (see
   :meth:`~pipeline.search.sphere.SphericalPolygon.touches_cone`).

Boxes are padded by :data:`BOX_PADDING` so that rounding can only widen them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.search.sphere import (
    NORTH_POLE,
    SOUTH_POLE,
    SphericalPolygon,
    Vector,
    arc_latitude_range,
    separation,
    sky_position,
    unit_vector,
)

#: ``(corners, padding, polar)`` → ``(dec_min, dec_max, ra_min, ra_max)``, or None.
PolygonBox = Callable[
    [list[tuple[float, float]], float, float], tuple[float, float, float, float] | None
]

_compiled_polygon_box: PolygonBox | None
try:
    # The same boxes, computed in C (pipeline/search/_csky.c): the ingest
    # path's share, ~27 µs a product in Python.
    from pipeline.search._csky import polygon_box as _compiled_polygon_box
except ImportError:  # not built: the Python path below computes every box
    _compiled_polygon_box = None

__all__ = [
    "BOX_PADDING",
    "SKY_BOX_COLUMNS",
    "WHOLE_SKY",
    "Cone",
    "Region",
    "SkyBox",
    "box_of_product",
    "cone_box",
    "parse_corners",
    "product_region",
    "region_box",
    "region_touches_cone",
    "sky_box_columns",
]

#: Degrees added on every side of every box (0.36 mas): far above the
#: rounding of the trigonometry, far below anything a search could notice.
BOX_PADDING = 1e-7
#: The ``products`` columns that hold a product's box, in :class:`SkyBox` order.
SKY_BOX_COLUMNS = ("sky_dec_min", "sky_dec_max", "sky_ra_min", "sky_ra_max")
#: Within this many degrees of a pole, right ascension means nothing.
_POLAR = 1e-9


@dataclass(frozen=True, slots=True)
class Cone:
    """A cone search: centre ``(ra, dec)`` and radius, degrees."""

    ra: float
    dec: float
    radius: float

    @property
    def centre(self) -> Vector:
        return unit_vector(self.ra, self.dec)


@dataclass(frozen=True, slots=True)
class SkyBox:
    """A declination band and a right-ascension arc that contain a region.

    ``ra_min`` is in [0, 360) and ``ra_max`` in [ra_min, ra_min + 360]: an arc
    across RA 0 has ``ra_max`` above 360. The whole circle is (0, 360).
    """

    dec_min: float
    dec_max: float
    ra_min: float
    ra_max: float

    @property
    def full_circle(self) -> bool:
        return self.ra_max - self.ra_min >= 360.0

    def overlaps(self, other: SkyBox) -> bool:
        """Whether the two boxes share a point: what the SQL prefilter asks."""
        if self.dec_min > other.dec_max or self.dec_max < other.dec_min:
            return False
        # Two arcs meet iff some copy of one, shifted by a whole turn, meets
        # the other; with both starts in [0, 360) only -1, 0, +1 turns can.
        return any(
            self.ra_min <= other.ra_max + turn and self.ra_max >= other.ra_min + turn
            for turn in (-360.0, 0.0, 360.0)
        )


WHOLE_SKY = SkyBox(-90.0, 90.0, 0.0, 360.0)


@dataclass(frozen=True, slots=True)
class _WholeSky:
    """A region that may be anywhere (corners without a well-defined inside)."""


Region = SphericalPolygon | Vector | _WholeSky


def parse_corners(value: Any) -> list[tuple[float, float]] | None:
    """Footprint corners as stored (a JSON list of ``[ra, dec]``), or None if unusable."""
    if not isinstance(value, list) or not value:
        return None
    corners = []
    for corner in value:
        if not (isinstance(corner, list | tuple) and len(corner) == 2):
            return None
        ra, dec = corner
        if not all(isinstance(x, int | float) and math.isfinite(x) for x in (ra, dec)):
            return None
        if abs(dec) > 90.0:
            return None
        corners.append((float(ra), float(dec)))
    return corners


def product_region(footprint: Any, ra: float | None, dec: float | None) -> Region | None:
    """The region of a product: its footprint, else its pointing, else None."""
    return _region(parse_corners(footprint), ra, dec)


def _region(
    corners: list[tuple[float, float]] | None, ra: float | None, dec: float | None
) -> Region | None:
    if corners is not None:
        polygon = SphericalPolygon.from_vertices([unit_vector(*corner) for corner in corners])
        return polygon if polygon is not None else _WholeSky()
    if ra is not None and dec is not None and math.isfinite(ra) and abs(dec) <= 90.0:
        return unit_vector(ra, dec)
    return None


def region_touches_cone(region: Region, cone: Cone) -> bool:
    """Whether ``cone`` meets ``region`` (exact, on the sphere)."""
    if isinstance(region, _WholeSky) or cone.radius >= 180.0:
        return True
    if isinstance(region, SphericalPolygon):
        return region.touches_cone(cone.centre, cone.radius)
    return separation(region, cone.centre) <= cone.radius


def box_of_product(footprint: Any, ra: float | None, dec: float | None) -> SkyBox | None:
    """The box stored with a product (None: the product has no sky position)."""
    corners = parse_corners(footprint)
    if corners is not None and _compiled_polygon_box is not None:
        box = _compiled_polygon_box(corners, BOX_PADDING, _POLAR)
        if box is not None:  # else a loop without an inside: the Python path decides
            return SkyBox(*box)
    region = _region(corners, ra, dec)
    return None if region is None else region_box(region)


def sky_box_columns(footprint: Any, ra: float | None, dec: float | None) -> dict[str, float | None]:
    """The :data:`SKY_BOX_COLUMNS` of a product about to be recorded (None: no position).

    Changing how boxes are computed needs a migration recomputing the stored ones.
    """
    box = box_of_product(footprint, ra, dec)
    values = (None,) * 4 if box is None else (box.dec_min, box.dec_max, box.ra_min, box.ra_max)
    return dict(zip(SKY_BOX_COLUMNS, values, strict=True))


def region_box(region: Region) -> SkyBox:
    """A padded box containing ``region``."""
    if isinstance(region, _WholeSky):
        return WHOLE_SKY
    if isinstance(region, SphericalPolygon):
        return _polygon_box(region)
    ra, dec = sky_position(region)
    return _padded(dec, dec, ra, ra, full_circle=abs(dec) >= 90.0 - _POLAR)


def cone_box(cone: Cone) -> SkyBox:
    """A padded box containing the cone.

    Off the poles, the cap's right-ascension half-width is
    asin(sin r / cos δ): the meridians tangent to the cap.
    """
    if cone.radius >= 180.0:
        return WHOLE_SKY
    low, high = cone.dec - cone.radius, cone.dec + cone.radius
    if high >= 90.0 - _POLAR or low <= -90.0 + _POLAR:
        return _padded(low, high, 0.0, 360.0, full_circle=True)
    ratio = math.sin(math.radians(cone.radius)) / math.cos(math.radians(cone.dec))
    half_width = math.degrees(math.asin(min(1.0, ratio)))
    return _padded(low, high, cone.ra - half_width, cone.ra + half_width)


def _polygon_box(polygon: SphericalPolygon) -> SkyBox:
    low, high = 90.0, -90.0
    for start, end in polygon.edges():
        edge_low, edge_high = arc_latitude_range(start, end)
        low, high = min(low, edge_low), max(high, edge_high)
    north, south = polygon.contains(NORTH_POLE), polygon.contains(SOUTH_POLE)
    high = 90.0 if north else high
    low = -90.0 if south else low
    if north or south or high >= 90.0 - _POLAR or low <= -90.0 + _POLAR:
        # A pole on or inside the loop: every right ascension is reached.
        return _padded(low, high, 0.0, 360.0, full_circle=True)
    ra_low, ra_high = _ra_sweep([sky_position(vertex)[0] for vertex in polygon.vertices])
    return _padded(low, high, ra_low, ra_high)


def _ra_sweep(ras: Sequence[float]) -> tuple[float, float]:
    """The unwrapped RA interval the loop's edges sweep.

    Off the poles, right ascension changes monotonically along a minor arc
    and by less than 180°, so each edge sweeps the shorter way between its
    ends; following the loop edge by edge gives the interval it covers.
    A loop that winds round the pole is caught before (it holds a pole).
    """
    position = lowest = highest = 0.0
    for index in range(len(ras)):
        step = (ras[(index + 1) % len(ras)] - ras[index] + 180.0) % 360.0 - 180.0
        position += step
        lowest, highest = min(lowest, position), max(highest, position)
    return ras[0] + lowest, ras[0] + highest


def _padded(
    dec_min: float, dec_max: float, ra_min: float, ra_max: float, *, full_circle: bool = False
) -> SkyBox:
    low = max(-90.0, dec_min - BOX_PADDING)
    high = min(90.0, dec_max + BOX_PADDING)
    if full_circle or ra_max - ra_min + 2 * BOX_PADDING >= 360.0:
        return SkyBox(low, high, 0.0, 360.0)
    start = (ra_min - BOX_PADDING) % 360.0
    if start >= 360.0:  # a tiny negative angle modulo 360 rounds to 360.0
        start = 0.0
    return SkyBox(low, high, start, start + (ra_max - ra_min) + 2 * BOX_PADDING)
