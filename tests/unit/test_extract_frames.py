"""Frames: headers in FK5, FK4 and galactic coordinates end in ICRS."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from hypothesis import given
from hypothesis import strategies as st

from pipeline.extract import hdu_footprint
from pipeline.extract.footprint import hdu_geometry
from pipeline.extract.frames import ICRS, Frame, UnsupportedFrame, equatorial_frame, to_icrs
from tests.support.headers import (
    astropy_footprint,
    celestial,
    hdu_from_header,
    image_header,
    max_separation,
)

TOLERANCE_DEG = 1e-6


@pytest.mark.parametrize(
    ("cards", "expected"),
    [
        ({}, ICRS),
        ({"RADESYS": "ICRS", "EQUINOX": 1950.0}, ICRS),
        ({"EQUINOX": 2000.0}, Frame("FK5", 2000.0)),
        ({"EQUINOX": 1950.0}, Frame("FK4", 1950.0)),
        ({"EQUINOX": 1983.9}, Frame("FK4", 1983.9)),
        ({"EQUINOX": 1984.0}, Frame("FK5", 1984.0)),
        ({"EPOCH": 1950.0}, Frame("FK4", 1950.0)),
        ({"EQUINOX": "J2000"}, Frame("FK5", 2000.0)),
        ({"EQUINOX": "B1950.0"}, Frame("FK4", 1950.0)),
        ({"RADESYS": "FK5"}, Frame("FK5", 2000.0)),
        ({"RADECSYS": "FK4"}, Frame("FK4", 1950.0)),
        ({"RADESYS": "fk4-no-e"}, Frame("FK4-NO-E", 1950.0)),
        ({"RADESYS": "GAPPT", "EQUINOX": 2020.0}, Frame("GAPPT", 2020.0)),
    ],
)
def test_paper_ii_defaults(cards: dict[str, object], expected: Frame) -> None:
    assert equatorial_frame(cards) == expected  # type: ignore[arg-type]


def test_epoch_can_be_ignored() -> None:
    assert equatorial_frame({"EPOCH": 1976.2}, use_epoch=False) == ICRS


@given(
    st.lists(
        st.tuples(st.floats(0.0, 359.999), st.floats(-89.999, 89.999)), min_size=1, max_size=5
    ),
    st.sampled_from(
        [
            (Frame("FK4", 1950.0), {"frame": "fk4", "equinox": "B1950"}),
            (Frame("FK5", 1975.0), {"frame": "fk5", "equinox": "J1975"}),
            (Frame("FK5", 2030.0), {"frame": "fk5", "equinox": "J2030"}),
            (Frame("GALACTIC"), {"frame": "galactic"}),
        ]
    ),
)
def test_conversions_agree_with_astropy_coordinates(
    points: list[tuple[float, float]], frame: tuple[Frame, dict[str, str]]
) -> None:
    ours = to_icrs(points, frame[0])
    lng, lat = np.array(points).T
    sky = SkyCoord(lng * u.deg, lat * u.deg, **frame[1]).icrs
    # FK4 goes through erfa.fk45z where astropy has its own E-terms: ~1 mas.
    assert max_separation(ours, np.array([sky.ra.deg, sky.dec.deg]).T) < 2e-6
    assert all(0.0 <= ra < 360.0 for ra, _ in ours)


def test_fk5_j2000_is_taken_as_icrs_unchanged() -> None:
    assert to_icrs([(359.99, -10.0), (-0.5, 3.0)], Frame("FK5", 2000.0)) == [
        (359.99, -10.0),
        (359.5, 3.0),
    ]


@pytest.mark.parametrize("frame", [Frame("ECLIPTIC"), Frame("GAPPT"), Frame("FK4", 1900.0)])
def test_unsupported_frames(frame: Frame) -> None:
    with pytest.raises(UnsupportedFrame):
        to_icrs([(10.0, 10.0)], frame)


@pytest.mark.parametrize(
    ("frame_cards", "expected_first_corner"),
    [
        ({"RADESYS": "ICRS"}, None),
        ({"RADESYS": "FK5", "EQUINOX": 2000.0}, None),
        ({"EQUINOX": 2000.0}, None),
        ({"RADESYS": "FK5", "EQUINOX": 1980.0}, "fk5_1980"),
        ({"EQUINOX": 1950.0}, "fk4"),
        ({"EPOCH": 1950.0}, "fk4"),
        ({"RADESYS": "FK4", "EQUINOX": "B1950"}, "fk4"),
    ],
)
def test_equatorial_frames_end_in_icrs(
    frame_cards: dict[str, object], expected_first_corner: str | None
) -> None:
    cards = {**celestial("TAN", CRVAL1=50.2, CRVAL2=-37.4), **frame_cards}
    header = image_header(cards)
    reference = astropy_footprint(header)
    if expected_first_corner == "fk4":
        sky = SkyCoord(reference[:, 0] * u.deg, reference[:, 1] * u.deg, frame="fk4").icrs
        reference = np.array([sky.ra.deg, sky.dec.deg]).T
    elif expected_first_corner == "fk5_1980":
        sky = SkyCoord(
            reference[:, 0] * u.deg, reference[:, 1] * u.deg, frame="fk5", equinox="J1980"
        ).icrs
        reference = np.array([sky.ra.deg, sky.dec.deg]).T
    ours = hdu_footprint(hdu_from_header(header))
    assert max_separation(ours, reference) < TOLERANCE_DEG


def test_galactic_frame_ends_in_icrs() -> None:
    cards = celestial("CAR", CTYPE1="GLON-CAR", CTYPE2="GLAT-CAR", CRVAL1=10.0, CRVAL2=0.0)
    header = image_header(cards)
    galactic = astropy_footprint(header)
    sky = SkyCoord(galactic[:, 0] * u.deg, galactic[:, 1] * u.deg, frame="galactic").icrs
    ours = hdu_footprint(hdu_from_header(header))
    assert max_separation(ours, np.array([sky.ra.deg, sky.dec.deg]).T) < TOLERANCE_DEG


@pytest.mark.parametrize("frame", [("ELON", "ELAT"), ("SLON", "SLAT"), ("HPLN", "HPLT")])
def test_other_frames_are_skipped_with_a_warning(frame: tuple[str, str]) -> None:
    cards = celestial("TAN", CTYPE1=f"{frame[0]}-TAN", CTYPE2=f"{frame[1]}-TAN")
    geometry = hdu_geometry(hdu_from_header(image_header(cards)))
    assert geometry.corners is None and geometry.centre is None
    assert [w.code for w in geometry.warnings] == ["frame_unsupported"]
