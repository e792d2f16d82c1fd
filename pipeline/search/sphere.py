"""Unit vectors and spherical polygons with great-circle edges.

A polygon here is a closed loop of minor great-circle arcs whose vertices all
lie in the open hemisphere around their mean direction ``centre``. The
gnomonic projection at ``centre`` maps that hemisphere onto a plane and every
great circle onto a straight line, so the loop becomes a plane polygon and
"inside" is the plane's even-odd rule: exact, whatever the loop's orientation,
and well defined for concave loops too.

Angles are in degrees at the boundary of this module; distances are computed
with ``atan2`` of a cross and a dot product, which keeps full precision for
tiny and for nearly antipodal separations alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = [
    "NORTH_POLE",
    "SOUTH_POLE",
    "SphericalPolygon",
    "Vector",
    "arc_distance",
    "arc_latitude_range",
    "separation",
    "sky_position",
    "unit_vector",
]

Vector = tuple[float, float, float]

NORTH_POLE: Vector = (0.0, 0.0, 1.0)
SOUTH_POLE: Vector = (0.0, 0.0, -1.0)

#: Below this norm a cross product says "parallel": an edge of zero length,
#: or a point that is a pole of the edge's great circle.
_DEGENERATE = 1e-15
#: How far inside the open hemisphere around the centre every vertex must be
#: for the gnomonic projection to stay well conditioned.
_HEMISPHERE_MARGIN = 1e-9


def unit_vector(ra: float, dec: float) -> Vector:
    """The unit vector of ``(ra, dec)`` in degrees."""
    alpha, delta = math.radians(ra), math.radians(dec)
    cos_delta = math.cos(delta)
    return (cos_delta * math.cos(alpha), cos_delta * math.sin(alpha), math.sin(delta))


def sky_position(vector: Vector) -> tuple[float, float]:
    """``(ra, dec)`` in degrees of a (not necessarily unit) vector, ra in [0, 360)."""
    x, y, _ = vector
    return math.degrees(math.atan2(y, x)) % 360.0, _latitude(vector)


def _latitude(vector: Vector) -> float:
    """The declination in degrees of a (not necessarily unit) vector."""
    x, y, z = vector
    return math.degrees(math.atan2(z, math.hypot(x, y)))


def _dot(a: Vector, b: Vector) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross(a: Vector, b: Vector) -> Vector:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _norm(a: Vector) -> float:
    return math.sqrt(_dot(a, a))


def _scaled(a: Vector, factor: float) -> Vector:
    return (a[0] * factor, a[1] * factor, a[2] * factor)


def separation(a: Vector, b: Vector) -> float:
    """The angle between unit vectors ``a`` and ``b``, in degrees."""
    return math.degrees(math.atan2(_norm(_cross(a, b)), _dot(a, b)))


def _within_arc(start: Vector, end: Vector, normal: Vector, point: Vector) -> bool:
    """Whether ``point`` (on the great circle ``normal``) lies on the minor arc start→end."""
    return _dot(_cross(start, point), normal) >= 0.0 and _dot(_cross(point, end), normal) >= 0.0


def arc_distance(start: Vector, end: Vector, point: Vector) -> float:
    """The least angle in degrees between ``point`` and the minor arc start→end."""
    normal = _cross(start, end)
    length = _norm(normal)
    if length < _DEGENERATE:  # a zero-length edge is a point
        return min(separation(point, start), separation(point, end))
    unit_normal = _scaled(normal, 1.0 / length)
    height = _dot(point, unit_normal)
    # The foot of the perpendicular from ``point`` onto the great circle.
    foot = (
        point[0] - height * unit_normal[0],
        point[1] - height * unit_normal[1],
        point[2] - height * unit_normal[2],
    )
    spread = _norm(foot)
    if spread > _DEGENERATE and _within_arc(start, end, normal, foot):
        return math.degrees(math.atan2(abs(height), spread))
    return min(separation(point, start), separation(point, end))


def arc_latitude_range(start: Vector, end: Vector) -> tuple[float, float]:
    """Least and greatest declination in degrees reached on the minor arc start→end.

    Along a great circle the declination peaks once and dips once; the peak
    is inside the arc only when its point lies between the ends, otherwise
    the ends hold the extremes.
    """
    start_dec, end_dec = _latitude(start), _latitude(end)
    low, high = min(start_dec, end_dec), max(start_dec, end_dec)
    normal = _cross(start, end)
    length = _norm(normal)
    if length < _DEGENERATE:
        return low, high
    unit_normal = _scaled(normal, 1.0 / length)
    # The highest point of the great circle: the pole's direction with the
    # component along the normal removed.
    summit = (-unit_normal[2] * unit_normal[0], -unit_normal[2] * unit_normal[1])
    summit_vector = (summit[0], summit[1], 1.0 - unit_normal[2] * unit_normal[2])
    if _norm(summit_vector) < _DEGENERATE:  # the great circle is the equator
        return low, high
    if _within_arc(start, end, normal, summit_vector):
        high = max(high, _latitude(summit_vector))
    nadir = _scaled(summit_vector, -1.0)
    if _within_arc(start, end, normal, nadir):
        low = min(low, _latitude(nadir))
    return low, high


@dataclass(frozen=True, slots=True)
class SphericalPolygon:
    """A loop of minor great-circle arcs inside one open hemisphere (see the module)."""

    vertices: tuple[Vector, ...]
    centre: Vector
    #: The vertices in the gnomonic plane tangent at ``centre``.
    plane: tuple[tuple[float, float], ...]
    axes: tuple[Vector, Vector]

    @classmethod
    def from_vertices(cls, vertices: Sequence[Vector]) -> SphericalPolygon | None:
        """The polygon through ``vertices`` (unit vectors, in order), if it has one.

        None when the vertices do not all lie well inside the open hemisphere
        around their mean direction: such a loop encloses no well-defined side.
        """
        if not vertices:
            return None
        # Added from the left, as sum() did up to Python 3.11 (3.12's compensates):
        # pipeline/search/_csky.c does the same, whatever the interpreter.
        x = y = z = 0.0
        for vertex in vertices:
            x, y, z = x + vertex[0], y + vertex[1], z + vertex[2]
        total = (x, y, z)
        size = _norm(total)
        if size < _DEGENERATE:
            return None
        centre = _scaled(total, 1.0 / size)
        if any(_dot(vertex, centre) <= _HEMISPHERE_MARGIN for vertex in vertices):
            return None
        axes = _tangent_axes(centre)
        plane = tuple(_gnomonic(vertex, centre, axes) for vertex in vertices)
        return cls(tuple(vertices), centre, plane, axes)

    def edges(self) -> Iterator[tuple[Vector, Vector]]:
        """Each edge as (start, end), the last one closing the loop."""
        count = len(self.vertices)
        for index in range(count):
            yield self.vertices[index], self.vertices[(index + 1) % count]

    def contains(self, point: Vector) -> bool:
        """Whether ``point`` lies inside the loop (even-odd rule in the gnomonic plane)."""
        if _dot(point, self.centre) <= 0.0:
            return False  # the whole polygon lies in the open hemisphere around centre
        x, y = _gnomonic(point, self.centre, self.axes)
        inside = False
        count = len(self.plane)
        for index in range(count):
            (x1, y1), (x2, y2) = self.plane[index], self.plane[(index + 1) % count]
            if (y1 > y) != (y2 > y):
                crossing = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
                if x < crossing:
                    inside = not inside
        return inside

    def boundary_distance(self, point: Vector) -> float:
        """The least angle in degrees from ``point`` to the loop."""
        return min(arc_distance(start, end, point) for start, end in self.edges())

    def touches_cone(self, centre: Vector, radius: float) -> bool:
        """Whether the cap of ``radius`` degrees around ``centre`` meets the polygon.

        A cap meets a closed region exactly when its centre is inside, or the
        region's boundary comes within the radius: a shared point x outside
        the centre's region is joined to the centre by a minor arc that stays
        within the radius and must cross the boundary.
        """
        return self.contains(centre) or self.boundary_distance(centre) <= radius


def _tangent_axes(centre: Vector) -> tuple[Vector, Vector]:
    helper: Vector = (0.0, 0.0, 1.0) if abs(centre[2]) < 0.9 else (1.0, 0.0, 0.0)
    first = _cross(helper, centre)
    first = _scaled(first, 1.0 / _norm(first))
    return first, _cross(centre, first)


def _gnomonic(point: Vector, centre: Vector, axes: tuple[Vector, Vector]) -> tuple[float, float]:
    depth = _dot(point, centre)
    return _dot(point, axes[0]) / depth, _dot(point, axes[1]) / depth
