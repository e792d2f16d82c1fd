"""The spherical rotation from native (φ, θ) to celestial (α, δ) coordinates.

Paper II §2.4: the reference point (α0, δ0) = CRVAL sits at native (φ0, θ0),
and ``LONPOLE`` = φp is the native longitude of the celestial pole, by
default 0° if δ0 ≥ θ0 and 180° otherwise (plus φ0). For θ0 = 90° (the
zenithals) the native pole is the reference point. Otherwise eq. 8 has two
solutions for the pole's latitude δp and ``LATPOLE`` (default +90°) picks
the nearer valid one. The cases WCSLIB handles specially — a pole at the
reference point, the celestial pole at the native pole — are handled alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

from pipeline.extract.celestial import InvalidWcs

__all__ = ["Rotation", "native_to_celestial", "rotation_for"]

_TOLERANCE = 1e-10
_DEFAULT_LATPOLE = 90.0


class Rotation(NamedTuple):
    """Euler angles of the rotation: the pole (αp, δp) and φp, pre-computed."""

    # A NamedTuple, not a frozen dataclass: built for every footprint, and a
    # frozen dataclass's __init__ costs three times as much.

    alpha_p: float
    phi_p: float
    sin_delta_p: float
    cos_delta_p: float


def rotation_for(
    crval: tuple[float, float],
    native_reference: tuple[float, float],
    lonpole: float | None,
    latpole: float | None,
) -> Rotation:
    """The rotation putting ``crval`` at native ``(φ0, θ0)``; InvalidWcs if none does."""
    alpha0, delta0 = crval
    phi0, theta0 = native_reference
    phi_p = lonpole if lonpole is not None else (180.0 if delta0 < theta0 else 0.0) + phi0
    if theta0 == 90.0:
        if abs(delta0) > 90.0 + _TOLERANCE:
            # The reference point is the native pole: it must be on the sphere.
            raise InvalidWcs(f"reference latitude {delta0:g} is beyond the poles")
        alpha_p, delta_p = alpha0, delta0
    else:
        delta_p = _pole_latitude(delta0, phi0, theta0, phi_p, latpole)
        alpha_p = _pole_longitude(alpha0, delta0, phi0, theta0, phi_p, delta_p)
    radians = math.radians(delta_p)
    return Rotation(alpha_p, phi_p, math.sin(radians), math.cos(radians))


def native_to_celestial(
    rotation: Rotation, natives: Iterable[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Celestial (α, δ) in degrees, α in [0, 360), of each native (φ, θ)."""
    # One loop over the points with the rotation in locals: a footprint is
    # five points, and a call per point cost as much as its arithmetic.
    alpha_p, phi_p = rotation.alpha_p, rotation.phi_p
    sin_p, cos_p = rotation.sin_delta_p, rotation.cos_delta_p
    radians, degrees, sin, cos, atan2 = math.radians, math.degrees, math.sin, math.cos, math.atan2
    celestial = []
    for phi, theta in natives:
        d_phi = radians(phi - phi_p)
        theta_r = radians(theta)
        sin_t, cos_t, cos_d = sin(theta_r), cos(theta_r), cos(d_phi)
        x = sin_t * cos_p - cos_t * sin_p * cos_d
        y = -cos_t * sin(d_phi)
        z = sin_t * sin_p + cos_t * cos_p * cos_d
        alpha = (alpha_p + degrees(atan2(y, x))) % 360.0
        # atan2 rather than asin keeps full precision next to the poles.
        celestial.append((alpha, degrees(atan2(z, math.hypot(x, y)))))
    return celestial


def _pole_latitude(
    delta0: float, phi0: float, theta0: float, phi_p: float, latpole: float | None
) -> float:
    target = _DEFAULT_LATPOLE if latpole is None else latpole
    sin_d0 = math.sin(math.radians(delta0))
    if phi_p == phi0:
        u, v = theta0, 90.0 - delta0
    else:
        x = math.cos(math.radians(theta0)) * math.cos(math.radians(phi_p - phi0))
        y = math.sin(math.radians(theta0))
        z = math.hypot(x, y)
        if z == 0.0:
            if sin_d0 != 0.0:
                raise InvalidWcs("CRVAL latitude must be 0 for |LONPOLE - φ0| = 90 and θ0 = 0")
            return max(-90.0, min(90.0, target))
        ratio = sin_d0 / z
        if abs(ratio) > 1.0 + _TOLERANCE:
            raise InvalidWcs("no native pole satisfies LONPOLE for this CRVAL")
        u = math.degrees(math.atan2(y, x))
        v = math.degrees(math.acos(max(-1.0, min(1.0, ratio))))
    # WCSLIB's choice, step for step: the solution nearer LATPOLE if it is
    # valid, else the other. A LATPOLE exactly midway (0 for a southern CAR
    # image, say) is ambiguous and only rounding decides, here as in WCSLIB.
    first, second = _wrap180(u + v), _wrap180(u - v)
    if abs(target - first) < abs(target - second):
        best = first if abs(first) < 90.0 + _TOLERANCE else second
    else:
        best = second if abs(second) < 90.0 + _TOLERANCE else first
    if abs(best) > 90.0 + _TOLERANCE:
        raise InvalidWcs("no valid latitude for the native pole")
    return max(-90.0, min(90.0, best))


def _pole_longitude(
    alpha0: float, delta0: float, phi0: float, theta0: float, phi_p: float, delta_p: float
) -> float:
    cos_d0 = math.cos(math.radians(delta0))
    z = math.cos(math.radians(delta_p)) * cos_d0
    if abs(z) < _TOLERANCE:
        if abs(cos_d0) < _TOLERANCE:
            return alpha0  # the celestial pole is the reference point
        if delta_p > 0.0:
            return alpha0 + phi_p - phi0 - 180.0  # celestial north pole at the native pole
        return alpha0 - phi_p + phi0  # celestial south pole at the native pole
    x = (
        math.sin(math.radians(theta0))
        - math.sin(math.radians(delta_p)) * math.sin(math.radians(delta0))
    ) / z
    y = math.sin(math.radians(phi_p - phi0)) * math.cos(math.radians(theta0)) / cos_d0
    if x == 0.0 and y == 0.0:
        raise InvalidWcs("the native pole's longitude is undefined")
    return alpha0 - math.degrees(math.atan2(y, x))


def _wrap180(angle: float) -> float:
    if angle > 180.0:
        return angle - 360.0
    if angle < -180.0:
        return angle + 360.0
    return angle
