"""The slow path: ``astropy.wcs`` for the WCS the native transform does not do.

Used for projections outside :data:`pipeline.extract.projections.NATIVE_PROJECTIONS`
(AZP, SZP, ZPN, TPV, NCP via WCSLIB's fixes…), projection parameters, DSS
plate solutions, non-degree units and the like. A header is rebuilt from the
parsed cards (image axes from ``science_naxis``, so tile-compressed images
work), FITS-fixing chatter is silenced, and any failure astropy signals
becomes ``InvalidWcs``: a bad WCS never fails a file.

Lookup-table distortions (``CPDIS``, ``D2IM``) are dropped as on the native
path: their tables live in other HDUs' data, which fitsflow never reads.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from astropy.io import fits
from astropy.io.fits.verify import VerifyError
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS, NoConvergence

from pipeline.extract.celestial import InvalidWcs, OutsideProjection
from pipeline.extract.frames import Frame
from pipeline.fits.model import Hdu

__all__ = ["AstropyGeometry", "astropy_geometry"]

# Only the keywords WCSLIB and astropy read for a celestial WCS are passed on:
# rebuilding all of a 400-card header card by card costs tens of milliseconds.
# Core WCS (paper I/II), SIP, DSS plate solutions, and the dates and frame.
# Lookup-table distortions (CPDIS, D2IM: tables fitsflow never reads) and the
# axis lengths (replaced by the image's own, for compressed images) are not.
_WCS_KEYWORD = re.compile(
    r"(WCSAXES|CTYPE|CUNIT|CRVAL|CRPIX|CDELT|CROTA|CD\d|PC\d|PV\d|PS\d|PROJP|LONPOLE|LATPOLE"
    r"|RESTFR|RESTWAV|EQUINOX|EPOCH|RADECSYS|RADESYS|MJD|DATE-|SPECSYS|SSYS|VELOSYS|ZSOURCE"
    r"|VELREF|OBSGEO|[AB]P?_|PLT|AMD[XY]|CNPIX|PPO|[XY]PIXELSZ)"
)
_FAILURES = (ValueError, TypeError, KeyError, IndexError, VerifyError, NoConvergence, MemoryError)
_FRAME_OF_LONGITUDE = {"GLON": "GALACTIC", "ELON": "ECLIPTIC", "SLON": "SUPERGALACTIC"}

_MAX_ORDER = 9

Points = list[tuple[float, float]]


@dataclass(frozen=True, slots=True)
class AstropyGeometry:
    """Corners and centre by astropy, in the header's own frame."""

    corners: Points | None
    centre: tuple[float, float] | None
    frame: Frame


def astropy_geometry(hdu: Hdu) -> AstropyGeometry | None:
    """The celestial geometry of ``hdu`` by astropy; None if it has no celestial WCS."""
    naxis = hdu.layout.science_naxis
    header = _header(hdu, naxis)
    _refuse_unbounded(header)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        try:
            wcs = WCS(header)
            lng, lat = wcs.wcs.lng, wcs.wcs.lat
            if lng < 0 or lat < 0:
                return None
            sizes = [naxis[k] if k < len(naxis) else 1 for k in (lng, lat)]
            pixels = _pixels(wcs, lng, lat, sizes)
            world = wcs.all_pix2world(pixels, 1)
            frame = _frame(wcs)
        except _FAILURES as error:
            raise InvalidWcs(f"astropy.wcs cannot use this WCS: {_first_line(error)}") from error
    points = [(float(row[lng]), float(row[lat])) for row in world]
    corners: Points | None = points[:4]
    if not all(math.isfinite(value) for point in points[:4] for value in point):
        corners = None
    centre = points[4] if all(math.isfinite(value) for value in points[4]) else None
    if corners is None and centre is None:
        raise OutsideProjection("no pixel of the image has a sky position")
    return AstropyGeometry(corners, centre, frame)


def _header(hdu: Hdu, naxis: Sequence[int]) -> fits.Header:
    header = fits.Header()
    header["NAXIS"] = len(naxis)
    for number, length in enumerate(naxis, start=1):
        header[f"NAXIS{number}"] = length
    for card in hdu.cards:
        keyword, value = card.keyword, card.value
        if value is None or isinstance(value, complex) or not _WCS_KEYWORD.match(keyword):
            continue
        if keyword in header:
            continue
        try:
            header.append(fits.Card(keyword, value), end=True)
        except (ValueError, VerifyError):
            continue  # a card astropy will not rebuild cannot be a WCS keyword it needs
    return header


def _refuse_unbounded(header: fits.Header) -> None:
    """Refuse values that make astropy loop or allocate without bound.

    astropy reads SIP coefficients in an (order + 1)² loop: ``A_ORDER =
    1000000`` would hang the worker. SIP orders beyond 9 are not used in
    practice; the native reader refuses them too.
    """
    for keyword in ("A_ORDER", "B_ORDER", "AP_ORDER", "BP_ORDER"):
        value = header.get(keyword)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_ORDER:
            raise InvalidWcs(f"{keyword} = {value!r} is not a SIP order 0..{_MAX_ORDER}")


def _pixels(wcs: WCS, lng: int, lat: int, sizes: list[int]) -> list[list[float]]:
    """Corners (calc_footprint order) then centre, other axes at their CRPIX."""
    base = [float(value) for value in wcs.wcs.crpix]
    first, second = sorted((lng, lat))
    n_first, n_second = (sizes[0], sizes[1]) if lng < lat else (sizes[1], sizes[0])
    rows = []
    for p_first, p_second in (
        (0.5, 0.5),
        (0.5, n_second + 0.5),
        (n_first + 0.5, n_second + 0.5),
        (n_first + 0.5, 0.5),
        ((n_first + 1) / 2.0, (n_second + 1) / 2.0),
    ):
        row = list(base)
        row[first], row[second] = p_first, p_second
        rows.append(row)
    return rows


def _frame(wcs: WCS) -> Frame:
    lngtyp = str(wcs.wcs.lngtyp).strip()
    if lngtyp != "RA":
        return Frame(_FRAME_OF_LONGITUDE.get(lngtyp, lngtyp))
    system = str(wcs.wcs.radesys).strip().upper() or "ICRS"
    equinox = float(wcs.wcs.equinox)
    return Frame(system, equinox if math.isfinite(equinox) else None)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
