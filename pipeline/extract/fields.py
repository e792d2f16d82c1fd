"""Extracting a product's normalised fields from all of its headers.

Each field's rules live in its own module; this one decides where image
facts come from and assembles :class:`ProductFields`:

- The science HDU is the first image-like HDU with data: a primary or IMAGE
  extension, or a tile-compressed image, whose axes are all non-zero. HST's
  distortion arrays (``D2IMARR``, ``WCSDVARR``) are images but never science.
  ``naxis``, ``bitpix``, ``bunit``, the footprint and the spectral axis
  come from it.
- ``ra``/``dec`` come from pointing keywords (:mod:`.pointing`) in the
  primary or the science HDU; else the centre of the science HDU's celestial
  WCS; else pointing keywords in any other HDU. Other extensions of a file
  may be tables about something else (a light curve, a reference star), and
  the image's own WCS says more about where its data are than they do.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.extract.descriptive import (
    INSTRUMENT_KEYWORDS,
    OBJECT_KEYWORDS,
    OBSERVER_KEYWORDS,
    TELESCOPE_KEYWORDS,
    find_exptime,
    find_text,
)
from pipeline.extract.filters import find_filter
from pipeline.extract.footprint import Geometry, has_image_data, hdu_geometry
from pipeline.extract.keywords import Headers, as_text
from pipeline.extract.model import ProductFields
from pipeline.extract.pointing import find_pointing
from pipeline.extract.radio import find_beam, find_frequency
from pipeline.extract.times import find_obs_start
from pipeline.extract.timescales import mjd_of
from pipeline.fits.model import Hdu

__all__ = ["extract_fields", "science_position"]

_AUXILIARY_IMAGES = frozenset({"D2IMARR", "WCSDVARR"})


def extract_fields(hdus: Sequence[Hdu]) -> ProductFields:
    """The normalised fields of the product whose HDUs are ``hdus`` (file order)."""
    if not hdus:
        return ProductFields()
    headers = Headers(hdus)
    science = science_position(headers)
    geometry = Geometry()
    bunit = None
    if science is not None:
        geometry = hdu_geometry(hdus[science], headers.of(science))
        bunit = as_text(headers.of(science).get("BUNIT"))
    obs_start = find_obs_start(headers)
    main = (0,) if science in (None, 0) else (0, science)
    pointing = find_pointing(headers, main) or geometry.centre or find_pointing(headers)
    major, minor, angle = find_beam(headers, science, bunit)
    layout = hdus[science].layout if science is not None else None
    return ProductFields(
        telescope=find_text(headers, TELESCOPE_KEYWORDS),
        instrument=find_text(headers, INSTRUMENT_KEYWORDS),
        object=find_text(headers, OBJECT_KEYWORDS),
        observer=find_text(headers, OBSERVER_KEYWORDS),
        obs_start=obs_start,
        mjd_obs=mjd_of(obs_start) if obs_start is not None else None,
        exptime=find_exptime(headers),
        filter=find_filter(headers),
        ra=pointing[0] if pointing else None,
        dec=pointing[1] if pointing else None,
        footprint=geometry.corners,
        naxis=layout.science_naxis if layout else None,
        bitpix=layout.science_bitpix if layout else None,
        bunit=bunit,
        beam_major=major,
        beam_minor=minor,
        beam_pa=angle,
        frequency=find_frequency(headers, science),
        science_hdu=hdus[science].index if science is not None else None,
        warnings=(*headers.warnings, *geometry.warnings),
    )


def science_position(headers: Headers) -> int | None:
    """Position of the first image-like HDU with data, or None."""
    for position, hdu in enumerate(headers.hdus):
        if has_image_data(hdu) and headers.of(position).get("EXTNAME") not in _AUXILIARY_IMAGES:
            return position
    return None
