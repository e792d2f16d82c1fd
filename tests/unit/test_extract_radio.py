"""Radio facts: restoring beam and frequency."""

from __future__ import annotations

import pytest

from pipeline.extract import ProductFields, extract_fields
from tests.support.headers import Keywords, image_hdu, primary_hdu, table_hdu

CUBE = {
    "CTYPE1": "RA---SIN",
    "CTYPE2": "DEC--SIN",
    "CRVAL1": 83.8,
    "CRVAL2": -5.4,
    "CRPIX1": 50.5,
    "CRPIX2": 50.5,
    "CDELT1": -0.001,
    "CDELT2": 0.001,
    "CTYPE3": "FREQ",
    "CRPIX3": 1.0,
    "CDELT3": 1e6,
}


def image(cards: Keywords, naxis: tuple[int, ...] = (100, 100, 4)) -> ProductFields:
    return extract_fields([image_hdu(cards, naxis=naxis)])


def codes(fields: ProductFields) -> list[str]:
    return [warning.code for warning in fields.warnings]


def test_beam_keywords() -> None:
    fields = image({"BMAJ": 1.5e-3, "BMIN": 1.0e-3, "BPA": -35.0})
    assert (fields.beam_major, fields.beam_minor, fields.beam_pa) == (1.5e-3, 1.0e-3, -35.0)


def test_beam_comes_from_one_hdu() -> None:
    hdus = [primary_hdu({"BMIN": 9.0}), image_hdu({"BMAJ": 2e-3, "BPA": 10.0}, index=1)]
    fields = extract_fields(hdus)
    assert (fields.beam_major, fields.beam_minor, fields.beam_pa) == (2e-3, None, 10.0)


def test_non_positive_beam_is_a_warning() -> None:
    fields = image({"BMAJ": 0.0, "BMIN": 0.0})
    assert (fields.beam_major, fields.beam_minor) == (None, None)
    assert codes(fields) == ["bad_beam"]


def test_aips_history_beam_for_a_per_beam_image() -> None:
    cards = [
        ("BUNIT", "JY/BEAM"),
        ("HISTORY", "AIPS   CLEAN BMAJ=  1.0000E-03 BMIN=  5.0000E-04 BPA=  12.00"),
        ("HISTORY", "AIPS   IMNAME='J0000+0000' IMCLASS='ICL001' IMSEQ=   1"),
        ("HISTORY", "AIPS   CLEAN BMAJ=  1.3889E-03 BMIN=  1.2500E-03 BPA= -79.99"),
    ]
    fields = image(cards, naxis=(64, 64))
    assert (fields.beam_major, fields.beam_minor, fields.beam_pa) == (1.3889e-3, 1.25e-3, -79.99)


def test_aips_history_is_not_read_for_other_units() -> None:
    cards = [("BUNIT", "K"), ("HISTORY", "AIPS   CLEAN BMAJ=  1.0E-03 BMIN=  5.0E-04 BPA=  12")]
    assert image(cards).beam_major is None


def test_beam_keywords_beat_history() -> None:
    cards = [
        ("BUNIT", "Jy/beam"),
        ("BMAJ", 2e-3),
        ("HISTORY", "AIPS   CLEAN BMAJ=  1.0E-03 BMIN=  5.0E-04 BPA=  12"),
    ]
    assert image(cards).beam_major == 2e-3


@pytest.mark.parametrize(
    ("cards", "expected"),
    [
        ({"RESTFRQ": 1.420405752e9}, 1.420405752e9),
        ({"RESTFREQ": 1.1527e11}, 1.1527e11),
        ({"RESTFRQ": 0.0, "RESTFREQ": 2.3e11}, 2.3e11),
        ({**CUBE, "CRVAL3": 1.4e9}, 1.4e9),
        ({**CUBE, "CRVAL3": 1400.0, "CUNIT3": "MHz"}, 1.4e9),
        ({**CUBE, "CRVAL3": 1.4, "CUNIT3": "GHz"}, 1.4e9),
        ({**CUBE, "CRVAL3": 1.4e6, "CUNIT3": "kHz"}, 1.4e9),
        ({**CUBE, "CTYPE3": "FREQ-LSR", "CRVAL3": 1.4e9}, 1.4e9),
        ({**CUBE, "CRVAL3": 1.4e9, "RESTFRQ": 1.42e9}, 1.42e9),
        ({"OBSFREQ": 8.4e9}, 8.4e9),
        ({**CUBE, "CTYPE3": "VRAD", "CRVAL3": 1000.0, "OBSFREQ": 8.4e9}, 8.4e9),
        ({}, None),
    ],
)
def test_frequency_precedence(cards: Keywords, expected: float | None) -> None:
    fields = image(cards)
    assert fields.frequency == (pytest.approx(expected) if expected else None)


def test_frequency_axis_in_an_unknown_unit_is_a_warning() -> None:
    fields = image({**CUBE, "CRVAL3": 21.0, "CUNIT3": "cm"})
    assert fields.frequency is None
    assert codes(fields) == ["bad_frequency"]


def test_negative_rest_frequency_is_a_warning() -> None:
    fields = image({"RESTFRQ": -1.0, "OBSFREQ": 5e9})
    assert fields.frequency == 5e9
    assert codes(fields) == ["bad_frequency"]


def test_frequency_from_a_table_only_file() -> None:
    fields = extract_fields([primary_hdu(), table_hdu({"RESTFREQ": 1.0e10})])
    assert fields.frequency == 1.0e10
