"""What the native WCS leaves to astropy, and WCS that nothing can use."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.extract import hdu_footprint
from pipeline.extract.celestial import NeedsAstropy
from pipeline.extract.footprint import hdu_geometry
from pipeline.extract.wcs_keywords import read_celestial_wcs
from tests.support.headers import (
    astropy_footprint,
    celestial,
    hdu_from_cards,
    hdu_from_header,
    image_hdu,
    image_header,
    max_separation,
    table_hdu,
)

TOLERANCE_DEG = 1e-6
TPV = {
    "PV1_0": 0.0,
    "PV1_1": 1.0,
    "PV1_2": 0.0,
    "PV1_4": 2e-3,
    "PV1_7": -3e-3,
    "PV2_0": 0.0,
    "PV2_1": 1.0,
    "PV2_2": 0.0,
    "PV2_5": 1e-3,
    "PV2_10": 4e-3,
}


def goes_to_astropy(cards: dict[str, object], naxis: tuple[int, ...] = (100, 80)) -> None:
    header = image_header(cards, naxis)
    hdu = hdu_from_header(header)
    with pytest.raises(NeedsAstropy):
        read_celestial_wcs(hdu.values(), hdu.layout.science_naxis)
    geometry = hdu_geometry(hdu)
    assert geometry.warnings == ()
    assert geometry.corners is not None
    assert max_separation(geometry.corners, astropy_footprint(header)) < TOLERANCE_DEG


@pytest.mark.parametrize(
    "cards",
    [
        pytest.param(celestial("AZP", PV2_1=2.0, PV2_2=30.0), id="AZP"),
        pytest.param(celestial("SZP", PV2_1=2.0, PV2_2=180.0, PV2_3=60.0), id="SZP"),
        pytest.param(celestial("ZPN", PV2_0=0.0, PV2_1=1.0, PV2_3=-0.2), id="ZPN"),
        pytest.param(celestial("SIN", PV2_1=0.1, PV2_2=-0.05), id="slant SIN"),
        pytest.param(celestial("NCP", CRVAL2=45.0), id="NCP"),
        pytest.param(celestial("TPV", **TPV), id="TPV"),
        pytest.param(celestial("TAN", **TPV), id="SCAMP TAN+PV"),
        pytest.param(celestial("COE", PV2_1=45.0, CRVAL2=30.0), id="COE"),
        pytest.param(celestial("MOL", CDELT1=-1.0, CDELT2=1.0), id="MOL"),
        pytest.param(celestial("CAR", PV1_1=10.0, PV1_2=5.0), id="CAR fiducial"),
        pytest.param(celestial("TAN", CUNIT1="arcsec", CUNIT2="arcsec", CDELT1=-1.0), id="arcsec"),
        pytest.param(celestial("TAN", CTYPE1="RA---TAN-XYZ"), id="unknown suffix"),
    ],
)
def test_fallback_matches_astropy(cards: dict[str, object]) -> None:
    goes_to_astropy(cards)


def test_fallback_on_a_cube() -> None:
    cards = {**celestial("ZPN", PV2_1=1.0, PV2_3=-0.1), "CTYPE3": "FREQ", "CRVAL3": 1e9}
    header = image_header(cards, (100, 80, 5))
    geometry = hdu_geometry(hdu_from_header(header))
    assert geometry.corners is not None
    assert max_separation(geometry.corners, astropy_footprint(header)) < TOLERANCE_DEG


def test_fallback_on_a_compressed_image() -> None:
    from tests.support.headers import compressed_hdu

    cards = celestial("AZP", PV2_1=2.0)
    ours = hdu_footprint(compressed_hdu(cards, naxis=(120, 90)))
    assert max_separation(ours, astropy_footprint(image_header(cards, (120, 90)))) < TOLERANCE_DEG


def test_dss_plate_solution_goes_to_astropy() -> None:
    dss = {
        **celestial("TAN"),
        "PLTRAH": 14,
        "PLTRAM": 37,
        "PLTRAS": 46.88,
        "PLTDECSN": "-",
        "PLTDECD": 60,
        "PLTDECM": 12,
        "PLTDECS": 59.29,
    }
    hdu = image_hdu(dss)
    with pytest.raises(NeedsAstropy):
        read_celestial_wcs(hdu.values(), hdu.layout.science_naxis)


def test_lookup_table_distortions_are_ignored_on_both_paths() -> None:
    plain = celestial("TAN", A_ORDER=2, B_ORDER=2, A_2_0=1e-5, B_0_2=1e-5)
    lookup = {**plain, "CPDIS1": "Lookup", "DP1": "EXTVER: 1", "D2IMDIS1": "Lookup"}
    expected = hdu_footprint(image_hdu(plain))
    assert hdu_footprint(image_hdu(lookup)) == expected
    # and on the astropy path too (an AZP with the same lookup keywords)
    azp = {**lookup, "CTYPE1": "RA---AZP", "CTYPE2": "DEC--AZP", "PV2_1": 1.0}
    assert hdu_geometry(image_hdu(azp)).corners is not None


@pytest.mark.parametrize(
    ("cards", "code"),
    [
        pytest.param(celestial("TAN", CDELT1=0.0), "wcs_invalid", id="singular"),
        pytest.param(celestial("TAN", CD1_1=0.0, CD2_2=0.0), "wcs_invalid", id="zero CD"),
        pytest.param({"CTYPE1": "RA---TAN", "CTYPE2": "LINEAR"}, "wcs_invalid", id="lone RA"),
        pytest.param({"CTYPE1": "LINEAR", "CTYPE2": "DEC--TAN"}, "wcs_invalid", id="lone DEC"),
        pytest.param({**celestial("TAN"), "CTYPE2": "DEC--SIN"}, "wcs_invalid", id="mixed"),
        pytest.param(celestial("TAN", CRVAL1="ten"), "wcs_invalid", id="text CRVAL"),
        pytest.param(celestial("TAN", A_ORDER=3), "wcs_invalid", id="SIP A without B"),
        pytest.param(celestial("TAN", A_ORDER=12, B_ORDER=12), "wcs_invalid", id="SIP order"),
        pytest.param(celestial("ZPX"), "wcs_invalid", id="ZPX astropy refuses"),
        pytest.param(celestial("CEA", PV2_1=2.0), "wcs_invalid", id="CEA lambda"),
        pytest.param(celestial("TAB"), "wcs_unsupported", id="TAB"),
        pytest.param(celestial("SIN", CDELT1=-3.0, CDELT2=3.0), "footprint_undefined", id="limb"),
    ],
)
def test_unusable_wcs_is_a_warning(cards: dict[str, object], code: str) -> None:
    geometry = hdu_geometry(image_hdu(cards))
    assert geometry.corners is None
    assert [w.code for w in geometry.warnings] == [code]
    assert all(w.hdu == 0 for w in geometry.warnings)


@pytest.mark.parametrize(
    "cards",
    [
        {},
        {"CTYPE1": "PIXEL", "CTYPE2": "PIXEL", "CRVAL1": 1.0},
        {"CTYPE1": "RA", "CTYPE2": "DEC"},  # linear axes named RA/DEC: not celestial
        {"CTYPE1": "LAMBDA", "CTYPE2": "ANGLE", "CD1_1": 0.5, "CD2_2": 1e-5},
        {"CTYPE1": "ra---tan", "CTYPE2": "dec--tan"},  # WCSLIB is case-sensitive too
    ],
)
def test_no_celestial_wcs_is_no_footprint_and_no_warning(cards: dict[str, object]) -> None:
    assert hdu_geometry(image_hdu(cards)) == hdu_geometry(image_hdu({}))
    assert hdu_geometry(image_hdu(cards)).warnings == ()


def test_tables_and_one_dimensional_images_have_no_footprint() -> None:
    assert hdu_footprint(table_hdu(celestial("TAN"))) is None
    assert hdu_footprint(image_hdu(celestial("TAN"), naxis=(100,))) is None
    assert hdu_footprint(image_hdu(celestial("TAN"), naxis=())) is None


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["", "RA---TAN", "DEC--TAN", "GLON-CAR", "GLAT-CAR", "RA---AZP", "x", "deg"]),
)
keywords = st.sampled_from(
    [
        "CTYPE1",
        "CTYPE2",
        "CRVAL1",
        "CRVAL2",
        "CRPIX1",
        "CRPIX2",
        "CDELT1",
        "CDELT2",
        "CD1_1",
        "CD1_2",
        "CD2_1",
        "CD2_2",
        "PC1_1",
        "CROTA2",
        "LONPOLE",
        "LATPOLE",
        "PV2_1",
        "PV2_2",
        "CUNIT1",
        "RADESYS",
        "EQUINOX",
        "A_ORDER",
        "B_ORDER",
        "A_2_0",
        "AP_ORDER",
        "WCSAXES",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(keywords, values), max_size=20))
def test_any_wcs_keywords_never_raise(cards: list[tuple[str, object]]) -> None:
    base: list[tuple[str, object]] = [("CTYPE1", "RA---TAN"), ("CTYPE2", "DEC--TAN")]
    mandatory: list[tuple[str, object]] = [
        ("SIMPLE", True),
        ("BITPIX", 8),
        ("NAXIS", 2),
        ("NAXIS1", 10),
        ("NAXIS2", 10),
    ]
    hdu = hdu_from_cards([*mandatory, *(card for card in cards if card[1] is not None), *base])
    geometry = hdu_geometry(hdu)
    for point in (*(geometry.corners or ()), *([geometry.centre] if geometry.centre else [])):
        assert 0.0 <= point[0] < 360.0 and -90.0 <= point[1] <= 90.0
        assert not any(math.isnan(value) for value in point)


def test_tan_with_any_pv_goes_to_astropy_as_scamp_tpv() -> None:
    cards = celestial("TAN", PV2_5=0.0)
    hdu = image_hdu(cards)
    with pytest.raises(NeedsAstropy):
        read_celestial_wcs(hdu.values(), hdu.layout.science_naxis)


def test_fallback_corners_off_the_sky_are_a_warning() -> None:
    cards = celestial("MOL", CRVAL1=0.0, CRVAL2=0.0, CDELT1=-2.0, CDELT2=2.0)
    geometry = hdu_geometry(image_hdu(cards, naxis=(180, 90)))
    assert geometry.corners is None and geometry.centre is not None
    assert [w.code for w in geometry.warnings] == ["footprint_undefined"]
