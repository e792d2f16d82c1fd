"""Cone search geometry: footprint polygons, cones and their boxes, on the sphere.

The exact test and the boxes are checked against a brute-force computation
that shares none of their shortcuts: whether the centre is inside comes from
the winding number of the loop around it, the distance to the boundary from
a dense sampling of every edge. Random footprints are gnomonic rectangles
(what a TAN image covers) anywhere on the sky, RA 0 and the poles included.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipeline.search.sky import (
    WHOLE_SKY,
    Cone,
    SkyBox,
    box_of_product,
    cone_box,
    product_region,
    region_box,
    region_touches_cone,
    sky_box_columns,
)
from pipeline.search.sphere import SphericalPolygon, separation, sky_position, unit_vector

SAMPLES_PER_EDGE = 4000

# --- brute force -----------------------------------------------------------------


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _vectors(corners: list[tuple[float, float]]) -> np.ndarray:
    return np.array([unit_vector(ra, dec) for ra, dec in corners])


def edge_samples(corners: list[tuple[float, float]], count: int = SAMPLES_PER_EDGE) -> np.ndarray:
    """Points along every edge (slerp), unit vectors."""
    vertices = _vectors(corners)
    points = []
    for start, end in zip(vertices, np.roll(vertices, -1, axis=0), strict=True):
        angle = math.atan2(np.linalg.norm(np.cross(start, end)), float(np.dot(start, end)))
        t = np.linspace(0.0, 1.0, count)[:, None]
        if angle < 1e-15:
            points.append(np.repeat(start[None, :], count, axis=0))
            continue
        points.append((np.sin((1 - t) * angle) * start + np.sin(t * angle) * end) / math.sin(angle))
    return np.concatenate(points)


def winding_inside(corners: list[tuple[float, float]], point: np.ndarray) -> bool:
    """Whether ``point`` is inside the (small) loop: its winding number around it."""
    vertices = _vectors(corners)
    centre = _unit(vertices.sum(axis=0))
    if float(np.dot(point, centre)) <= 0:
        return False
    total = 0.0
    for a, b in zip(vertices, np.roll(vertices, -1, axis=0), strict=True):
        sine = float(np.dot(np.cross(a, b), point))
        cosine = float(np.dot(a, b) - np.dot(a, point) * np.dot(b, point))
        total += math.atan2(sine, cosine)
    return abs(total) > math.pi


def brute_distance(corners: list[tuple[float, float]], point: np.ndarray) -> float:
    samples = edge_samples(corners)
    # atan2 of |cross| and dot: arccos loses all precision below ~1e-6 degrees.
    sines = np.linalg.norm(np.cross(samples, point), axis=1)
    return math.degrees(float(np.arctan2(sines, samples @ point).min()))


def sample_spacing(corners: list[tuple[float, float]]) -> float:
    vertices = [unit_vector(*corner) for corner in corners]
    following = vertices[1:] + vertices[:1]
    longest = max(separation(a, b) for a, b in zip(vertices, following, strict=True))
    return longest / (SAMPLES_PER_EDGE - 1)


def in_box(box: SkyBox, ra: float, dec: float) -> bool:
    if not box.dec_min <= dec <= box.dec_max:
        return False
    return box.full_circle or any(
        box.ra_min <= ra + turn <= box.ra_max for turn in (-360.0, 0.0, 360.0)
    )


# --- footprints like TAN images ------------------------------------------------------


def tan_rectangle(
    ra: float, dec: float, width: float, height: float, rotation: float
) -> list[tuple[float, float]]:
    """Corners of a width x height degree TAN image centred at (ra, dec)."""
    centre = np.array(unit_vector(ra, dec))
    helper = np.array([0.0, 0.0, 1.0]) if abs(centre[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    east = _unit(np.cross(helper, centre))
    north = np.cross(centre, east)
    half_w, half_h = math.tan(math.radians(width / 2)), math.tan(math.radians(height / 2))
    theta = math.radians(rotation)
    corners = []
    for sx, sy in ((-1, -1), (-1, 1), (1, 1), (1, -1)):
        x, y = sx * half_w, sy * half_h
        x, y = x * math.cos(theta) - y * math.sin(theta), x * math.sin(theta) + y * math.cos(theta)
        corners.append(sky_position(tuple(_unit(centre + x * east + y * north))))
    return corners


latitudes = st.one_of(
    st.floats(min_value=-90.0, max_value=90.0),
    st.sampled_from([-90.0, -89.99, -89.5, 0.0, 89.5, 89.99, 90.0]),
)
longitudes = st.one_of(
    st.floats(min_value=0.0, max_value=360.0, exclude_max=True),
    st.sampled_from([0.0, 0.001, 359.999, 180.0]),
)
sizes = st.floats(min_value=1e-3, max_value=30.0)
radii = st.one_of(st.floats(min_value=0.0, max_value=40.0), st.sampled_from([0.0, 1e-4, 90.0]))


@st.composite
def footprints(draw: st.DrawFn) -> list[tuple[float, float]]:
    ra, dec = draw(longitudes), draw(latitudes)
    rotation = draw(st.floats(min_value=-180.0, max_value=180.0))
    return tan_rectangle(ra, dec, draw(sizes), draw(sizes), rotation)


@st.composite
def cones_near(draw: st.DrawFn, corners: list[tuple[float, float]]) -> Cone:
    """A cone anywhere, or one centred within a few degrees of the footprint."""
    if draw(st.booleans()):
        return Cone(draw(longitudes), draw(latitudes), draw(radii))
    ra, dec = corners[draw(st.integers(0, len(corners) - 1))]
    offset = unit_vector(
        ra + draw(st.floats(-5, 5)), max(-90.0, min(90.0, dec + draw(st.floats(-5, 5))))
    )
    cra, cdec = sky_position(offset)
    return Cone(cra, cdec, draw(radii))


# --- properties ------------------------------------------------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), corners=footprints())
def test_cone_test_agrees_with_brute_force(
    data: st.DataObject, corners: list[tuple[float, float]]
) -> None:
    cone = data.draw(cones_near(corners))
    region = product_region([list(c) for c in corners], None, None)
    assert isinstance(region, SphericalPolygon)
    centre = np.array(cone.centre)
    distance = brute_distance(corners, centre)
    inside = winding_inside(corners, centre)
    # Sampling finds the distance to within half a sample spacing; on the
    # boundary itself the winding number means nothing.
    tolerance = sample_spacing(corners) + 1e-9
    if distance <= tolerance:
        assume(cone.radius > 2 * tolerance)
        expected = True
    else:
        assume(inside or abs(distance - cone.radius) > tolerance)
        expected = inside or distance <= cone.radius
    assert region_touches_cone(region, cone) == expected, (corners, cone, distance, inside)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corners=footprints())
def test_footprint_box_holds_the_whole_footprint(corners: list[tuple[float, float]]) -> None:
    box = box_of_product([list(c) for c in corners], None, None)
    assert box is not None
    vertices = _vectors(corners)
    edge = edge_samples(corners, 500)
    # Interior points: random convex combinations of the corners, pushed onto the sphere
    # (inside a convex footprint, as a TAN rectangle is).
    weights = np.random.default_rng(7).dirichlet(np.ones(len(corners)), size=500)
    interior = _unit(weights @ vertices)
    for point in np.concatenate([edge, interior]):
        ra, dec = sky_position(tuple(point))
        assert in_box(box, ra, dec), (corners, box, ra, dec)


@settings(max_examples=300, deadline=None)
@given(cone=st.builds(Cone, longitudes, latitudes, radii))
def test_cone_box_holds_the_whole_cone(cone: Cone) -> None:
    box = cone_box(cone)
    rng = np.random.default_rng(11)
    centre = np.array(cone.centre)
    helper = np.array([0.0, 0.0, 1.0]) if abs(centre[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    east = _unit(np.cross(helper, centre))
    north = np.cross(centre, east)
    for _ in range(300):
        rho = math.radians(cone.radius) * math.sqrt(rng.random())
        phi = rng.uniform(0, 2 * math.pi)
        direction = math.cos(phi) * east + math.sin(phi) * north
        point = math.cos(rho) * centre + math.sin(rho) * direction
        assert in_box(box, *sky_position(tuple(point))), (cone, box)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), corners=footprints())
def test_prefilter_never_drops_a_match(
    data: st.DataObject, corners: list[tuple[float, float]]
) -> None:
    cone = data.draw(cones_near(corners))
    region = product_region([list(c) for c in corners], None, None)
    assert region is not None
    if region_touches_cone(region, cone):
        assert region_box(region).overlaps(cone_box(cone)), (corners, cone)


@settings(max_examples=300, deadline=None)
@given(ra=longitudes, dec=latitudes, cone=st.builds(Cone, longitudes, latitudes, radii))
def test_pointing_matches_within_the_radius(ra: float, dec: float, cone: Cone) -> None:
    region = product_region(None, ra, dec)
    assert region is not None
    distance = separation(unit_vector(ra, dec), cone.centre)
    assume(abs(distance - cone.radius) > 1e-9)
    assert region_touches_cone(region, cone) == (distance <= cone.radius)
    if distance <= cone.radius:
        assert region_box(region).overlaps(cone_box(cone))


# --- known cases ------------------------------------------------------------------------


def test_footprint_across_ra_zero() -> None:
    corners = tan_rectangle(0.0, 10.0, 2.0, 2.0, 0.0)
    box = box_of_product([list(c) for c in corners], None, None)
    assert box is not None and not box.full_circle
    assert box.ra_min > 358.9 and box.ra_max > 360.9  # an arc from 359 through 0 to 1
    region = product_region([list(c) for c in corners], None, None)
    assert region is not None
    assert region_touches_cone(region, Cone(359.5, 10.0, 0.01))
    assert region_touches_cone(region, Cone(0.5, 10.0, 0.01))
    assert region_touches_cone(region, Cone(358.0, 10.0, 0.1)) is False
    # Just outside the eastern edge: the arc's far side, seen from the other turn.
    assert region_touches_cone(region, Cone(1.2, 10.0, 0.1)) is False
    assert region_touches_cone(region, Cone(1.2, 10.0, 0.25))


def test_footprint_over_the_north_pole_spans_every_ra() -> None:
    corners = tan_rectangle(123.0, 89.8, 1.0, 1.0, 30.0)
    box = box_of_product([list(c) for c in corners], None, None)
    assert box is not None and box.full_circle and box.dec_max == 90.0
    region = product_region([list(c) for c in corners], None, None)
    assert region is not None
    for ra in (0.0, 90.0, 180.0, 270.0):
        assert region_touches_cone(region, Cone(ra, 89.95, 0.0))
    assert region_touches_cone(region, Cone(0.0, 88.0, 0.5)) is False


def test_footprint_near_the_south_pole_without_it() -> None:
    corners = tan_rectangle(200.0, -88.0, 1.0, 1.0, 0.0)
    box = box_of_product([list(c) for c in corners], None, None)
    assert box is not None and not box.full_circle and box.dec_min > -89.0
    region = product_region([list(c) for c in corners], None, None)
    assert region is not None
    assert region_touches_cone(region, Cone(0.0, -90.0, 1.0)) is False
    assert region_touches_cone(region, Cone(0.0, -90.0, 1.6))


def test_cone_over_a_pole_has_a_full_ra_box() -> None:
    box = cone_box(Cone(10.0, 89.5, 1.0))
    assert box.full_circle and box.dec_max == 90.0 and box.dec_min == pytest.approx(88.5)


def test_cone_box_across_ra_zero() -> None:
    box = cone_box(Cone(359.0, 0.0, 2.0))
    assert box.ra_min == pytest.approx(357.0) and box.ra_max == pytest.approx(361.0)
    assert box.overlaps(SkyBox(0.5, 0.6, 0.5, 0.6))
    assert not box.overlaps(SkyBox(0.5, 0.6, 1.5, 1.6))


def test_unusable_footprints() -> None:
    # Corners in no open hemisphere: the product may be anywhere.
    everywhere = [[0.0, 0.0], [120.0, 0.0], [240.0, 0.0]]
    assert box_of_product(everywhere, None, None) == WHOLE_SKY
    region = product_region(everywhere, None, None)
    assert region is not None and region_touches_cone(region, Cone(0.0, 90.0, 0.0))
    # Not a footprint at all: the pointing decides; without one, nothing does.
    for junk in ("x", [], [[1.0]], [[1.0, "a"]], [[1.0, 95.0]], [[math.nan, 0.0]]):
        assert product_region(junk, 10.0, 20.0) == unit_vector(10.0, 20.0)
        assert box_of_product(junk, None, None) is None
    assert sky_box_columns(None, None, None) == dict.fromkeys(
        ("sky_dec_min", "sky_dec_max", "sky_ra_min", "sky_ra_max")
    )


def test_degenerate_footprints_are_points_and_arcs() -> None:
    point = [[10.0, 20.0]] * 4
    region = product_region(point, None, None)
    assert region is not None
    assert region_touches_cone(region, Cone(10.0, 20.5, 0.5 + 1e-9))
    assert not region_touches_cone(region, Cone(10.0, 20.5, 0.49))
    arc = [[10.0, 20.0], [12.0, 20.0]]
    region = product_region(arc, None, None)
    assert region is not None
    assert region_touches_cone(region, Cone(11.0, 20.1, 0.1))


def test_whole_sky_cone_matches_everything() -> None:
    region = product_region(None, 10.0, -30.0)
    assert region is not None
    assert region_touches_cone(region, Cone(190.0, 30.0, 180.0))
    assert cone_box(Cone(0.0, 0.0, 180.0)) == WHOLE_SKY
