"""Normalised product fields from FITS headers: who, when, where, what.

``extract_fields`` turns the HDUs :func:`pipeline.fits.read_fits` read into a
:class:`ProductFields`; ``hdu_footprint`` gives one image HDU's sky corners.
One module per concept:

- :mod:`.keywords` — scanning keywords across HDUs in precedence order
- :mod:`.descriptive`, :mod:`.filters` — names and exposure time
- :mod:`.dates`, :mod:`.timescales`, :mod:`.times` — the observation start in UTC
- :mod:`.angles`, :mod:`.pointing`, :mod:`.frames` — pointing, in ICRS
- :mod:`.wcs_keywords`, :mod:`.projections`, :mod:`.spherical`,
  :mod:`.transform` — the native celestial WCS; :mod:`.astropy_wcs` the
  fallback; :mod:`.footprint` puts them together
- :mod:`.radio` — beam and frequency
"""

from pipeline.extract.fields import extract_fields
from pipeline.extract.footprint import hdu_footprint
from pipeline.extract.model import Corners, ProductFields

__all__ = ["Corners", "ProductFields", "extract_fields", "hdu_footprint"]
