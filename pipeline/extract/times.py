"""When the observation started, in UTC.

Precedence (keyword-major over HDUs, primary first):

1. ``DATE-BEG``, then ``DATE-OBS`` — FITS 4.0 makes ``DATE-BEG`` the start
   explicitly, while ``DATE-OBS`` may be "a representative time". A value
   with only a date takes its time of day from ``TIME-OBS``, ``TIME-BEG``,
   ``UTC-OBS``, ``UTSTART``, ``UT`` or ``UTC`` (ESO: seconds since midnight)
   in the same HDU, else in the primary.
2. ``MJD-BEG``, then ``MJD-OBS`` (and Chandra's ``MJD_OBS``).
3. A date with no time of day anywhere, taken as 00:00.
4. ``DATE`` (when the file was written), last resort, with a warning
   ``obs_start_from_file_date`` saying so.

Dates and MJDs are read in the ``TIMESYS`` of their HDU (else the primary's,
else UTC) and converted to UTC (:mod:`pipeline.extract.timescales`). ``DATE``
is UTC by definition. A value that cannot be read is a ``bad_date`` warning
and the scan goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pipeline.extract.dates import CivilTime, parse_clock, parse_date
from pipeline.extract.keywords import Headers, as_number, to_float
from pipeline.extract.timescales import civil_to_utc, mjd_to_utc, timescale
from pipeline.fits.cards import CardValue

__all__ = ["CLOCK_KEYWORDS", "DATE_KEYWORDS", "MJD_KEYWORDS", "find_obs_start"]

DATE_KEYWORDS = ("DATE-BEG", "DATE-OBS")
CLOCK_KEYWORDS = ("TIME-OBS", "TIME-BEG", "UTC-OBS", "UTSTART", "UT", "UTC")
MJD_KEYWORDS = ("MJD-BEG", "MJD-OBS", "MJD_OBS")
_SECONDS_KEYWORDS = frozenset({"UTC"})


def find_obs_start(headers: Headers) -> datetime | None:
    """The observation start by the precedence of this module's docstring."""
    date_only: datetime | None = None
    for keyword in DATE_KEYWORDS:
        for position in headers.positions():
            civil = _date_value(headers, position, keyword)
            if civil is None:
                continue
            if not civil.has_time:
                clock = _clock(headers, position)
                if clock is None:
                    if date_only is None:
                        date_only = _to_utc(headers, position, keyword, civil)
                    continue
                civil = civil.at(*clock)
            if (instant := _to_utc(headers, position, keyword, civil)) is not None:
                return instant
    if (instant := _from_mjd(headers)) is not None:
        return instant
    return date_only if date_only is not None else _from_file_date(headers)


def _date_value(headers: Headers, position: int, keyword: str) -> CivilTime | None:
    raw = headers.of(position).get(keyword)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        headers.warn("bad_date", f"{keyword} = {raw!r} is not a date string", position)
        return None
    try:
        return parse_date(raw)
    except ValueError as error:
        headers.warn("bad_date", f"{keyword} = {raw!r}: {error}", position)
        return None


def _clock(headers: Headers, position: int) -> tuple[int, int, float] | None:
    """The time of day from the HDU at ``position``, else from the primary."""
    for where in (position, 0) if position else (0,):
        if (clock := _clock_in(headers, where)) is not None:
            return clock
    return None


def _clock_in(headers: Headers, position: int) -> tuple[int, int, float] | None:
    values = headers.of(position)
    for keyword in CLOCK_KEYWORDS:
        raw = values.get(keyword)
        if isinstance(raw, str) and raw.strip():
            text: str | float = raw
        elif keyword in _SECONDS_KEYWORDS and isinstance(raw, int | float):
            text = to_float(raw)
        else:
            continue
        try:
            return parse_clock(text)
        except ValueError as error:
            headers.warn("bad_date", f"{keyword} = {raw!r}: {error}", position)
    return None


def _scale(headers: Headers, position: int) -> str:
    values: Mapping[str, CardValue] = headers.of(position)
    if "TIMESYS" not in values:
        values = headers.of(0)
    scale, note = timescale(values.get("TIMESYS"))
    if note is not None:
        headers.warn("unsupported_timesys", note, position)
    return scale


def _to_utc(headers: Headers, position: int, keyword: str, civil: CivilTime) -> datetime | None:
    try:
        return civil_to_utc(civil, _scale(headers, position))
    except ValueError as error:
        headers.warn("bad_date", f"{keyword}: {error}", position)
        return None


def _from_mjd(headers: Headers) -> datetime | None:
    for keyword in MJD_KEYWORDS:
        for position in headers.positions():
            raw = headers.of(position).get(keyword)
            if raw is None:
                continue
            try:
                mjd = as_number(raw)
                if mjd is None:
                    continue
                return mjd_to_utc(mjd, _scale(headers, position))
            except ValueError as error:
                headers.warn("bad_date", f"{keyword} = {raw!r}: {error}", position)
    return None


def _from_file_date(headers: Headers) -> datetime | None:
    for position in headers.positions():
        civil = _date_value(headers, position, "DATE")
        if civil is None:
            continue
        try:
            instant = civil_to_utc(civil, "UTC")
        except ValueError as error:
            headers.warn("bad_date", f"DATE: {error}", position)
            continue
        headers.warn(
            "obs_start_from_file_date",
            "no DATE-OBS, DATE-BEG or MJD-OBS: the observation start is the file's DATE",
            position,
        )
        return instant
    return None
