"""Who, what and how long: telescope, instrument, object, observer, exposure.

Keyword precedence (first is preferred; see :mod:`pipeline.extract.keywords`
for how HDUs are scanned):

- telescope: ``TELESCOP``, ``TELESCOPE`` (HIERARCH)
- instrument: ``INSTRUME``, ``INSTRUMENT`` (HIERARCH)
- object: ``OBJECT``, ``TARGNAME`` (HST), ``TARGET``, ``OBJNAME``
- observer: ``OBSERVER``
- exposure time (seconds): ``EXPTIME``, ``EXPOSURE`` (X-ray, MaxIm DL),
  ``EXP_TIME``, ``XPOSURE`` (SOLARSOFT), ``TELAPSE`` (wall-clock, last)
"""

from __future__ import annotations

from pipeline.extract.keywords import Headers, as_number, as_text
from pipeline.fits.cards import CardValue

__all__ = [
    "EXPTIME_KEYWORDS",
    "INSTRUMENT_KEYWORDS",
    "OBJECT_KEYWORDS",
    "OBSERVER_KEYWORDS",
    "TELESCOPE_KEYWORDS",
    "find_exptime",
    "find_text",
]

TELESCOPE_KEYWORDS = ("TELESCOP", "TELESCOPE")
INSTRUMENT_KEYWORDS = ("INSTRUME", "INSTRUMENT")
OBJECT_KEYWORDS = ("OBJECT", "TARGNAME", "TARGET", "OBJNAME")
OBSERVER_KEYWORDS = ("OBSERVER",)
EXPTIME_KEYWORDS = ("EXPTIME", "EXPOSURE", "EXP_TIME", "XPOSURE", "TELAPSE")


def find_text(headers: Headers, keywords: tuple[str, ...]) -> str | None:
    """The first non-blank value of ``keywords``."""
    found = headers.find(keywords, as_text, "bad_value")
    return found.value if found else None


def find_exptime(headers: Headers) -> float | None:
    """Exposure time in seconds; a negative or non-numeric value is a warning."""
    found = headers.find(EXPTIME_KEYWORDS, _duration, "bad_exptime")
    return found.value if found else None


def _duration(value: CardValue) -> float | None:
    seconds = as_number(value)
    if seconds is not None and seconds < 0:
        raise ValueError("is negative")
    return seconds
