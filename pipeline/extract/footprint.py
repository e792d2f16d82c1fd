"""Where an image lies on the sky: its corners and centre, in ICRS degrees.

The native transform (:mod:`pipeline.extract.transform`) does the common
cases in a few microseconds; whatever it does not implement goes to astropy
(:mod:`pipeline.extract.astropy_wcs`). Positions are then brought to ICRS
(:mod:`pipeline.extract.frames`). The commonest WCS of all — plain
``RA---TAN``/``DEC--TAN`` in ICRS or FK5 J2000 — is done first by the
compiled ``tan_footprint`` (``_cfootprint.c``) when it is built: the same
arithmetic, the same result to the bit, without ~25 µs of interpreting.
Problems are warnings, never failures:

- ``wcs_invalid``: keywords that describe no valid transform (also when
  astropy, on the fallback path, refuses them)
- ``wcs_unsupported``: a valid WCS that headers alone cannot evaluate (``-TAB``)
- ``footprint_undefined``: a corner (or the centre) falls outside the projection
- ``frame_unsupported``: a frame that cannot be converted to ICRS
- ``distortion_ignored``: IRAF TNX distortion, read as plain TAN (as WCSLIB does)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pipeline.extract.astropy_wcs import astropy_geometry
from pipeline.extract.celestial import (
    InvalidWcs,
    NeedsAstropy,
    OutsideProjection,
    UnsupportedWcs,
)
from pipeline.extract.frames import Frame, UnsupportedFrame, to_icrs
from pipeline.extract.model import Corners
from pipeline.extract.transform import centre_pixel, corner_pixels, pixels_to_sky
from pipeline.extract.wcs_keywords import read_celestial_wcs
from pipeline.fits.cards import CardValue
from pipeline.fits.model import Hdu, ReadWarning

__all__ = ["IMAGE_KINDS", "Geometry", "has_image_data", "hdu_footprint", "hdu_geometry"]

IMAGE_KINDS = frozenset({"primary", "image", "compressed_image"})

Point = tuple[float, float]
TanFootprint = Callable[
    [Mapping[str, CardValue], tuple[int, ...]],
    tuple[tuple[Point, Point, Point, Point], Point] | None,
]

log = logging.getLogger(__name__)

_tan_footprint: TanFootprint | None
_MISSING = "turned off"
try:
    from pipeline.extract._cfootprint import tan_footprint as _tan_footprint
except ImportError as error:  # not built: the Python path does every WCS
    _tan_footprint = None
    _MISSING = str(error)
_announced = False


@dataclass(frozen=True, slots=True)
class Geometry:
    """An HDU's sky corners and centre (ICRS degrees), and what went wrong."""

    corners: Corners | None = None
    centre: Point | None = None
    warnings: tuple[ReadWarning, ...] = ()


def has_image_data(hdu: Hdu) -> bool:
    """Whether ``hdu`` is an image (plain or tile-compressed) with pixels."""
    naxis = hdu.layout.science_naxis
    return hdu.kind in IMAGE_KINDS and bool(naxis) and all(length > 0 for length in naxis)


def hdu_footprint(hdu: Hdu) -> Corners | None:
    """The sky corners ``(ra, dec)`` of an image HDU, ICRS degrees, or None.

    Corners are the outer pixel edges, FITS pixels (0.5, 0.5), (0.5, N2 + 0.5),
    (N1 + 0.5, N2 + 0.5), (N1 + 0.5, 0.5) along the two celestial axes, in
    the order ``astropy.wcs.WCS.calc_footprint(center=False)`` returns them.
    None for HDUs without image data or without a usable celestial WCS.
    """
    return hdu_geometry(hdu).corners


def hdu_geometry(hdu: Hdu, values: Mapping[str, CardValue] | None = None) -> Geometry:
    """Corners and centre of an image HDU, with any warnings.

    ``values`` is ``hdu.values()`` when the caller already has it.
    """
    if not has_image_data(hdu) or len(hdu.layout.science_naxis) < 2:
        return Geometry()
    if values is None:
        values = hdu.values()
    if not _announced:
        _announce()
    if _tan_footprint is not None:
        found = _tan_footprint(values, hdu.layout.science_naxis)
        if found is not None:
            return Geometry(*found)
    notes: list[ReadWarning] = []
    try:
        corners, centre, frame = _native(hdu, values, notes)
    except NeedsAstropy:
        try:
            geometry = astropy_geometry(hdu)
        except (InvalidWcs, OutsideProjection) as error:
            return _failed(hdu, error, notes)
        if geometry is None:
            return Geometry()
        corners, centre, frame = geometry.corners, geometry.centre, geometry.frame
        if corners is None:
            notes.append(_warning("footprint_undefined", "a corner is outside the projection", hdu))
    except (InvalidWcs, UnsupportedWcs, OutsideProjection) as error:
        return _failed(hdu, error, notes)
    if corners is None and centre is None:
        return Geometry(warnings=tuple(notes))
    return _in_icrs(hdu, corners, centre, frame, notes)


def _announce() -> None:
    """Say once, at DEBUG, whether plain TAN footprints are computed in C."""
    global _announced
    _announced = True
    if _tan_footprint is None:
        log.debug("C footprint not built (%s): every WCS takes the Python path", _MISSING)


def _native(
    hdu: Hdu, values: Mapping[str, CardValue], notes: list[ReadWarning]
) -> tuple[list[Point] | None, Point | None, Frame]:
    wcs = read_celestial_wcs(values, hdu.layout.science_naxis)
    if wcs is None:
        return None, None, Frame("NONE")
    if wcs.projection == "TAN" and str(values.get(f"CTYPE{wcs.lng_axis + 1}", "")).endswith("TNX"):
        notes.append(
            ReadWarning("distortion_ignored", "IRAF TNX distortion ignored; read as TAN", hdu.index)
        )
    try:
        *corners, centre = pixels_to_sky(wcs, [*corner_pixels(wcs), centre_pixel(wcs)])
    except OutsideProjection as error:
        # Some corner is off the sky (an all-sky SIN, say): keep the centre.
        notes.append(_warning("footprint_undefined", error, hdu))
        return None, pixels_to_sky(wcs, [centre_pixel(wcs)])[0], wcs.frame
    return corners, centre, wcs.frame


def _in_icrs(
    hdu: Hdu,
    corners: Sequence[Point] | None,
    centre: Point | None,
    frame: Frame,
    notes: list[ReadWarning],
) -> Geometry:
    points = [*(corners or ()), *([centre] if centre else [])]
    try:
        converted = to_icrs(points, frame)
    except UnsupportedFrame as error:
        notes.append(_warning("frame_unsupported", error, hdu))
        return Geometry(warnings=tuple(notes))
    icrs_corners = tuple(converted[:4]) if corners else None
    return Geometry(icrs_corners, converted[-1] if centre else None, tuple(notes))


def _failed(hdu: Hdu, error: Exception, notes: list[ReadWarning]) -> Geometry:
    code = "wcs_invalid"
    if isinstance(error, OutsideProjection):
        code = "footprint_undefined"
    elif isinstance(error, UnsupportedWcs):
        code = "wcs_unsupported"
    notes.append(_warning(code, error, hdu))
    return Geometry(warnings=tuple(notes))


def _warning(code: str, error: Exception | str, hdu: Hdu) -> ReadWarning:
    return ReadWarning(code, f"HDU {hdu.index} celestial WCS: {error}", hdu.index)
