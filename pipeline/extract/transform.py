"""Pixels to sky with a :class:`CelestialWcs`: SIP, linear step, deprojection, rotation.

Pixel coordinates are FITS 1-based (the centre of the first pixel is 1.0),
as ``astropy.wcs.WCS.all_pix2world(..., 1)`` takes them. SIP (Shupe et al.
2005) is applied to the offsets from CRPIX before the linear step, exactly
as astropy does; lookup-table distortions (``CPDIS``/``D2IM``, kept in
other HDUs' data) are not, which for HST's ACS and WFC3 moves a corner by
well under a pixel.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.extract.celestial import CelestialWcs, Sip
from pipeline.extract.projections import deproject_all, fiducial
from pipeline.extract.spherical import native_to_celestial, rotation_for

__all__ = ["centre_pixel", "corner_pixels", "pixels_to_sky"]


def corner_pixels(wcs: CelestialWcs) -> list[tuple[float, float]]:
    """The outer corners, as (lng-axis, lat-axis) pixels, in calc_footprint order."""
    n_lng, n_lat = wcs.size
    if wcs.lng_axis < wcs.lat_axis:
        first, second = float(n_lng), float(n_lat)
    else:
        first, second = float(n_lat), float(n_lng)
    corners = [(0.5, 0.5), (0.5, second + 0.5), (first + 0.5, second + 0.5), (first + 0.5, 0.5)]
    if wcs.lng_axis < wcs.lat_axis:
        return corners
    return [(lat_pixel, lng_pixel) for lng_pixel, lat_pixel in corners]


def centre_pixel(wcs: CelestialWcs) -> tuple[float, float]:
    """The centre of the image, as a (lng-axis, lat-axis) pixel."""
    return (wcs.size[0] + 1) / 2.0, (wcs.size[1] + 1) / 2.0


def pixels_to_sky(
    wcs: CelestialWcs, pixels: Iterable[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Native-frame (longitude, latitude) in degrees of (lng-axis, lat-axis) pixels.

    Raises ``OutsideProjection`` if any pixel has no sky position.
    """
    rotation = rotation_for(wcs.crval, fiducial(wcs.projection), wcs.lonpole, wcs.latpole)
    (a, b), (c, d) = wcs.matrix
    crpix_lng, crpix_lat = wcs.crpix
    swapped = wcs.lng_axis > wcs.lat_axis
    intermediate = []
    for lng_pixel, lat_pixel in pixels:
        u, v = lng_pixel - crpix_lng, lat_pixel - crpix_lat
        if wcs.sip is not None:
            u, v = _distort(wcs.sip, v, u)[::-1] if swapped else _distort(wcs.sip, u, v)
        intermediate.append((a * u + b * v, c * u + d * v))
    return native_to_celestial(rotation, deproject_all(wcs.projection, intermediate, wcs.pv))


def _distort(sip: Sip, u: float, v: float) -> tuple[float, float]:
    """SIP's ``(u + f(u, v), v + g(u, v))`` for offsets along pixel axes 1 and 2."""
    f = sum(coefficient * u**p * v**q for (p, q), coefficient in sip.a.items())
    g = sum(coefficient * u**p * v**q for (p, q), coefficient in sip.b.items())
    return u + f, v + g
