"""The compiled sky box gives what the Python path gives, to the bit.

``pipeline/search/_csky.c`` computes a footprint polygon's padded box —
the one stored with every product for cone searches — as
``pipeline.search.sky`` does, and declines (None) where that path finds no
polygon. Footprints are generated of every size from a micro-arcsecond to
the whole sky, anywhere (the poles and RA 0 included), with 1 to 20
corners in either orientation; every box the C code returns is compared
with the Python path's, floats by ``repr`` (so that -0.0 and 0.0 differ).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.search import sky
from tests.support.compiled import require_built

require_built(sky._compiled_polygon_box is not None, "sky box")
assert sky._compiled_polygon_box is not None
polygon_box = sky._compiled_polygon_box

Corners = list[tuple[float, float]]


def _python_box(corners: Corners) -> tuple[str, ...] | None:
    region = sky._region(corners, None, None)
    if not isinstance(region, sky.SphericalPolygon):
        return None
    box = sky.region_box(region)
    return tuple(map(repr, (box.dec_min, box.dec_max, box.ra_min, box.ra_max)))


def _compiled(corners: Corners) -> tuple[str, ...] | None:
    box = polygon_box(corners, sky.BOX_PADDING, sky._POLAR)
    return None if box is None else tuple(map(repr, box))


@st.composite
def footprints(draw: st.DrawFn) -> Corners:
    """Loops of 1-20 corners around a centre, from 1e-6 degrees to the whole sky."""
    ra = draw(st.floats(-360.0, 720.0))
    dec = draw(st.sampled_from([90.0, -90.0, 89.9999999, 0.0]) | st.floats(-90.0, 90.0))
    size = 10 ** draw(st.floats(-6.0, 2.4))
    count = draw(st.integers(1, 20))
    jitter = draw(st.lists(st.floats(-0.4, 0.4), min_size=count, max_size=count))
    stretch = 1.0 / max(1e-3, math.cos(math.radians(dec)))
    corners = []
    for index in range(count):
        angle = 2 * math.pi * index / count + jitter[index]
        corner_dec = min(90.0, max(-90.0, dec + size * math.sin(angle)))
        corners.append((ra + size * stretch * math.cos(angle), corner_dec))
    return corners[::-1] if draw(st.booleans()) else corners


@settings(max_examples=3000, deadline=None)
@given(footprints())
def test_every_box_is_the_python_paths_to_the_bit(corners: Corners) -> None:
    assert _compiled(corners) == _python_box(corners)


@pytest.mark.parametrize(
    "corners",
    [
        # An ordinary TAN image (the benchmark's), a field across RA 0, one
        # round the north pole, one touching the south pole, a degenerate
        # edge, a single point, and a loop no hemisphere holds.
        [(201.7014183048975, 28.47261369), (201.6999213859238, 28.47464876),
         (201.6981675191292, 28.47365188), (201.6996644577630, 28.47161683)],
        [(359.9, -1.0), (0.1, -1.0), (0.1, 1.0), (359.9, 1.0)],
        [(0.0, 85.0), (90.0, 85.0), (180.0, 85.0), (270.0, 85.0)],
        [(10.0, -90.0), (20.0, -89.0), (30.0, -89.5)],
        [(10.0, 10.0), (10.0, 10.0), (11.0, 10.0), (11.0, 11.0)],
        [(42.0, 42.0)],
        [(0.0, 0.0), (120.0, 0.0), (240.0, 0.0)],
    ],
)  # fmt: skip
def test_the_shapes_that_take_each_branch(corners: Corners) -> None:
    assert _compiled(corners) == _python_box(corners)


def test_the_stored_box_comes_from_the_compiled_path_and_equals_the_python_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    footprint = [[201.70141830, 28.47261369], [201.69992138, 28.47464876],
                 [201.69816751, 28.47365188], [201.69966445, 28.47161683]]  # fmt: skip
    corners = sky.parse_corners(footprint)
    assert corners is not None
    expected = _python_box(corners)

    def python_path(*_: object) -> None:
        raise AssertionError("box_of_product took the Python path")

    monkeypatch.setattr(sky, "_region", python_path)
    box = sky.box_of_product(footprint, None, None)
    assert box is not None
    assert tuple(map(repr, (box.dec_min, box.dec_max, box.ra_min, box.ra_max))) == expected


@pytest.mark.parametrize(
    "corners",
    [[], [(1, 2)], [(1.0, 2.0, 3.0)], [[1.0, 2.0]], "not a list", [(1.0, "2")]],
)
def test_anything_but_float_pairs_is_declined(corners: object) -> None:
    assert polygon_box(corners, sky.BOX_PADDING, sky._POLAR) is None  # type: ignore[arg-type]
