"""Pointing: sexagesimal and decimal angles, keyword precedence, frames, ranges."""

from __future__ import annotations

import math

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from hypothesis import given
from hypothesis import strategies as st

from pipeline.extract import extract_fields
from pipeline.extract.angles import parse_dec, parse_ra
from tests.support.headers import Keywords, image_hdu, primary_hdu, table_hdu

TAN = {
    "CTYPE1": "RA---TAN",
    "CTYPE2": "DEC--TAN",
    "CRVAL1": 150.0,
    "CRVAL2": 2.0,
    "CRPIX1": 50.5,
    "CRPIX2": 40.5,
    "CDELT1": -0.001,
    "CDELT2": 0.001,
}


def pointing(
    cards: Keywords, *extensions: Keywords
) -> tuple[float | None, float | None, list[str]]:
    hdus = [primary_hdu(cards)]
    hdus += [table_hdu(ext, index=n) for n, ext in enumerate(extensions, start=1)]
    fields = extract_fields(hdus)
    return fields.ra, fields.dec, [warning.code for warning in fields.warnings]


@pytest.mark.parametrize(
    ("text", "degrees"),
    [
        ("12:34:56.7", 188.73625),
        ("12 34 56.7", 188.73625),
        ("12h34m56.7s", 188.73625),
        ("12h 34m 56.7s", 188.73625),
        ("12:34.5", 188.625),
        ("00:00:00", 0.0),
        ("23:59:59.99", 359.9999583333),
        ("188.73625", 188.73625),
        (188.73625, 188.73625),
        (360, 0.0),
    ],
)
def test_ra_forms(text: object, degrees: float) -> None:
    assert parse_ra(text) == pytest.approx(degrees, abs=1e-9)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "degrees"),
    [
        ("-00:30:00", -0.5),
        ("-0:30:00", -0.5),
        ("- 00 30 00", -0.5),
        ("+00:30:00", 0.5),
        ("-62 41 05.00", -62.684722222),
        ("-62d41m05s", -62.684722222),
        ("+46°52'00.4\"", 46.866777778),
        ("-90:00:00", -90.0),
        ("89:59:59.9", 89.999972222),
        ("-12.5", -12.5),
        (-12.5, -12.5),
    ],
)
def test_dec_forms(text: object, degrees: float) -> None:
    assert parse_dec(text) == pytest.approx(degrees, abs=1e-9)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["24:00:00", "12:60:00", "12:00:60", "-1.0", "361", "x", True])
def test_ra_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_ra(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["90:00:01", "-91", "+12:61:00", "north", float("nan")])
def test_dec_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_dec(bad)  # type: ignore[arg-type]


@given(
    st.floats(min_value=0, max_value=359.99999, allow_nan=False),
    st.floats(min_value=-90, max_value=90, allow_nan=False),
    st.sampled_from([":", " "]),
)
def test_sexagesimal_round_trip(ra: float, dec: float, separator: str) -> None:
    coord = SkyCoord(ra * u.deg, dec * u.deg)
    ra_text = coord.ra.to_string(unit=u.hour, sep=separator, precision=6, pad=True)
    dec_text = coord.dec.to_string(
        unit=u.deg, sep=separator, precision=5, alwayssign=True, pad=True
    )
    assert abs(parse_ra(ra_text) - ra) % 360 < 1e-6 or abs(parse_ra(ra_text) - ra) > 359.99999
    assert parse_dec(dec_text) == pytest.approx(dec, abs=1e-6)


def assert_at(ra: float | None, dec: float | None, expected: tuple[float, float]) -> None:
    assert ra == pytest.approx(expected[0]) and dec == pytest.approx(expected[1])


def test_noao_sexagesimal_ra_dec() -> None:
    ra, dec, codes = pointing({"RA": "12:34:56.7", "DEC": "-00:30:00"})
    assert_at(ra, dec, (188.73625, -0.5))
    assert codes == []


def test_eso_decimal_degrees() -> None:
    ra, dec, _ = pointing({"RA": 9.820005415, "DEC": 1.000000715})
    assert_at(ra, dec, (9.820005415, 1.000000715))


@pytest.mark.parametrize(
    ("cards", "expected"),
    [
        ({"RA": 10.0, "DEC": 1.0, "RA_PNT": 20.0, "DEC_PNT": 2.0}, (10.0, 1.0)),
        ({"RA_PNT": 20.0, "DEC_PNT": 2.0, "TELRA": "02:00:00", "TELDEC": "3"}, (20.0, 2.0)),
        ({"TELRA": "02:00:00", "TELDEC": "3", "OBJCTRA": "03 00 00", "OBJCTDEC": "4"}, (30, 3)),
        ({"OBJCTRA": "03 00 00", "OBJCTDEC": "+04 00 00", "RA_TARG": 50, "DEC_TARG": 5}, (45, 4)),
        ({"RA_TARG": 50.0, "DEC_TARG": 5.0, "RA_OBJ": 60.0, "DEC_OBJ": 6.0}, (50.0, 5.0)),
        ({"RA_OBJ": 60.0, "DEC_OBJ": 6.0}, (60.0, 6.0)),
    ],
)
def test_keyword_precedence(cards: Keywords, expected: tuple[float, float]) -> None:
    ra, dec, _ = pointing(cards)
    assert_at(ra, dec, expected)


def test_a_pair_must_come_from_one_hdu() -> None:
    ra, dec, _ = pointing({"RA": 10.0, "RA_OBJ": 60.0, "DEC_OBJ": 6.0}, {"DEC": 1.0})
    assert (ra, dec) == (60.0, 6.0)


def test_out_of_range_ra_is_a_warning_and_the_next_pair_is_used() -> None:
    ra, dec, codes = pointing({"RA": 400.0, "DEC": 1.0, "RA_TARG": 50.0, "DEC_TARG": 5.0})
    assert (ra, dec) == (50.0, 5.0)
    assert codes == ["bad_pointing"]


def test_out_of_range_dec_is_a_warning() -> None:
    assert pointing({"RA": "12:00:00", "DEC": "95:00:00"}) == (None, None, ["bad_pointing"])


def test_blank_values_are_passed_over_silently() -> None:
    assert pointing({"RA": "", "DEC": "  ", "RA_OBJ": 60.0, "DEC_OBJ": 6.0}) == (60.0, 6.0, [])


def test_fk4_b1950_keywords_are_precessed_to_icrs() -> None:
    ra, dec, _ = pointing({"RA": "12:26:33.248", "DEC": "+02:19:43.29", "EQUINOX": 1950.0})
    expected = SkyCoord("12h26m33.248s", "+02d19m43.29s", frame="fk4", equinox="B1950").icrs
    assert ra is not None and dec is not None
    assert SkyCoord(ra * u.deg, dec * u.deg).separation(expected).arcsec < 0.01


def test_epoch_is_not_an_equinox_for_pointing_keywords() -> None:
    # DSS writes the plate's observation epoch in EPOCH; the coordinates are J2000.
    ra, dec, _ = pointing({"OBJCTRA": "14 29 56.000", "OBJCTDEC": "-62 41 05.00", "EPOCH": 1976.2})
    assert_at(ra, dec, (217.4833333333, -62.6847222222))


def test_unsupported_frame_is_a_warning() -> None:
    assert pointing({"RA": 10.0, "DEC": 1.0, "RADESYS": "GAPPT"}) == (
        None,
        None,
        ["frame_unsupported"],
    )


def test_wcs_centre_when_no_keywords() -> None:
    fields = extract_fields([image_hdu(TAN, naxis=(100, 80))])
    assert fields.ra == pytest.approx(150.0) and fields.dec == pytest.approx(2.0)


def test_keywords_beat_the_wcs_centre() -> None:
    fields = extract_fields([image_hdu({**TAN, "RA": 151.0, "DEC": 3.0}, naxis=(100, 80))])
    assert (fields.ra, fields.dec) == (151.0, 3.0)


def test_wcs_centre_beats_keywords_of_an_unrelated_extension() -> None:
    hdus = [image_hdu(TAN, naxis=(100, 80)), table_hdu({"RA_OBJ": 288.8, "DEC_OBJ": 10.95})]
    fields = extract_fields(hdus)
    assert_at(fields.ra, fields.dec, (150.0, 2.0))


def test_other_extensions_are_used_when_there_is_no_image() -> None:
    fields = extract_fields([primary_hdu(), table_hdu({"RA_PNT": 158.5, "DEC_PNT": 58.06})])
    assert (fields.ra, fields.dec) == (158.5, 58.06)


def test_ra_is_normalised_into_0_360() -> None:
    cards = {**TAN, "CRVAL1": 0.0, "CRPIX1": 0.5}  # centre just west of RA 0
    fields = extract_fields([image_hdu(cards, naxis=(100, 80))])
    assert fields.ra is not None and 359.9 < fields.ra < 360.0
    assert fields.footprint is not None
    assert all(0.0 <= ra < 360.0 and not math.isnan(dec) for ra, dec in fields.footprint)
