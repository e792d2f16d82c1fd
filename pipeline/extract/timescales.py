"""Bringing times written in any common FITS time scale to UTC.

UTC (also written ``UT``, ``GMT``, ``Z``) is the default, as the FITS standard
says when ``TIMESYS`` is absent, and is handled in pure Python. TAI, TT
(``TDT``, ``ET``), GPS (TAI − 19 s) and TDB (via TT, with the geocentric
TDB − TT from ``erfa.dtdb``) are converted with ERFA, whose built-in table of
TAI − UTC (``erfa.dat``) needs no network. astropy.time is deliberately not
used: its UTC conversions may try to download leap-second and IERS tables.

``UT1`` is taken as UTC (they differ by less than 0.9 s; the exact offset
needs IERS tables) and any other scale (``LOCAL``, ``TCG``, ``TCB``…) as UTC
too; both are reported by :func:`timescale` so a warning can say so.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import erfa

from pipeline.extract.dates import CivilTime

__all__ = ["MJD_EPOCH", "civil_to_utc", "mjd_of", "mjd_to_utc", "timescale"]

MJD_EPOCH = datetime(1858, 11, 17, tzinfo=UTC)
_MJD_ZERO_JD = 2400000.5
_GPS_BEHIND_TAI_DAYS = 19.0 / 86400.0
_SCALES = {
    "UTC": "UTC",
    "UT": "UTC",
    "GMT": "UTC",
    "Z": "UTC",
    "TAI": "TAI",
    "IAT": "TAI",
    "TT": "TT",
    "TDT": "TT",
    "ET": "TT",
    "GPS": "GPS",
    "TDB": "TDB",
}


def timescale(value: object) -> tuple[str, str | None]:
    """The scale a ``TIMESYS`` value names, and why it was approximated, if so."""
    if value is None:
        return "UTC", None
    name = str(value).strip().upper()
    if not name:
        return "UTC", None
    if name in _SCALES:
        return _SCALES[name], None
    if name == "UT1":
        return "UTC", "UT1 taken as UTC (they differ by < 0.9 s)"
    return "UTC", f"time scale {name!r} is not supported; taken as UTC"


def civil_to_utc(time: CivilTime, scale: str) -> datetime:
    """The UTC instant of ``time`` read in ``scale``; ValueError if impossible."""
    if scale == "UTC" or time.utc:
        base = datetime(time.year, time.month, time.day, time.hour, time.minute, tzinfo=UTC)
        # Adding the seconds (not setting them) also carries a leap second 60.x
        # into the next minute, which datetime cannot hold.
        try:
            return base + timedelta(seconds=time.second)
        except OverflowError:
            raise ValueError("is after the year 9999") from None
    with _quiet_erfa():
        try:
            day1, day2 = erfa.dtf2d(
                "TAI", time.year, time.month, time.day, time.hour, time.minute, time.second
            )
        except erfa.ErfaError as error:
            raise ValueError(f"is not a valid date: {error}") from None
        return _uniform_to_utc(float(day1), float(day2), scale)


def mjd_to_utc(mjd: float, scale: str) -> datetime:
    """The UTC instant of Modified Julian Date ``mjd`` in ``scale``."""
    if scale == "UTC":
        try:
            return MJD_EPOCH + timedelta(days=mjd)
        except OverflowError:
            raise ValueError("is outside the years 1..9999") from None
    with _quiet_erfa():
        return _uniform_to_utc(_MJD_ZERO_JD, mjd, scale)


def mjd_of(instant: datetime) -> float:
    """The Modified Julian Date (UTC) of a timezone-aware UTC instant."""
    return (instant - MJD_EPOCH) / timedelta(days=1)


def _uniform_to_utc(day1: float, day2: float, scale: str) -> datetime:
    if scale == "TDB":
        tdb_minus_tt = erfa.dtdb(day1, day2, 0.0, 0.0, 0.0, 0.0)
        day1, day2 = erfa.tdbtt(day1, day2, tdb_minus_tt)
        scale = "TT"
    if scale == "TT":
        day1, day2 = erfa.tttai(day1, day2)
    elif scale == "GPS":
        day2 = day2 + _GPS_BEHIND_TAI_DAYS
    try:
        utc1, utc2 = erfa.taiutc(day1, day2)
        year, month, day, hmsf = erfa.d2dtf("UTC", 6, utc1, utc2)
        hour, minute, second, micro = (int(part) for part in hmsf.item())
        base = datetime(int(year), int(month), int(day), hour, minute, tzinfo=UTC)
        return base + timedelta(seconds=second, microseconds=micro)
    except (erfa.ErfaError, OverflowError) as error:
        raise ValueError(f"cannot be converted to UTC: {error}") from None


@contextmanager
def _quiet_erfa() -> Iterator[None]:
    """Silence ERFA's "dubious year" for dates outside its leap-second table.

    Before 1960 TAI − UTC is taken as 0 and after the table's end as its last
    value: the best there is, and not worth a warning per file. Only the
    non-UTC path comes here, so the common case never touches the (process
    global) warning filters.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", erfa.ErfaWarning)
        yield
