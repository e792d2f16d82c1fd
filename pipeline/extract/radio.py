"""Radio facts: the restoring beam and the frequency.

Beam (degrees): ``BMAJ``, ``BMIN``, ``BPA`` from the first HDU (primary
first) that has ``BMAJ``. Images restored by AIPS often keep the beam only in
a history card (``HISTORY AIPS   CLEAN BMAJ=  1.3889E-03 BMIN= … BPA= …``);
for an image whose ``BUNIT`` is per beam the last such card is used.
Per-channel beams (CASA's ``BEAMS`` table) are data, not headers: not read.

Frequency (Hz), first found:

1. ``RESTFRQ``, ``RESTFREQ`` (0, AIPS' "unset", is passed over)
2. the reference value of a ``FREQ`` spectral axis of the science image,
   ``CRVALi`` in ``CUNITi`` (Hz, kHz, MHz, GHz; Hz when absent)
3. ``OBSFREQ``, taken as Hz
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pipeline.extract.keywords import Headers, as_number
from pipeline.fits.cards import CardValue

__all__ = ["Beam", "find_beam", "find_frequency"]

Beam = tuple[float | None, float | None, float | None]

_AIPS_BEAM = re.compile(
    r"AIPS\s+CLEAN\s+BMAJ=\s*(?P<major>\S+)\s+BMIN=\s*(?P<minor>\S+)\s+BPA=\s*(?P<pa>\S+)"
)
_FREQUENCY_UNITS = {"": 1.0, "HZ": 1.0, "KHZ": 1e3, "MHZ": 1e6, "GHZ": 1e9}


def find_beam(headers: Headers, science: int | None, bunit: str | None) -> Beam:
    """(major, minor, position angle) in degrees; None where unknown."""
    for position in headers.positions():
        values = headers.of(position)
        if values.get("BMAJ") is None:
            continue
        major = _beam_value(headers, position, "BMAJ", positive=True)
        if major is None:
            continue
        return (
            major,
            _beam_value(headers, position, "BMIN", positive=True),
            _beam_value(headers, position, "BPA", positive=False),
        )
    if science is not None and bunit is not None and "BEAM" in bunit.upper():
        return _aips_history_beam(headers, science)
    return None, None, None


def find_frequency(headers: Headers, science: int | None) -> float | None:
    """The frequency in Hz by the precedence of this module's docstring."""
    found = headers.find(("RESTFRQ", "RESTFREQ"), _frequency, "bad_frequency")
    if found:
        return found.value
    if science is not None and (axis := _spectral_axis(headers, science)) is not None:
        return axis
    found = headers.find(("OBSFREQ",), _frequency, "bad_frequency")
    return found.value if found else None


def _beam_value(headers: Headers, position: int, keyword: str, positive: bool) -> float | None:
    raw = headers.of(position).get(keyword)
    try:
        value = as_number(raw)
        if value is not None and positive and value <= 0.0:
            raise ValueError("is not positive")
    except ValueError as error:
        headers.warn("bad_beam", f"{keyword} = {raw!r}: {error}", position)
        return None
    return value


def _aips_history_beam(headers: Headers, position: int) -> Beam:
    latest = None
    for card in headers.hdus[position].cards:
        if card.keyword == "HISTORY" and isinstance(card.value, str) and "BMAJ=" in card.value:
            latest = _AIPS_BEAM.search(card.value) or latest
    if latest is None:
        return None, None, None
    try:
        major, minor, angle = (as_number(latest[name]) for name in ("major", "minor", "pa"))
    except ValueError as error:
        headers.warn("bad_beam", f"AIPS CLEAN history card: {error}", position)
        return None, None, None
    if major is None or major <= 0.0:
        return None, None, None
    return major, minor, angle


def _spectral_axis(headers: Headers, position: int) -> float | None:
    values: Mapping[str, CardValue] = headers.of(position)
    count = len(headers.hdus[position].layout.science_naxis)
    for axis in range(1, count + 1):
        ctype = values.get(f"CTYPE{axis}")
        if not (isinstance(ctype, str) and ctype.strip().upper().startswith("FREQ")):
            continue
        unit = values.get(f"CUNIT{axis}", "")
        scale = _FREQUENCY_UNITS.get(unit.strip().upper()) if isinstance(unit, str) else None
        try:
            value = _frequency(values.get(f"CRVAL{axis}"))
            if scale is None:
                raise ValueError(f"has unit {unit!r}, not a frequency unit")
        except ValueError as error:
            headers.warn("bad_frequency", f"CRVAL{axis} of {ctype.strip()}: {error}", position)
            continue
        if value is not None:
            return value * scale
    return None


def _frequency(value: CardValue) -> float | None:
    number = as_number(value)
    if number is None or number == 0.0:
        return None
    if number < 0.0:
        raise ValueError("is negative")
    return number
