"""The compiled TAN footprint gives what the Python path gives, to the bit.

``pipeline/extract/_cfootprint.c`` takes the plainest WCS (``RA---TAN`` /
``DEC--TAN``, ICRS or FK5 J2000, no distortion) and declines everything
else. Declining is always right; accepting is right only when the Python
path — read_celestial_wcs, pixels_to_sky, to_icrs — returns the very same
corners and centre with no warning. Headers are generated in and around
that shape (units, matrices, frames, poles, bad values, extra keywords);
every header the C code accepts is compared with the Python path, floats
by ``repr`` (so that -0.0 and 0.0 differ).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.extract import extract_fields, footprint
from pipeline.extract.footprint import Geometry, hdu_geometry
from pipeline.fits import read_fits
from pipeline.fits.model import Hdu
from pipeline.fits.structure import HduLayout
from pipeline.samples import SampleKind, rng_for, write_sample
from pipeline.settings import ReaderSettings
from tests.support.compiled import require_built

require_built(footprint._tan_footprint is not None, "footprint")

tan_footprint = footprint._tan_footprint

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
small = st.floats(-1e-2, 1e-2, allow_nan=False, allow_infinity=False)
odd = st.sampled_from([None, True, "1.0", math.inf, -math.nan, 10**400, 0, 1, -3, 2.0**60])


def maybe(value: st.SearchStrategy[Any], odds: st.SearchStrategy[Any] = odd) -> Any:
    """A keyword that is mostly usable, at times absent, now and then odd."""
    return st.one_of(*[value] * 12, st.just(_ABSENT), odds)


_ABSENT = object()

CTYPES = st.sampled_from(
    [
        *[("RA---TAN", "DEC--TAN")] * 12,
        (" RA---TAN  ", "DEC--TAN "),
        ("ra---tan", "dec--tan"),
        ("RA---TAN-SIP", "DEC--TAN-SIP"),
        ("RA---SIN", "DEC--SIN"),
        ("DEC--TAN", "RA---TAN"),
        ("RA---TAN", "DEC--SIN"),
        ("GLON-TAN", "GLAT-TAN"),
        ("RA---TNX", "DEC--TNX"),
        ("\tRA---TAN", "DEC--TAN"),
        ("RA---TAN", None),
    ]
)
UNITS = st.sampled_from(["deg", " DEG ", "degree", "Degrees", "", "arcsec", None, 5, "deg\t"])
EQUINOXES = st.sampled_from(
    [2000, 2000.0, 2000.0000001, 1950.0, "J2000", True, None, math.inf, 2e3]
)
SYSTEMS = st.sampled_from(["ICRS", " icrs ", "FK5", "fk5", "FK4", "GAPPT", "", None, 5, "\tICRS"])
EXTRAS = st.sampled_from(
    ["PV2_1", "PV1_3", "PV2_39", "PV2_40", "PROJP1", "PLTRAH", "A_ORDER", "B_ORDER", "PC001001"]
)


@st.composite
def headers(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[int, ...]]:
    values: dict[str, Any] = {}
    ctype1, ctype2 = draw(CTYPES)
    values["CTYPE1"] = ctype1
    if ctype2 is not None:
        values["CTYPE2"] = ctype2
    matrix = draw(st.sampled_from(["CD", "PC", "CROTA", "none", "PC+CD"]))
    for name in ("1_1", "1_2", "2_1", "2_2"):
        if matrix in ("CD", "PC+CD"):
            values[f"CD{name}"] = draw(maybe(small))
        if matrix in ("PC", "PC+CD"):
            values[f"PC{name}"] = draw(maybe(st.floats(-2, 2)))
    if matrix in ("PC", "CROTA", "none"):
        values["CDELT1"] = draw(maybe(small))
        values["CDELT2"] = draw(maybe(small))
    if matrix == "CROTA":
        values["CROTA2"] = draw(maybe(st.floats(-360, 360)))
    values["CRPIX1"] = draw(maybe(finite))
    values["CRPIX2"] = draw(maybe(finite))
    values["CRVAL1"] = draw(maybe(st.floats(-720, 720)))
    values["CRVAL2"] = draw(maybe(st.floats(-90.00000001, 90.00000001)))
    for name, strategy in (
        ("CUNIT1", UNITS),
        ("CUNIT2", UNITS),
        ("WCSAXES", st.sampled_from([2, 1, 3, True, "2", -1])),
        ("LONPOLE", st.floats(-360, 360)),
        ("LATPOLE", st.floats(-90, 90)),
        ("EQUINOX", EQUINOXES),
        ("EPOCH", EQUINOXES),
        ("RADESYS", SYSTEMS),
        ("RADECSYS", SYSTEMS),
    ):
        values[name] = draw(st.one_of(*[st.just(_ABSENT)] * 12, strategy))
    for extra in draw(st.lists(EXTRAS, max_size=2)) if draw(st.booleans()) else []:
        values[extra] = draw(st.sampled_from([None, 0, 1, 3, 0.5]))
    values = {key: value for key, value in values.items() if value is not _ABSENT}
    n1, n2 = draw(st.integers(1, 20000)), draw(st.integers(1, 20000))
    naxis = draw(st.sampled_from([*[(n1, n2)] * 6, (n1, n2, 3)]))
    return values, naxis


def _hdu(values: dict[str, Any], naxis: tuple[int, ...]) -> Hdu:
    layout = HduLayout("image", -32, naxis, 4 * math.prod(naxis))
    return Hdu(0, layout, (), 0, 2880, "absent", keyword_values=values)


def _python_geometry(hdu: Hdu) -> Geometry:
    """The geometry by the Python path alone, as without the extension."""
    footprint._tan_footprint = None
    try:
        return hdu_geometry(hdu)
    finally:
        footprint._tan_footprint = tan_footprint


def _same(ours: Any, theirs: Any) -> bool:
    return repr(ours) == repr(theirs)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=headers())
def test_what_c_accepts_the_python_path_computes_alike(
    header: tuple[dict[str, Any], tuple[int, ...]],
) -> None:
    values, naxis = header
    found = tan_footprint(values, naxis)
    if found is None:
        return  # declined: the Python path runs, as without the extension
    corners, centre = found
    reference = _python_geometry(_hdu(values, naxis))
    assert reference.warnings == (), (values, reference)
    assert _same(corners, reference.corners), (values, naxis)
    assert _same(centre, reference.centre), (values, naxis)


def test_a_plain_tan_image_is_taken_and_agrees() -> None:
    values = {
        "CTYPE1": "RA---TAN",
        "CTYPE2": "DEC--TAN",
        "CRPIX1": 512.5,
        "CRPIX2": 256.0,
        "CRVAL1": 359.99,
        "CRVAL2": -89.9,
        "CD1_1": -2.8e-4,
        "CD1_2": 1.0e-6,
        "CD2_1": 1.2e-6,
        "CD2_2": 2.8e-4,
        "CUNIT1": "deg",
        "RADESYS": "FK5",
        "EQUINOX": 2000.0,
    }
    found = tan_footprint(values, (1024, 512))
    assert found is not None
    reference = _python_geometry(_hdu(values, (1024, 512)))
    assert _same(found, (reference.corners, reference.centre))
    assert hdu_geometry(_hdu(values, (1024, 512))) == reference


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN"}, "another projection"),
        ({"A_ORDER": 3, "B_ORDER": 3}, "SIP"),
        ({"PV2_1": 0.0}, "projection parameters"),
        ({"CUNIT1": "arcsec"}, "other units"),
        ({"RADESYS": "FK4"}, "another frame"),
        ({"EQUINOX": "J2000"}, "an equinox as text"),
        ({"CD1_1": 0.0, "CD1_2": 0.0}, "a singular matrix"),
        ({"CRVAL2": 91.0}, "a reference point beyond the pole"),
        ({"CRPIX1": "1"}, "a value of the wrong type"),
        ({"LATPOLE": math.inf}, "a value that is not finite"),
        ({"WCSAXES": 3}, "a third axis"),
    ],
)
def test_anything_else_is_declined(change: dict[str, Any], why: str) -> None:
    values = {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CD1_1": 1e-4, "CD2_2": 1e-4}
    assert tan_footprint(values, (100, 100)) is not None
    assert tan_footprint({**values, **change}, (100, 100)) is None, why


def test_arguments_of_another_shape_are_declined() -> None:
    values = {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CD1_1": 1e-4, "CD2_2": 1e-4}
    assert tan_footprint(values, (100,)) is None
    assert tan_footprint(values, [100, 100]) is None  # type: ignore[arg-type]
    assert tan_footprint(values, (100, 0)) is None
    with pytest.raises(TypeError):
        tan_footprint(values)  # type: ignore[call-arg]


@pytest.mark.parametrize("kind", list(SampleKind))
def test_sample_files_agree(kind: SampleKind, tmp_path: Path) -> None:
    for index in range(8):
        path = write_sample(tmp_path, index, kind, rng_for(5, index))
        for hdu in read_fits(path, ReaderSettings()).hdus:
            assert _same(hdu_geometry(hdu), _python_geometry(hdu))


# --- found on the way: integers too large for a float ------------------------


@pytest.mark.parametrize(
    ("keyword", "code"),
    [
        ("CRPIX1", "wcs_invalid"),
        ("EQUINOX", None),  # an equinox that cannot be read is no equinox
        ("EXPTIME", "bad_exptime"),
        ("RA", "bad_pointing"),
        ("MJD-OBS", "bad_date"),
        ("UTC", None),  # seconds of the day: out of range, the next keyword is tried
    ],
)
def test_an_integer_too_large_for_a_float_is_a_bad_value_not_a_crash(
    keyword: str, code: str | None
) -> None:
    """``float(10**400)`` raises OverflowError; extraction used to let it out."""
    values: dict[str, Any] = {
        "CTYPE1": "RA---TAN",
        "CTYPE2": "DEC--TAN",
        "CD1_1": 1e-4,
        "CD2_2": 1e-4,
        "RA": 10.0,
        "DEC": 20.0,
        "DATE-OBS": "2020-01-02",
        keyword: 10**400,
    }
    fields = extract_fields([_hdu(values, (100, 100))])
    if code is not None:
        assert code in {warning.code for warning in fields.warnings}, fields.warnings
