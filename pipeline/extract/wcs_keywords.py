"""Reading a celestial WCS from header keywords, the way WCSLIB reads them.

Only the primary WCS (no alternate letter) is read. Rules that matter for
agreeing with ``astropy.wcs`` (WCSLIB):

- Axis types are ``xxxx-PPP``: ``RA``/``DEC``, ``xLON``/``xLAT``,
  ``xyLN``/``xyLT``, four characters padded with ``-``, then the projection.
  ``-SIP`` may follow. ``TNX`` (IRAF) is read as ``TAN``, as WCSLIB does; its
  distortion in ``WAT`` keywords is ignored.
- The linear part: any ``PCi_j`` (also the old ``PC00i00j``) wins and is
  scaled by ``CDELTi``; else ``CDi_j`` (missing elements 0); else
  ``CROTAn`` of the latitude axis with ``CDELTi``; else ``CDELTi`` alone.
- SIP applies whenever ``A_ORDER`` > 1, with or without ``-SIP`` (astropy
  does the same).

Anything the native transform does not implement raises ``NeedsAstropy``:
projections other than those in :mod:`pipeline.extract.projections`,
projection parameters beyond SIN's zero slant and CEA's λ, ``PVi_m`` on the
longitude axis (custom fiducial points), units other than degrees, TPV-style
polynomials, DSS plate solutions (``PLTRAH``), suffixes other than ``-SIP``.
``-TAB`` coordinates live in a table's data and raise ``UnsupportedWcs``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import cache, lru_cache
from typing import NamedTuple

from pipeline.extract.celestial import (
    CelestialWcs,
    InvalidWcs,
    Matrix2,
    NeedsAstropy,
    Sip,
    UnsupportedWcs,
)
from pipeline.extract.frames import Frame, equatorial_frame
from pipeline.extract.keywords import to_float
from pipeline.extract.projections import NATIVE_PROJECTIONS, check_parameters
from pipeline.fits.cards import CardValue

__all__ = ["read_celestial_wcs"]

_CTYPE = re.compile(r"(?P<coord>[A-Z]{1,4})-*(?<=^.{4})-(?P<proj>[A-Z0-9]{3})(?P<suffix>-\w+)?\Z")
_FRAMES = {"GLON": "GALACTIC", "ELON": "ECLIPTIC", "SLON": "SUPERGALACTIC"}
_DEGREES = frozenset({"", "deg", "degree", "degrees"})
_READ_AS = {"TNX": "TAN"}
_MAX_SIP_ORDER = 9
_MAX_AXES = 999  # as for NAXIS
_PROBED_AXES = 4
_PV_COUNT = 40
# Matrix keywords, either spelling: PCi_j / PC00i00j, CDi_j / CD00i00j.
_MATRIX_KEYWORD = re.compile(r"(PC|CD)(\d{1,3}_\d{1,3}|\d{6})\Z")
# Distinct CTYPE combinations are few (most headers say RA---TAN, DEC--TAN):
# what they mean is worked out once per combination.
_CTYPE_COMBINATIONS = 1024


class _AxisKeywords(NamedTuple):
    """The keyword names of one (0-based) axis, built once per axis."""

    ctype: str
    cunit: str
    crpix: str
    crval: str
    cdelt: str
    crota: str


def read_celestial_wcs(
    values: Mapping[str, CardValue], naxis: tuple[int, ...]
) -> CelestialWcs | None:
    """The celestial WCS of a header with image axes ``naxis``; None if it has none.

    Raises ``NeedsAstropy`` for what only astropy can do and ``InvalidWcs``
    for keywords that describe no valid transform.
    """
    wcsaxes = _int(values.get("WCSAXES"), 0)
    if not 0 <= wcsaxes <= _MAX_AXES:
        raise InvalidWcs(f"WCSAXES = {wcsaxes} is outside 0..{_MAX_AXES}")
    count = max(len(naxis), wcsaxes)
    axes = _celestial_axes(values, count)
    if axes is None:
        return None
    lng, lat, coord, projection = axes
    if "PLTRAH" in values:
        raise NeedsAstropy("DSS plate solution")
    lng_names, lat_names = _axis_keywords(lng), _axis_keywords(lat)
    for names in (lng_names, lat_names):
        unit = values.get(names.cunit, "")
        if not isinstance(unit, str) or unit.strip().lower() not in _DEGREES:
            raise NeedsAstropy(f"{names.cunit} = {unit!r} is not degrees")
    pv = _projection_parameters(values, lng, lat, projection)
    return CelestialWcs(
        lng_axis=lng,
        lat_axis=lat,
        projection=_READ_AS.get(projection, projection),
        crpix=(_real(values, lng_names.crpix, 0.0), _real(values, lat_names.crpix, 0.0)),
        matrix=_matrix(values, lng, lat, count),
        crval=(_real(values, lng_names.crval, 0.0), _real(values, lat_names.crval, 0.0)),
        lonpole=_optional_real(values, "LONPOLE"),
        latpole=_optional_real(values, "LATPOLE"),
        pv=pv,
        sip=_sip(values, lng, lat),
        frame=equatorial_frame(values) if coord == "RA" else Frame(_FRAMES.get(coord, coord)),
        size=(_length(naxis, lng), _length(naxis, lat)),
    )


@cache
def _axis_keywords(axis: int) -> _AxisKeywords:
    number = axis + 1
    return _AxisKeywords(*(f"{name.upper()}{number}" for name in _AxisKeywords._fields))


@cache
def _ctype_names(count: int) -> tuple[str, ...]:
    return tuple(_axis_keywords(axis).ctype for axis in range(count))


def _celestial_axes(
    values: Mapping[str, CardValue], count: int
) -> tuple[int, int, str, str] | None:
    """(lng axis, lat axis, lng coordinate, projection), or None if not celestial."""
    return _celestial_axes_of(tuple(map(values.get, _ctype_names(count))))


@lru_cache(maxsize=_CTYPE_COMBINATIONS)
def _celestial_axes_of(ctypes: tuple[CardValue, ...]) -> tuple[int, int, str, str] | None:
    """:func:`_celestial_axes` of the CTYPEi values (a function of them only).

    Values equal as cache keys (``1``, ``1.0``, ``True``) are never strings,
    and whatever is not a string is passed over alike.
    """
    found: dict[str, tuple[int, str]] = {}
    for axis, ctype in enumerate(ctypes):
        if isinstance(ctype, str) and (match := _CTYPE.match(ctype.strip())) is not None:
            found.setdefault(match["coord"], (axis, ctype.strip()))
    for lng_coord, (lng, lng_ctype) in found.items():
        lat_coord = _latitude_of(lng_coord)
        if lat_coord is None:
            continue
        if lat_coord not in found:
            raise InvalidWcs(f"{lng_coord} axis without a matching {lat_coord} axis")
        lat, lat_ctype = found[lat_coord]
        projection = _projection(lng, lng_ctype)
        if _projection(lat, lat_ctype) != projection:
            raise InvalidWcs(f"{lng_ctype!r} and {lat_ctype!r} use different projections")
        return lng, lat, lng_coord, projection
    if any(coord == "DEC" or coord.endswith(("LAT", "LT")) for coord in found):
        raise InvalidWcs("latitude axis without a matching longitude axis")
    return None


def _projection(axis: int, ctype: str) -> str:
    """The projection code of a celestial CTYPE, if the native code can do it."""
    match = _CTYPE.match(ctype)
    assert match is not None  # only matched CTYPEs get here
    projection, suffix = match["proj"], match["suffix"]
    if projection == "TAB" or suffix == "-TAB":
        raise UnsupportedWcs(f"CTYPE{axis + 1} = {ctype!r} looks its coordinates up in table data")
    if suffix not in (None, "-SIP"):
        raise NeedsAstropy(f"CTYPE{axis + 1} = {ctype!r}")
    if projection not in NATIVE_PROJECTIONS and projection not in _READ_AS:
        raise NeedsAstropy(f"projection {projection}")
    return str(projection)


def _latitude_of(coord: str) -> str | None:
    """The latitude type paired with longitude type ``coord``; None if not one."""
    if coord == "RA":
        return "DEC"
    if len(coord) == 4 and coord.endswith("LON"):
        return coord[0] + "LAT"
    if len(coord) == 4 and coord.endswith("LN"):
        return coord[:2] + "LT"
    return None


def _projection_parameters(
    values: Mapping[str, CardValue], lng: int, lat: int, projection: str
) -> dict[int, float]:
    if "PROJP1" in values or "PROJP2" in values:
        raise NeedsAstropy("AIPS PROJPn projection parameters")
    keys = values.keys()
    if not keys.isdisjoint(_pv_names(lng)):
        raise NeedsAstropy(f"PV{lng + 1}_m on the longitude axis")
    parameters: dict[int, float] = {}
    for name in keys & _pv_names(lat):
        if (value := _optional_real(values, name)) is not None:
            parameters[int(name.partition("_")[2])] = value
    check_parameters(_READ_AS.get(projection, projection), parameters)
    return parameters


@cache
def _pv_names(axis: int) -> frozenset[str]:
    """``PVi_0`` … ``PVi_39`` for 0-based ``axis``: TPV polynomials use them all."""
    return frozenset(f"PV{axis + 1}_{m}" for m in range(_PV_COUNT))


def _matrix(values: Mapping[str, CardValue], lng: int, lat: int, count: int) -> Matrix2:
    """The CD-equivalent over (lng, lat); WCSLIB's precedence PC > CD > CROTA."""
    d_lng = _real(values, _axis_keywords(lng).cdelt, 1.0)
    d_lat = _real(values, _axis_keywords(lat).cdelt, 1.0)
    if _present(values, "PC", count):
        pc = _elements(values, "PC", lng, lat, diagonal=1.0)
        a, b, c, d = d_lng * pc[0], d_lng * pc[1], d_lat * pc[2], d_lat * pc[3]
    elif _present(values, "CD", count):
        a, b, c, d = _elements(values, "CD", lng, lat, diagonal=0.0)
    else:
        rho = math.radians(_real(values, _axis_keywords(lat).crota, 0.0))
        cos, sin = math.cos(rho), math.sin(rho)
        a, b, c, d = d_lng * cos, -d_lat * sin, d_lng * sin, d_lat * cos
    if a * d - b * c == 0.0:
        raise InvalidWcs("the linear transformation matrix is singular")
    return (a, b), (c, d)


def _elements(
    values: Mapping[str, CardValue], prefix: str, lng: int, lat: int, diagonal: float
) -> tuple[float, float, float, float]:
    """(lng,lng), (lng,lat), (lat,lng), (lat,lat) of PC or CD, with defaults."""
    found = []
    for (modern, old), default in zip(
        _square_names(prefix, lng, lat), (diagonal, 0.0, 0.0, diagonal), strict=True
    ):
        value = _optional_real(values, modern)
        if value is None:
            value = _optional_real(values, old)
        found.append(default if value is None else value)
    a, b, c, d = found
    return a, b, c, d


@cache
def _square_names(prefix: str, lng: int, lat: int) -> tuple[tuple[str, str], ...]:
    """Both spellings of the four elements :func:`_elements` reads (built once)."""
    pairs = ((lng, lng), (lng, lat), (lat, lng), (lat, lat))
    return tuple(_element_names(prefix, i, j) for i, j in pairs)


def _present(values: Mapping[str, CardValue], prefix: str, count: int) -> bool:
    """Whether any ``PCi_j``/``CDi_j`` (either spelling) is in the header."""
    if count <= _PROBED_AXES:
        return not values.keys().isdisjoint(_matrix_names(prefix, count))
    # Probing count² names would be slow for many axes: scan the header once.
    return any(
        (match := _MATRIX_KEYWORD.match(keyword)) is not None and match[1] == prefix
        for keyword in values
    )


@cache
def _matrix_names(prefix: str, count: int) -> frozenset[str]:
    """Every spelling of the matrix keywords for ``count`` axes (built once)."""
    axes = range(count)
    return frozenset(name for i in axes for j in axes for name in _element_names(prefix, i, j))


@cache
def _element_names(prefix: str, i: int, j: int) -> tuple[str, str]:
    """``PCi_j`` and the older ``PC00i00j``, for 0-based axes (built once)."""
    return f"{prefix}{i + 1}_{j + 1}", f"{prefix}{i + 1:03d}{j + 1:03d}"


def _sip(values: Mapping[str, CardValue], lng: int, lat: int) -> Sip | None:
    a_order = _int(values.get("A_ORDER"), 0)
    b_order = _int(values.get("B_ORDER"), 0)
    if a_order <= 1 and b_order <= 1:
        return None
    if a_order <= 1 or b_order <= 1:
        raise InvalidWcs("SIP needs both A_ORDER and B_ORDER")
    if max(a_order, b_order) > _MAX_SIP_ORDER:
        raise InvalidWcs(f"SIP order {max(a_order, b_order)} is beyond {_MAX_SIP_ORDER}")
    if {lng, lat} != {0, 1}:
        raise NeedsAstropy("SIP on axes other than the first two")
    return Sip(_sip_terms(values, "A", a_order), _sip_terms(values, "B", b_order))


def _sip_terms(
    values: Mapping[str, CardValue], name: str, order: int
) -> dict[tuple[int, int], float]:
    terms: dict[tuple[int, int], float] = {}
    for p in range(order + 1):
        for q in range(order + 1 - p):
            coefficient = _optional_real(values, f"{name}_{p}_{q}")
            if coefficient:
                terms[p, q] = coefficient
    return terms


def _optional_real(values: Mapping[str, CardValue], keyword: str) -> float | None:
    value = values.get(keyword)
    if value is None:
        return None
    if type(value) is float and math.isfinite(value):  # the usual case, first
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidWcs(f"{keyword} = {value!r} is not a finite number")
    number = to_float(value)
    if not math.isfinite(number):
        raise InvalidWcs(f"{keyword} = {value!r} is not a finite number")
    return number


def _real(values: Mapping[str, CardValue], keyword: str, default: float) -> float:
    value = _optional_real(values, keyword)
    return default if value is None else value


def _int(value: CardValue, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _length(naxis: tuple[int, ...], axis: int) -> int:
    return naxis[axis] if axis < len(naxis) else 1
