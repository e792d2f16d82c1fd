"""The celestial part of a WCS, as the native transform needs it.

:func:`pipeline.extract.wcs_keywords.read_celestial_wcs` fills a
:class:`CelestialWcs` from header keywords; :mod:`pipeline.extract.transform`
turns pixels into sky positions with it. Conditions that stop that are the
exceptions here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from pipeline.extract.frames import Frame

__all__ = [
    "CelestialWcs",
    "InvalidWcs",
    "NeedsAstropy",
    "OutsideProjection",
    "Sip",
    "UnsupportedWcs",
]

Matrix2 = tuple[tuple[float, float], tuple[float, float]]


class InvalidWcs(ValueError):
    """The WCS keywords contradict themselves or describe no transform."""


class UnsupportedWcs(ValueError):
    """A valid WCS that cannot be evaluated from headers alone (e.g. ``-TAB``)."""


class OutsideProjection(ValueError):
    """A pixel falls where the projection has no sky position (e.g. SIN beyond the limb)."""


class NeedsAstropy(Exception):
    """The WCS uses something the native transform does not implement."""


@dataclass(frozen=True, slots=True)
class Sip:
    """Simple Imaging Polynomial distortion: ``(p, q) → coefficient`` for each axis."""

    a: Mapping[tuple[int, int], float]
    b: Mapping[tuple[int, int], float]


class CelestialWcs(NamedTuple):
    """A celestial WCS over two pixel axes of an image.

    Axis indices are 0-based; for a cube they pick the two celestial axes,
    which are also the pixel axes the footprint spans (any other pixel axis
    is held at its reference pixel). ``matrix`` is the CD-equivalent
    (degrees per pixel) restricted to those axes, rows (lng, lat), columns
    (lng pixel axis, lat pixel axis).
    """

    # A NamedTuple, not a frozen dataclass: built for every footprint, and a
    # frozen dataclass's __init__ costs three times as much.

    lng_axis: int
    lat_axis: int
    projection: str
    crpix: tuple[float, float]
    matrix: Matrix2
    crval: tuple[float, float]
    lonpole: float | None
    latpole: float | None
    #: Projection parameters PV(lat axis)_m, by m.
    pv: Mapping[int, float]
    sip: Sip | None
    frame: Frame
    #: Image size along (lng axis, lat axis).
    size: tuple[int, int]
