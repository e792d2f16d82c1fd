"""Names, exposure, filter, science HDU and image facts, and the whole record."""

from __future__ import annotations

import dataclasses
import math
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.extract import ProductFields, extract_fields
from pipeline.fits.model import ReadWarning
from tests.support.headers import (
    Keywords,
    compressed_hdu,
    image_hdu,
    primary_hdu,
    table_hdu,
)


def fields_of(cards: Keywords, *extensions: Keywords) -> ProductFields:
    hdus = [primary_hdu(cards)]
    hdus += [table_hdu(ext, index=n) for n, ext in enumerate(extensions, start=1)]
    return extract_fields(hdus)


def test_empty_file_gives_an_empty_record() -> None:
    assert extract_fields([primary_hdu()]) == ProductFields()
    assert extract_fields([]) == ProductFields()


def test_product_fields_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ProductFields().telescope = "x"  # type: ignore[misc]


# --- names --------------------------------------------------------------------------------


def test_strings_are_stripped_and_primary_comes_first() -> None:
    fields = fields_of({"TELESCOP": "  HST  "}, {"TELESCOP": "XTE"})
    assert fields.telescope == "HST"


def test_blank_primary_value_falls_through_to_an_extension() -> None:
    fields = fields_of({"INSTRUME": "   ", "OBSERVER": ""}, {"INSTRUME": "ACIS", "OBSERVER": "X"})
    assert (fields.instrument, fields.observer) == ("ACIS", "X")


@pytest.mark.parametrize(
    ("cards", "expected"),
    [
        ({"OBJECT": "NGC 104", "TARGNAME": "47TUC"}, "NGC 104"),
        ({"TARGNAME": "47TUC", "TARGET": "x"}, "47TUC"),
        ({"TARGET": "x", "OBJNAME": "y"}, "x"),
        ({"OBJNAME": "y"}, "y"),
        ({"OBJECT": 3827}, "3827"),
        ({"OBJECT": True}, None),
    ],
)
def test_object_precedence(cards: Keywords, expected: str | None) -> None:
    assert fields_of(cards).object == expected


def test_preferred_keyword_wins_across_hdus() -> None:
    assert fields_of({"TARGNAME": "primary"}, {"OBJECT": "ext"}).object == "ext"


def test_hierarch_names() -> None:
    fields = fields_of({"TELESCOPE": "VLT UT1", "INSTRUMENT": "FORS2"})
    assert (fields.telescope, fields.instrument) == ("VLT UT1", "FORS2")


# --- exposure time --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cards", "expected"),
    [
        ({"EXPTIME": 120.0, "EXPOSURE": 999.0}, 120.0),
        ({"EXPOSURE": 4998.98}, 4998.98),
        ({"EXP_TIME": 30}, 30.0),
        ({"XPOSURE": 2.5}, 2.5),
        ({"TELAPSE": 600.0}, 600.0),
        ({"EXPTIME": "45.5"}, 45.5),
        ({"EXPTIME": 0.0}, 0.0),
    ],
)
def test_exptime(cards: Keywords, expected: float) -> None:
    assert fields_of(cards).exptime == expected


@pytest.mark.parametrize("bad", [-1.0, "long", True])
def test_bad_exptime_is_a_warning(bad: object) -> None:
    fields = fields_of({"EXPTIME": bad, "EXPOSURE": 10.0})
    assert fields.exptime == 10.0
    assert [w.code for w in fields.warnings] == ["bad_exptime"]


# --- filter -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cards", "expected"),
    [
        ({"FILTER": "r SDSS c6018"}, "r SDSS c6018"),
        ({"FILTER": "Clear", "FILTER1": "F606W"}, "Clear"),
        ({"FILTER1": "F606W", "FILTER2": "CLEAR2L"}, "F606W"),
        ({"FILTER1": "CLEAR1L", "FILTER2": "F814W"}, "F814W"),
        ({"FILTER1": "F555W", "FILTER2": "POL60V"}, "F555W+POL60V"),
        ({"FILTER1": "CLEAR1L", "FILTER2": "CLEAR2L"}, "CLEAR"),
        ({"FILTER1": "open", "FILTER2": "Ha"}, "Ha"),
        ({"FILTER1": "", "FILTER2": " g "}, "g"),
        ({"FILTER1": 33, "FILTER2": 0, "FILTNAM1": "F673N", "FILTNAM2": ""}, "F673N"),
        ({"ESO INS FILT1 NAME": "R_SPECIAL"}, "R_SPECIAL"),
        ({"FILTNAME": "Ks"}, "Ks"),
        ({"FILTER": "N/A", "FILTNAME": "Ks"}, "Ks"),
        ({"BAND": "H"}, "H"),
        ({"FILTER": 3}, None),
    ],
)
def test_filter_rules(cards: Keywords, expected: str | None) -> None:
    assert fields_of(cards).filter == expected


def test_filter_wheels_come_from_one_hdu() -> None:
    fields = fields_of({"FILTER1": "CLEAR1L"}, {"FILTER1": "F435W", "FILTER2": "CLEAR2L"})
    assert fields.filter == "CLEAR"


# --- science HDU and image facts --------------------------------------------------------------


def test_primary_image_is_the_science_hdu() -> None:
    fields = extract_fields([image_hdu({"BUNIT": " adu "}, naxis=(100, 50), bitpix=16)])
    assert (fields.science_hdu, fields.naxis, fields.bitpix, fields.bunit) == (
        0,
        (100, 50),
        16,
        "adu",
    )


def test_first_image_extension_with_data() -> None:
    hdus = [
        primary_hdu(),
        image_hdu({"EXTNAME": "EMPTY"}, naxis=(), index=1),
        table_hdu(index=2),
        image_hdu({"EXTNAME": "SCI", "BUNIT": "ELECTRONS"}, naxis=(40, 30), index=3),
        image_hdu({"EXTNAME": "ERR"}, naxis=(40, 30), index=4),
    ]
    fields = extract_fields(hdus)
    assert (fields.science_hdu, fields.naxis, fields.bunit) == (3, (40, 30), "ELECTRONS")


def test_zero_length_axis_is_no_data() -> None:
    hdus = [image_hdu(naxis=(0, 10)), image_hdu(naxis=(5, 6), index=1)]
    assert extract_fields(hdus).science_hdu == 1


def test_distortion_arrays_are_never_science() -> None:
    hdus = [
        primary_hdu(),
        image_hdu({"EXTNAME": "D2IMARR"}, naxis=(64, 32), index=1),
        image_hdu({"EXTNAME": "WCSDVARR"}, naxis=(65, 33), index=2),
    ]
    assert extract_fields(hdus).science_hdu is None


def test_compressed_image_reports_the_image_not_the_table() -> None:
    fields = extract_fields([primary_hdu(), compressed_hdu({"BUNIT": "DN"}, (300, 200), 16)])
    assert (fields.science_hdu, fields.naxis, fields.bitpix, fields.bunit) == (
        1,
        (300, 200),
        16,
        "DN",
    )


def test_tables_only() -> None:
    fields = extract_fields([primary_hdu({"TELESCOP": "CHANDRA"}), table_hdu()])
    assert fields.science_hdu is None and fields.naxis is None and fields.footprint is None
    assert fields.telescope == "CHANDRA"


def test_cube_axes_in_fits_order() -> None:
    fields = extract_fields([image_hdu(naxis=(11, 10, 7), bitpix=32)])
    assert (fields.naxis, fields.bitpix) == ((11, 10, 7), 32)


# --- the whole record ---------------------------------------------------------------------


def test_a_typical_optical_mef() -> None:
    primary = primary_hdu(
        {
            "TELESCOP": "KPNO 4.0 meter",
            "INSTRUME": "Mosaic3",
            "OBJECT": "COSMOS",
            "OBSERVER": "A. Observer",
            "DATE-OBS": "2019-03-04T05:06:07.123",
            "EXPTIME": 300.0,
            "FILTER": "r DECam SDSS c0002 6415.0 1480.0",
            "RA": "10:00:28.6",
            "DEC": "+02:12:21",
        }
    )
    sci = image_hdu(
        {
            "EXTNAME": "CCD1",
            "BUNIT": "adu",
            "CTYPE1": "RA---TAN",
            "CTYPE2": "DEC--TAN",
            "CRVAL1": 150.1,
            "CRVAL2": 2.2,
            "CRPIX1": 1024.5,
            "CRPIX2": 2048.5,
            "CD1_1": -7.3e-5,
            "CD2_2": 7.3e-5,
        },
        naxis=(2048, 4096),
        index=1,
    )
    fields = extract_fields([primary, sci])
    assert fields.telescope == "KPNO 4.0 meter" and fields.instrument == "Mosaic3"
    assert fields.obs_start is not None and fields.obs_start.isoformat() == (
        "2019-03-04T05:06:07.123000+00:00"
    )
    assert fields.ra == pytest.approx(150.119166667) and fields.dec == pytest.approx(2.205833333)
    assert fields.science_hdu == 1 and fields.naxis == (2048, 4096)
    assert fields.footprint is not None and len(fields.footprint) == 4
    assert fields.warnings == ()


def test_warnings_name_their_hdu() -> None:
    fields = fields_of({}, {"EXPTIME": -5.0})
    assert fields.warnings == (ReadWarning("bad_exptime", "EXPTIME = -5.0: is negative", 1),)


# --- nothing in a header makes extraction fail ---------------------------------------------

field_keywords = st.sampled_from(
    [
        "DATE-OBS",
        "DATE-BEG",
        "DATE",
        "TIME-OBS",
        "UT",
        "UTC",
        "MJD-OBS",
        "MJD-BEG",
        "TIMESYS",
        "RA",
        "DEC",
        "OBJCTRA",
        "OBJCTDEC",
        "EQUINOX",
        "RADESYS",
        "EXPTIME",
        "FILTER",
        "FILTER1",
        "FILTER2",
        "OBJECT",
        "BMAJ",
        "BMIN",
        "BPA",
        "RESTFRQ",
        "OBSFREQ",
        "BUNIT",
        "HISTORY",
    ]
)
field_values = st.one_of(
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    st.sampled_from(
        ["2019-03-04", "19/05/94", "12:34:56", "-00:30:00", "TT", "TAI", "GPS", "FK4", "JY/BEAM"]
    ),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(field_keywords, field_values), max_size=15))
def test_any_field_values_never_raise(cards: list[tuple[str, object]]) -> None:
    fields = extract_fields([primary_hdu(cards)])
    if fields.ra is not None:
        assert 0.0 <= fields.ra < 360.0
    if fields.dec is not None:
        assert -90.0 <= fields.dec <= 90.0
    for number in (fields.exptime, fields.frequency, fields.beam_major, fields.mjd_obs):
        assert number is None or math.isfinite(number)
    if fields.obs_start is not None:
        assert fields.obs_start.utcoffset() == timedelta(0)
