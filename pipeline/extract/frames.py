"""Celestial reference frames, and bringing positions into ICRS degrees.

Which frame a header means follows the FITS WCS paper II (§3.1): ``RADESYS``
(or the older ``RADECSYS``) names it; without it, ``EQUINOX`` (else
``EPOCH``, as AIPS wrote it) before 1984 means FK4, from 1984 FK5, and no
equinox at all ICRS. FK5 and FK4 default to equinoxes J2000 and B1950.

Conversions, all with ERFA (astropy.coordinates would cost milliseconds):

- ICRS, FK5 J2000: kept as they are. They differ by ~20 mas, far below the
  precision of a footprint or a header pointing, and this is the common case
  that must stay cheap.
- FK5 at another equinox: precessed to J2000 with the IAU 2006 precession
  matrix (``erfa.bp06``), as astropy does.
- FK4 B1950: ``erfa.fk45z`` at epoch B1950, as astropy does for an FK4 frame
  without an observation time. FK4-NO-E is treated as FK4 (error ≤ 0.35″).
- Galactic: to FK5 J2000 with the rotation astropy uses (its north galactic
  pole and longitude of the celestial pole for J2000).
- Whenever a conversion was made anyway, FK5 J2000 → ICRS follows
  (``erfa.fk5hz``), so results agree with astropy.coordinates to ~1 mas.
- Anything else (ecliptic, supergalactic, helioprojective, GAPPT, FK4 at
  another equinox): ``UnsupportedFrame``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import erfa
import numpy as np

from pipeline.extract.keywords import to_float
from pipeline.fits.cards import CardValue

__all__ = ["ICRS", "Frame", "UnsupportedFrame", "equatorial_frame", "to_icrs"]

_J2000 = 2000.0
_B1950 = 1950.0
_EQUINOX_TOLERANCE = 1e-6
_FK4_BEFORE = 1984.0
_J2000_JD = 2451545.0


def _axis_rotation(degrees: float, axis: int) -> np.ndarray:
    """The matrix turning the coordinate frame by ``degrees`` about ``axis``."""
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    matrix = np.eye(3)
    matrix[i, i] = matrix[j, j] = cos
    matrix[i, j], matrix[j, i] = sin, -sin
    return matrix


# astropy's Galactic frame: north galactic pole at FK5 J2000 (192.8594812065348,
# 27.12825118085622), celestial pole at galactic longitude 122.9319185680026.
_GALACTIC_FROM_FK5 = (
    _axis_rotation(180.0 - 122.9319185680026, 2)
    @ _axis_rotation(90.0 - 27.12825118085622, 1)
    @ _axis_rotation(192.8594812065348, 2)
)
_FK5_FROM_GALACTIC = _GALACTIC_FROM_FK5.T


class UnsupportedFrame(ValueError):
    """Positions in a frame that cannot be brought to ICRS here."""


@dataclass(frozen=True, slots=True)
class Frame:
    """A celestial frame: its system and, for FK4/FK5, its equinox (years)."""

    system: str
    equinox: float | None = None


ICRS = Frame("ICRS")


def equatorial_frame(values: Mapping[str, CardValue], use_epoch: bool = True) -> Frame:
    """The frame of equatorial coordinates in a header, by paper II's defaults."""
    equinox = _equinox(values.get("EQUINOX"))
    if equinox is None and use_epoch:
        equinox = _equinox(values.get("EPOCH"))
    system = values.get("RADESYS", values.get("RADECSYS"))
    name = system.strip().upper() if isinstance(system, str) else ""
    if not name:
        if equinox is None:
            return ICRS
        name = "FK4" if equinox < _FK4_BEFORE else "FK5"
    if name == "ICRS":
        return ICRS
    if name == "FK5":
        return Frame("FK5", _J2000 if equinox is None else equinox)
    if name in ("FK4", "FK4-NO-E"):
        return Frame(name, _B1950 if equinox is None else equinox)
    return Frame(name, equinox)


def to_icrs(points: Sequence[tuple[float, float]], frame: Frame) -> list[tuple[float, float]]:
    """``points`` (longitude, latitude in degrees, in ``frame``) as ICRS RA/Dec."""
    system, equinox = frame.system, frame.equinox
    if system == "ICRS" or (system == "FK5" and _near(equinox, _J2000)):
        return [(lng % 360.0, lat) for lng, lat in points]
    lng = np.radians([point[0] for point in points])
    lat = np.radians([point[1] for point in points])
    if system == "GALACTIC":
        ra, dec = erfa.c2s(erfa.s2c(lng, lat) @ _FK5_FROM_GALACTIC.T)
    elif system in ("FK4", "FK4-NO-E") and _near(equinox, _B1950):
        ra, dec = erfa.fk45z(lng, lat, _B1950)
    elif system == "FK5" and equinox is not None:
        ra, dec = _precess_fk5(lng, lat, equinox)
    else:
        shown = system if equinox is None else f"{system} equinox {equinox:g}"
        raise UnsupportedFrame(f"positions in {shown} cannot be converted to ICRS")
    ra, dec = erfa.fk5hz(ra, dec, _J2000_JD, 0.0)
    return [
        (math.degrees(r) % 360.0, math.degrees(d))
        for r, d in zip(ra.tolist(), dec.tolist(), strict=True)
    ]


def _precess_fk5(lng: np.ndarray, lat: np.ndarray, equinox: float) -> tuple[np.ndarray, np.ndarray]:
    to_date = erfa.bp06(*erfa.epj2jd(equinox))[1]
    vectors = erfa.s2c(lng, lat)
    # The matrix takes J2000 to the equinox of date; its transpose comes back.
    return erfa.c2s(vectors @ to_date)  # type: ignore[no-any-return]


def _equinox(value: CardValue) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = to_float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        text = value.strip().upper().lstrip("JB")
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _near(value: float | None, target: float) -> bool:
    return value is not None and abs(value - target) < _EQUINOX_TOLERANCE
