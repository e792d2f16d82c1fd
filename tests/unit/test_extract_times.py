"""Observation start: date forms, time keywords, precedence and time scales."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import erfa
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pipeline.extract import extract_fields
from pipeline.extract.dates import CivilTime, parse_clock, parse_date
from pipeline.extract.timescales import civil_to_utc, mjd_of, mjd_to_utc, timescale
from tests.support.headers import Keywords, image_hdu, primary_hdu

T0 = datetime(2019, 3, 4, 5, 6, 7, 123000, tzinfo=UTC)


def start(cards: Keywords, *extensions: Keywords) -> tuple[datetime | None, list[str]]:
    hdus = [primary_hdu(cards)]
    hdus += [image_hdu(ext, index=n) for n, ext in enumerate(extensions, start=1)]
    fields = extract_fields(hdus)
    return fields.obs_start, [warning.code for warning in fields.warnings]


# --- the forms DATE-OBS is written in -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-03-04T05:06:07.123", T0),
        ("2019-03-04T05:06:07.123Z", T0),
        ("2019-03-04 05:06:07.123", T0),
        ("  2019-03-04T05:06:07.123  ", T0),
        ("2019-03-04T05:06:07.1234564", T0 + timedelta(microseconds=456)),
        ("2019-03-04T05:06", T0.replace(second=0, microsecond=0)),
        ("2019-3-4T5:06:07.123", T0),
        ("2016-12-31T23:59:60.5", datetime(2017, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_date_obs_with_time_forms(text: str, expected: datetime) -> None:
    assert start({"DATE-OBS": text}) == (expected, [])


def test_date_only_is_midnight_when_nothing_gives_the_time() -> None:
    assert start({"DATE-OBS": "2019-03-04"}) == (datetime(2019, 3, 4, tzinfo=UTC), [])


def test_old_dd_mm_yy_form_is_nineteen_hundreds() -> None:
    expected = datetime(1976, 3, 11, 17, 38, tzinfo=UTC)
    assert start({"DATE-OBS": "11/03/76", "UT": "17:38:00.00"}) == (expected, [])


@pytest.mark.parametrize("keyword", ["TIME-OBS", "TIME-BEG", "UTC-OBS", "UTSTART", "UT"])
def test_date_only_takes_the_time_of_day_keyword(keyword: str) -> None:
    assert start({"DATE-OBS": "2019-03-04", keyword: "05:06:07.123"}) == (T0, [])


def test_eso_utc_is_seconds_since_midnight() -> None:
    assert start({"DATE-OBS": "2019-03-04", "UTC": 18367.123}) == (T0, [])


def test_time_keyword_does_not_override_a_full_date_obs() -> None:
    assert start({"DATE-OBS": "2019-03-04T05:06:07.123", "TIME-OBS": "23:00:00"}) == (T0, [])


def test_time_of_day_from_the_primary_completes_an_extension_date() -> None:
    assert start({"TIME-OBS": "05:06:07.123"}, {"DATE-OBS": "2019-03-04"}) == (T0, [])


# --- precedence ---------------------------------------------------------------------------


def test_date_beg_is_preferred_to_date_obs() -> None:
    cards = {"DATE-OBS": "2020-01-01T00:00:00", "DATE-BEG": "2019-03-04T05:06:07.123"}
    assert start(cards) == (T0, [])


def test_extension_date_obs_beats_primary_file_date() -> None:
    assert start({"DATE": "2021-01-01T00:00:00"}, {"DATE-OBS": "2019-03-04T05:06:07.123"}) == (
        T0,
        [],
    )


def test_mjd_obs_when_no_date_obs() -> None:
    obs, codes = start({"MJD-OBS": mjd_of(T0)})
    assert codes == []
    assert obs is not None and abs(obs - T0) < timedelta(microseconds=2)


def test_mjd_beg_beats_mjd_obs_and_string_mjd_is_read() -> None:
    obs, _ = start({"MJD-OBS": 50000.0, "MJD-BEG": "58546.0"})
    assert obs == datetime(2019, 3, 4, tzinfo=UTC)


def test_mjd_is_preferred_to_a_date_without_time_of_day() -> None:
    obs, _ = start({"DATE-OBS": "2019-03-04", "MJD-OBS": mjd_of(T0)})
    assert obs is not None and abs(obs - T0) < timedelta(microseconds=2)


def test_file_date_is_the_last_resort_and_says_so() -> None:
    obs, codes = start({"DATE": "2021-06-07T08:09:10"})
    assert obs == datetime(2021, 6, 7, 8, 9, 10, tzinfo=UTC)
    assert codes == ["obs_start_from_file_date"]


def test_file_date_ignores_timesys() -> None:
    obs, _ = start({"DATE": "2021-06-07T08:09:10", "TIMESYS": "TT"})
    assert obs == datetime(2021, 6, 7, 8, 9, 10, tzinfo=UTC)


def test_no_date_at_all() -> None:
    assert start({"OBJECT": "M31"}) == (None, [])


@pytest.mark.parametrize(
    "bad",
    ["2019-13-01T00:00:00", "2019-02-30", "yesterday", "2019-03-04T25:00:00", "", 2019.5],
)
def test_bad_date_obs_is_a_warning_and_the_scan_goes_on(bad: object) -> None:
    obs, codes = start({"DATE-OBS": bad, "MJD-OBS": 58546.0})
    assert obs == datetime(2019, 3, 4, tzinfo=UTC)
    assert codes == ([] if bad == "" else ["bad_date"])


def test_bad_time_of_day_is_a_warning() -> None:
    obs, codes = start({"DATE-OBS": "2019-03-04", "TIME-OBS": "99:00:00"})
    assert obs == datetime(2019, 3, 4, tzinfo=UTC)
    assert codes == ["bad_date"]


def test_bad_mjd_is_a_warning() -> None:
    assert start({"MJD-OBS": "soon"}) == (None, ["bad_date"])


def test_mjd_obs_matches_obs_start() -> None:
    fields = extract_fields([primary_hdu({"DATE-OBS": "2019-03-04T05:06:07.123"})])
    assert fields.mjd_obs == pytest.approx(58546.21258244213, abs=1e-9)


# --- time scales ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timesys", "offset_seconds"),
    [
        ("UTC", 0.0),
        ("UT", 0.0),
        ("TAI", 37.0),  # TAI - UTC since 2017-01-01
        ("TT", 37.0 + 32.184),
        ("TDT", 37.0 + 32.184),
        ("ET", 37.0 + 32.184),
        ("GPS", 37.0 - 19.0),
    ],
)
def test_timesys_converts_to_utc(timesys: str, offset_seconds: float) -> None:
    obs, codes = start({"DATE-OBS": "2019-03-04T05:06:07.123", "TIMESYS": timesys})
    assert codes == []
    assert obs == T0 - timedelta(seconds=offset_seconds)


@pytest.mark.parametrize(
    ("date", "tai_minus_utc"),
    [("1999-01-01T12:00:00", 32.0), ("2006-06-01T00:00:00", 33.0), ("2012-07-01T12:00:00", 35.0)],
)
def test_tai_minus_utc_follows_the_leap_second_table(date: str, tai_minus_utc: float) -> None:
    tai = datetime.fromisoformat(date).replace(tzinfo=UTC)
    obs, _ = start({"DATE-OBS": date, "TIMESYS": "TAI"})
    assert obs == tai - timedelta(seconds=tai_minus_utc)


def test_tai_across_a_leap_second() -> None:
    # 2017-01-01T00:00:36 TAI is the leap second 2016-12-31T23:59:60 UTC.
    obs, _ = start({"DATE-OBS": "2017-01-01T00:00:36.5", "TIMESYS": "TAI"})
    assert obs == datetime(2017, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)


def test_tdb_is_within_two_milliseconds_of_tt() -> None:
    tt, _ = start({"DATE-OBS": "2019-03-04T05:06:07.123", "TIMESYS": "TT"})
    tdb, _ = start({"DATE-OBS": "2019-03-04T05:06:07.123", "TIMESYS": "TDB"})
    assert tt is not None and tdb is not None
    assert timedelta(0) < abs(tdb - tt) < timedelta(milliseconds=2)


def test_mjd_obs_in_tt() -> None:
    obs, _ = start({"MJD-OBS": mjd_of(T0), "TIMESYS": "TT"})
    assert obs is not None
    assert abs(obs - (T0 - timedelta(seconds=69.184))) < timedelta(microseconds=2)


def test_trailing_z_declares_utc_whatever_timesys_says() -> None:
    assert start({"DATE-OBS": "2019-03-04T05:06:07.123Z", "TIMESYS": "TT"}) == (T0, [])


def test_timesys_of_the_primary_applies_to_an_extension() -> None:
    obs, _ = start({"TIMESYS": "TAI"}, {"DATE-OBS": "2019-03-04T05:06:07.123"})
    assert obs == T0 - timedelta(seconds=37)


def test_chandra_tt_date_obs() -> None:
    obs, _ = start({"DATE-OBS": "2016-01-26T17:58:29", "TIMESYS": "TT"})
    assert obs == datetime(2016, 1, 26, 17, 57, 20, 816000, tzinfo=UTC)


@pytest.mark.parametrize("timesys", ["UT1", "LOCAL", "TCB"])
def test_unsupported_timesys_is_taken_as_utc_with_a_warning(timesys: str) -> None:
    assert start({"DATE-OBS": "2019-03-04T05:06:07.123", "TIMESYS": timesys}) == (
        T0,
        ["unsupported_timesys"],
    )


def test_dates_before_the_leap_second_table_convert_quietly() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        obs, _ = start({"DATE-OBS": "1950-01-01T00:00:00", "TIMESYS": "TAI"})
    assert obs == datetime(1950, 1, 1, tzinfo=UTC)  # TAI - UTC is 0 before 1960
    assert caught == []


# --- the pieces ---------------------------------------------------------------------------


def test_timescale_names() -> None:
    assert timescale(None) == ("UTC", None)
    assert timescale(" tt ") == ("TT", None)
    assert timescale("UT1")[0] == "UTC"
    assert timescale("UT1")[1] is not None


def test_parse_date_reports_what_it_found() -> None:
    assert parse_date("2019-03-04") == CivilTime(2019, 3, 4, has_time=False)
    assert parse_date("2019-03-04T05:06:07Z").utc


def test_parse_clock_rejects_nonsense() -> None:
    for bad in ("5", "05:60:00", "24:00:00", "ab:cd"):
        with pytest.raises(ValueError):
            parse_clock(bad)
    with pytest.raises(ValueError):
        parse_clock(86400.0)


@given(st.datetimes(min_value=datetime(1972, 1, 1), max_value=datetime(2100, 1, 1)))
def test_mjd_round_trip_in_utc(moment: datetime) -> None:
    moment = moment.replace(tzinfo=UTC)
    assert abs(mjd_to_utc(mjd_of(moment), "UTC") - moment) <= timedelta(microseconds=10)


@given(st.datetimes(min_value=datetime(1973, 1, 1), max_value=datetime(2025, 12, 31)))
def test_tai_to_utc_matches_erfa_dat(moment: datetime) -> None:
    assume(not (moment.hour == 0 and moment.minute == 0 and moment.second < 40))
    civil = CivilTime(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second + moment.microsecond / 1e6,
    )
    utc = civil_to_utc(civil, "TAI")
    seconds = utc.hour * 3600 + utc.minute * 60 + utc.second
    offset = erfa.dat(utc.year, utc.month, utc.day, seconds / 86400)
    # Away from the minute after midnight (where leap seconds live), UTC +
    # (TAI - UTC) gives the TAI back.
    tai = utc + timedelta(seconds=float(offset))
    assert abs(tai - moment.replace(tzinfo=UTC)) <= timedelta(microseconds=1)
