"""The native celestial WCS against astropy.wcs, projection by projection.

Every comparison is on the sky (angular separation). The native path must
agree with ``WCS.calc_footprint(center=False)`` to 1e-6 degrees.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pytest

from pipeline.extract import hdu_footprint
from pipeline.extract.celestial import NeedsAstropy
from pipeline.extract.footprint import hdu_geometry
from pipeline.extract.projections import NATIVE_PROJECTIONS
from pipeline.extract.wcs_keywords import read_celestial_wcs
from pipeline.fits.model import Hdu
from tests.support.headers import (
    astropy_footprint,
    celestial,
    compressed_hdu,
    hdu_from_header,
    image_header,
    max_separation,
)

TOLERANCE_DEG = 1e-6
ZENITHAL = ["TAN", "SIN", "ARC", "ZEA", "STG"]
CYLINDRICAL = ["CAR", "CEA", "MER", "SFL", "AIT"]


def assert_native(hdu: Hdu) -> None:
    """The HDU's WCS is handled by the native code, not astropy."""
    try:
        read_celestial_wcs(hdu.values(), hdu.layout.science_naxis)
    except NeedsAstropy as error:  # pragma: no cover - a failure message
        pytest.fail(f"went to astropy: {error}")


def check(cards: Mapping[str, object], naxis: tuple[int, ...] = (100, 80)) -> None:
    """Native, no warnings, and within 1e-6 degrees of astropy (or both off the sky)."""
    header = image_header(cards, naxis)
    hdu = hdu_from_header(header)
    assert_native(hdu)
    reference = astropy_footprint(header)
    geometry = hdu_geometry(hdu)
    if np.isnan(reference).any():
        assert geometry.corners is None
        assert [w.code for w in geometry.warnings] == ["footprint_undefined"]
        return
    assert geometry.warnings == ()
    assert geometry.corners is not None
    assert all(0.0 <= ra < 360.0 and -90.0 <= dec <= 90.0 for ra, dec in geometry.corners)
    assert max_separation(geometry.corners, reference) < TOLERANCE_DEG


def test_every_native_projection_is_tested() -> None:
    assert set(ZENITHAL + CYLINDRICAL) == NATIVE_PROJECTIONS


@pytest.mark.parametrize("projection", ZENITHAL + CYLINDRICAL)
@pytest.mark.parametrize(
    ("crval1", "crval2"),
    [(150.0, 2.0), (0.0, 0.0), (359.95, -30.0), (10.0, 89.9), (200.0, -90.0), (45.0, 90.0)],
)
def test_projection_matches_astropy(projection: str, crval1: float, crval2: float) -> None:
    check(celestial(projection, CRVAL1=crval1, CRVAL2=crval2, CDELT1=-0.05, CDELT2=0.05))


@pytest.mark.parametrize("projection", ZENITHAL + CYLINDRICAL)
def test_rotated_cd_matrix(projection: str) -> None:
    rho = math.radians(33.0)
    cards = celestial(projection, CRVAL1=300.0, CRVAL2=-45.0)
    del cards["CDELT1"], cards["CDELT2"]
    cards.update(
        CD1_1=-0.02 * math.cos(rho),
        CD1_2=0.02 * math.sin(rho),
        CD2_1=0.02 * math.sin(rho),
        CD2_2=0.02 * math.cos(rho),
    )
    check(cards)


@pytest.mark.parametrize("projection", ["TAN", "CAR", "SIN"])
def test_pc_with_cdelt(projection: str) -> None:
    check(celestial(projection, PC1_1=0.9, PC1_2=-0.3, PC2_1=0.25, PC2_2=0.95))


def test_old_style_pc_keywords() -> None:
    check(celestial("TAN", PC001001=0.9, PC001002=-0.3, PC002001=0.25, PC002002=0.95))


def test_pc_takes_precedence_over_cd() -> None:
    check(celestial("TAN", PC1_1=1.0, CD1_1=-0.5, CD2_2=0.5))


def test_cd_takes_precedence_over_crota() -> None:
    check({**celestial("TAN", CD1_1=-0.01, CD2_2=0.01), "CROTA2": 30.0})


@pytest.mark.parametrize("rotation", [0.0, 30.0, -120.0, 180.0])
def test_crota2_legacy_rotation(rotation: float) -> None:
    check(celestial("TAN", CROTA2=rotation, CDELT1=-0.01, CDELT2=0.02))


def test_crota1_alone_is_ignored_like_wcslib() -> None:
    check(celestial("TAN", CROTA1=30.0))


@pytest.mark.parametrize("projection", ["CAR", "SFL", "MER", "CEA", "AIT"])
@pytest.mark.parametrize(
    ("lonpole", "latpole"), [(None, -40.0), (180.0, None), (180.0, -90.0), (120.0, 0.0)]
)
def test_lonpole_latpole_for_non_zenithal(
    projection: str, lonpole: float | None, latpole: float | None
) -> None:
    cards = celestial(projection, CRVAL1=120.0, CRVAL2=-30.0)
    if lonpole is not None:
        cards["LONPOLE"] = lonpole
    if latpole is not None:
        cards["LATPOLE"] = latpole
    check(cards)


def test_lonpole_without_a_native_pole_is_invalid_as_in_astropy() -> None:
    cards = celestial("CAR", CRVAL1=120.0, CRVAL2=-30.0, LONPOLE=10.0, LATPOLE=20.0)
    header = image_header(cards)
    with pytest.raises(ValueError, match="latp"):
        astropy_footprint(header)
    geometry = hdu_geometry(hdu_from_header(header))
    assert geometry.corners is None
    assert [w.code for w in geometry.warnings] == ["wcs_invalid"]


@pytest.mark.parametrize("lonpole", [0.0, 90.0, 180.0, 270.0])
def test_lonpole_for_zenithal(lonpole: float) -> None:
    check(celestial("TAN", LONPOLE=lonpole))


def test_cea_lambda() -> None:
    check(celestial("CEA", PV2_1=0.5, CDELT1=-1.0, CDELT2=1.0))


def test_sin_with_zero_slant_is_native() -> None:
    check(celestial("SIN", PV2_1=0.0, PV2_2=0.0))


def test_sin_beyond_the_limb_has_no_footprint_but_a_centre() -> None:
    cards = celestial("SIN", CDELT1=-1.5, CDELT2=1.5)
    geometry = hdu_geometry(hdu_from_header(image_header(cards)))
    assert geometry.corners is None
    assert geometry.centre is not None
    assert [w.code for w in geometry.warnings] == ["footprint_undefined"]
    check(cards)


def test_all_sky_car() -> None:
    check(
        celestial(
            "CAR", CRVAL1=0.0, CRVAL2=0.0, CRPIX1=180.5, CRPIX2=90.5, CDELT1=-1.0, CDELT2=1.0
        ),
        naxis=(360, 180),
    )


def test_all_sky_ait_in_galactic() -> None:
    cards = {
        "CTYPE1": "GLON-AIT",
        "CTYPE2": "GLAT-AIT",
        "CRVAL1": 0.0,
        "CRVAL2": 0.0,
        "CRPIX1": 180.5,
        "CRPIX2": 90.5,
        "CDELT1": -0.9,
        "CDELT2": 0.9,
    }
    geometry = hdu_geometry(hdu_from_header(image_header(cards, (360, 180))))
    assert geometry.corners is None  # the corners of the AIT rectangle are off the ellipse
    assert geometry.centre == pytest.approx((266.40498829, -28.93617776))


def test_sip_matches_astropy_all_pix2world() -> None:
    cards = celestial(
        "TAN",
        CTYPE1="RA---TAN-SIP",
        CTYPE2="DEC--TAN-SIP",
        A_ORDER=3,
        B_ORDER=3,
        A_2_0=2e-5,
        A_0_2=-1e-5,
        A_1_1=3e-6,
        A_3_0=1e-8,
        B_0_2=2e-5,
        B_2_0=1e-6,
        B_1_2=-1e-8,
        AP_ORDER=3,
        AP_2_0=-2e-5,
        BP_ORDER=3,
        BP_0_2=-2e-5,
    )
    check(cards, naxis=(2048, 1024))


def test_sip_inverse_coefficients_are_not_needed() -> None:
    # astropy refuses AP_ORDER without BP_ORDER; the pixel-to-sky direction
    # never uses them, so the footprint does not depend on them.
    cards = celestial("TAN", A_ORDER=2, B_ORDER=2, A_2_0=2e-5, B_0_2=1e-5)
    with_ap = hdu_footprint(hdu_from_header(image_header({**cards, "AP_ORDER": 2})))
    assert with_ap == hdu_footprint(hdu_from_header(image_header(cards)))


def test_sip_applies_without_the_suffix_like_astropy() -> None:
    check(celestial("TAN", A_ORDER=2, B_ORDER=2, A_2_0=2e-5, B_0_2=1e-5))


def test_sip_order_one_is_ignored() -> None:
    check(celestial("TAN", A_ORDER=1, B_ORDER=1, A_1_0=0.5))


def test_cube_uses_the_two_celestial_axes() -> None:
    cards = {
        **celestial("SIN", CRVAL1=83.8, CRVAL2=-5.4, CDELT1=-0.001, CDELT2=0.001),
        "CTYPE3": "FREQ",
        "CRVAL3": 1.42e9,
        "CRPIX3": 1.0,
        "CDELT3": 1e5,
        "CUNIT3": "Hz",
    }
    check(cards, naxis=(100, 80, 64))


def test_celestial_axes_after_a_spectral_axis() -> None:
    cards = {
        "CTYPE1": "VELO-LSR",
        "CRVAL1": 0.0,
        "CRPIX1": 1.0,
        "CDELT1": 1000.0,
        "CTYPE2": "RA---TAN",
        "CTYPE3": "DEC--TAN",
        "CRVAL2": 10.0,
        "CRVAL3": 40.0,
        "CRPIX2": 30.5,
        "CRPIX3": 20.5,
        "CDELT2": -0.002,
        "CDELT3": 0.002,
    }
    check(cards, naxis=(16, 60, 40))


def test_dec_before_ra() -> None:
    cards = {
        "CTYPE1": "DEC--TAN",
        "CTYPE2": "RA---TAN",
        "CRVAL1": -20.0,
        "CRVAL2": 60.0,
        "CRPIX1": 40.5,
        "CRPIX2": 50.5,
        "CD1_1": 0.0,
        "CD1_2": 0.01,
        "CD2_1": -0.01,
        "CD2_2": 0.0,
    }
    header = image_header(cards, (80, 100))
    reference = astropy_footprint(header)[:, ::-1]  # astropy answers in axis order: (dec, ra)
    ours = hdu_footprint(hdu_from_header(header))
    assert max_separation(ours, reference) < TOLERANCE_DEG


def test_tnx_is_read_as_tan_with_a_warning() -> None:
    cards = celestial("TNX")
    header = image_header(cards)
    geometry = hdu_geometry(hdu_from_header(image_header({**cards, "WAT1_001": "wtype=tnx"})))
    assert geometry.corners is not None
    assert max_separation(geometry.corners, astropy_footprint(header)) < TOLERANCE_DEG
    assert [w.code for w in geometry.warnings] == ["distortion_ignored"]


def test_compressed_image_uses_znaxis() -> None:
    cards = celestial("TAN")
    hdu = compressed_hdu(cards, naxis=(300, 200))
    reference = astropy_footprint(image_header(cards, (300, 200)))
    assert max_separation(hdu_footprint(hdu), reference) < TOLERANCE_DEG


def test_zenithal_reference_beyond_the_pole_is_invalid_as_in_astropy() -> None:
    header = image_header(celestial("TAN", CRVAL2=95.0))
    with pytest.raises(ValueError, match="Ill-conditioned"):
        astropy_footprint(header)
    geometry = hdu_geometry(hdu_from_header(header))
    assert [w.code for w in geometry.warnings] == ["wcs_invalid"]


def test_cylindrical_reference_beyond_the_pole_is_what_wcslib_makes_of_it() -> None:
    check(celestial("CAR", CRVAL2=95.0))
