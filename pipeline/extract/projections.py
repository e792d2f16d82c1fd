"""Native (pixel → sky) deprojections of the common FITS projections.

Formulas from Calabretta & Greisen 2002, A&A 395, 1077 ("paper II"), §5:
intermediate world coordinates ``(x, y)`` in degrees become native spherical
coordinates ``(φ, θ)`` in degrees. Implemented: the zenithals TAN, SIN
(without slant), ARC, ZEA, STG; the cylindricals CAR, CEA, MER; the
pseudo-cylindrical SFL and the all-sky AIT. Pixels where a projection has no
sky position raise ``OutsideProjection``, as WCSLIB's bounds checks (on by
default in astropy) turn them into NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from pipeline.extract.celestial import InvalidWcs, NeedsAstropy, OutsideProjection

__all__ = ["NATIVE_PROJECTIONS", "check_parameters", "deproject", "deproject_all", "fiducial"]

ZENITHAL = frozenset({"TAN", "SIN", "ARC", "ZEA", "STG"})
NATIVE_PROJECTIONS = ZENITHAL | {"CAR", "CEA", "MER", "SFL", "AIT"}

_R0 = 180.0 / math.pi  # the radius of the generating sphere, in degrees
_TOLERANCE = 1e-13  # WCSLIB's allowance for rounding at the projection's edge


def fiducial(projection: str) -> tuple[float, float]:
    """The native coordinates (φ0, θ0) of the reference point."""
    return (0.0, 90.0) if projection in ZENITHAL else (0.0, 0.0)


def check_parameters(projection: str, parameters: Mapping[int, float]) -> None:
    """Refuse projection parameters the native code does not implement."""
    if projection == "SIN":
        if set(parameters) - {1, 2} or any(parameters.values()):
            raise NeedsAstropy("slant SIN (PV2_1/PV2_2 not zero)")
    elif projection == "CEA":
        if set(parameters) - {1}:
            raise NeedsAstropy(f"CEA parameters {sorted(parameters)}")
        if not 0.0 < parameters.get(1, 1.0) <= 1.0:
            raise InvalidWcs("CEA needs 0 < PV2_1 <= 1")
    elif parameters:
        raise NeedsAstropy(f"{projection} with parameters {sorted(parameters)}")


def deproject_all(
    projection: str, points: Iterable[tuple[float, float]], parameters: Mapping[int, float]
) -> list[tuple[float, float]]:
    """:func:`deproject` of each point, TAN (nearly every image) inline."""
    if projection != "TAN":
        return [deproject(projection, x, y, parameters) for x, y in points]
    natives = []
    for x, y in points:
        radius = math.hypot(x, y)
        phi = math.degrees(math.atan2(x, -y)) if radius else 0.0
        # θ = atan2(R0, R) is in (0°, 90°] and φ in [-180°, 180°]: TAN maps
        # every point, and _checked would return them unchanged.
        natives.append((phi, math.degrees(math.atan2(_R0, radius))))
    return natives


def deproject(
    projection: str, x: float, y: float, parameters: Mapping[int, float]
) -> tuple[float, float]:
    """Native (φ, θ) in degrees of intermediate world coordinates (x, y) in degrees."""
    if projection in ZENITHAL:
        return _zenithal(projection, x, y)
    if projection == "CAR":
        phi, theta = x, y
    elif projection == "MER":
        phi, theta = x, 2.0 * math.degrees(math.atan(math.exp(y / _R0))) - 90.0
    elif projection == "CEA":
        phi, theta = x, math.degrees(math.asin(_clamp(y * parameters.get(1, 1.0) / _R0)))
    elif projection == "SFL":
        theta = y
        cos_theta = math.cos(math.radians(theta))
        phi = x / cos_theta if cos_theta > 0.0 else 0.0
    else:
        return _aitoff(x, y)
    return _checked(phi, theta)


def _zenithal(projection: str, x: float, y: float) -> tuple[float, float]:
    radius = math.hypot(x, y)
    phi = math.degrees(math.atan2(x, -y)) if radius else 0.0
    if projection == "TAN":
        theta = math.degrees(math.atan2(_R0, radius))
    elif projection == "SIN":
        # cos θ = R / R0; the atan2 form stays precise near the limb and the pole.
        ratio = _clamp(radius / _R0)
        theta = math.degrees(math.atan2(math.sqrt(1.0 - ratio * ratio), ratio))
    elif projection == "ARC":
        theta = 90.0 - radius
    elif projection == "ZEA":
        theta = 90.0 - 2.0 * math.degrees(math.asin(_clamp(radius / (2.0 * _R0))))
    else:  # STG
        theta = 90.0 - 2.0 * math.degrees(math.atan(radius / (2.0 * _R0)))
    return _checked(phi, theta)


def _aitoff(x: float, y: float) -> tuple[float, float]:
    u = x / (4.0 * _R0)
    v = y / (2.0 * _R0)
    z_squared = 1.0 - u * u - v * v
    if z_squared < 0.5:
        if z_squared < 0.5 - _TOLERANCE:
            raise OutsideProjection("beyond the AIT ellipse")
        z_squared = 0.5
    z = math.sqrt(z_squared)
    phi = 2.0 * math.degrees(math.atan2(z * x / (2.0 * _R0), 2.0 * z_squared - 1.0))
    theta = math.degrees(math.asin(_clamp(y * z / _R0)))
    return _checked(phi, theta)


def _clamp(value: float) -> float:
    """``value`` within [-1, 1] allowing rounding; beyond that, outside the projection."""
    if abs(value) > 1.0:
        if abs(value) > 1.0 + _TOLERANCE:
            raise OutsideProjection("beyond the projection's boundary")
        return math.copysign(1.0, value)
    return value


def _checked(phi: float, theta: float) -> tuple[float, float]:
    if abs(phi) > 180.0 + _TOLERANCE or abs(theta) > 90.0 + _TOLERANCE:
        raise OutsideProjection(f"native (φ, θ) = ({phi:g}, {theta:g}) is off the sphere")
    return phi, max(-90.0, min(90.0, theta))
