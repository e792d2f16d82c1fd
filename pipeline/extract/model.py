"""The normalised facts of one data product, as extracted from its headers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.fits.model import ReadWarning

__all__ = ["Corners", "ProductFields"]

#: Sky corners ``(ra, dec)`` in ICRS degrees, in the order of
#: ``astropy.wcs.WCS.calc_footprint(center=False)``: pixel (0.5, 0.5),
#: (0.5, N2 + 0.5), (N1 + 0.5, N2 + 0.5), (N1 + 0.5, 0.5).
Corners = tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class ProductFields:
    """What a catalogue needs to know about a product, every field optional.

    Angles are degrees, ``ra`` in [0, 360); sky positions are ICRS (FK5 J2000
    is taken as ICRS: they differ by ~20 mas). ``obs_start`` is timezone-aware
    UTC. ``warnings`` record values that were present but could not be used.
    """

    telescope: str | None = None
    instrument: str | None = None
    object: str | None = None
    observer: str | None = None
    obs_start: datetime | None = None
    mjd_obs: float | None = None
    exptime: float | None = None
    filter: str | None = None
    ra: float | None = None
    dec: float | None = None
    footprint: Corners | None = None
    naxis: tuple[int, ...] | None = None
    bitpix: int | None = None
    bunit: str | None = None
    beam_major: float | None = None
    beam_minor: float | None = None
    beam_pa: float | None = None
    frequency: float | None = None
    science_hdu: int | None = None
    warnings: tuple[ReadWarning, ...] = ()
