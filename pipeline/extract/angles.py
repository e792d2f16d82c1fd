"""Reading right ascensions and declinations the ways headers write them.

- A number (or a string holding one decimal number) is degrees.
- A sexagesimal string is hours for RA and degrees for Dec:
  ``"12:34:56.7"``, ``"12 34 56.7"``, ``"12h34m56.7s"``, ``"-62d41m05s"``,
  ``"+46°52'00.4\\""``, or with two fields (``"12:34.5"``). The sign belongs
  to the whole angle, so ``"-00:30:00"`` is −0.5°.

Out-of-range values (RA hours ≥ 24 or degrees outside [0, 360], Dec beyond
±90°, minutes or seconds ≥ 60) are ``ValueError``: a bad pointing is better
dropped than guessed. RA 360 exactly is returned as 0.
"""

from __future__ import annotations

import math
import re

from pipeline.extract.keywords import to_float
from pipeline.fits.cards import CardValue

__all__ = ["parse_dec", "parse_ra"]

_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eEdD][+-]?\d+)?\Z")
_SEXAGESIMAL = re.compile(
    r"(?P<sign>[+-])?\s*(?P<a>\d+(?:\.\d*)?)\s*(?:[:hHdD°\s]\s*)"
    r"(?P<b>\d+(?:\.\d*)?)\s*(?:[:mM'′\s]\s*"
    r"(?:(?P<c>\d+(?:\.\d*)?)\s*[sS\"″]?)?)?\Z"
)


def parse_ra(value: CardValue) -> float:
    """Right ascension in degrees, in [0, 360)."""
    degrees = _angle(value, hours=True)
    if not 0.0 <= degrees <= 360.0:
        raise ValueError("is outside 0..360 degrees")
    return 0.0 if degrees == 360.0 else degrees


def parse_dec(value: CardValue) -> float:
    """Declination in degrees, in [-90, 90]."""
    degrees = _angle(value, hours=False)
    if not -90.0 <= degrees <= 90.0:
        raise ValueError("is outside -90..90 degrees")
    return degrees


def _angle(value: CardValue, hours: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("is not an angle")
    if isinstance(value, str):
        text = value.strip()
        if _DECIMAL.match(text):
            value = float(text.replace("d", "e").replace("D", "e"))
        else:
            return _sexagesimal(text, hours)
    degrees = to_float(value)
    if not math.isfinite(degrees):
        raise ValueError("is not finite")
    return degrees


def _sexagesimal(text: str, hours: bool) -> float:
    match = _SEXAGESIMAL.match(text)
    if match is None:
        raise ValueError("is neither decimal degrees nor sexagesimal")
    whole = float(match["a"])
    minutes = float(match["b"])
    seconds = float(match["c"]) if match["c"] else 0.0
    if minutes >= 60.0 or seconds >= 60.0:
        raise ValueError("has minutes or seconds of 60 or more")
    if hours and whole >= 24.0:
        raise ValueError("has 24 hours or more")
    magnitude = whole + minutes / 60.0 + seconds / 3600.0
    if hours:
        magnitude *= 15.0
    return -magnitude if match["sign"] == "-" else magnitude
