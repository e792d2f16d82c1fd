"""Reading the calendar dates and clock times that FITS headers hold.

Accepted, as the FITS standard and older practice write them:

- ``YYYY-MM-DD`` (date only)
- ``YYYY-MM-DDThh:mm[:ss[.s…]]``, also with a space for ``T`` and with a
  trailing ``Z`` (which then declares UTC whatever ``TIMESYS`` says)
- ``DD/MM/YY``, the form before 1997, always 19YY (the standard froze it)
- clock times ``hh:mm[:ss[.s…]]`` (``TIME-OBS``, ``UT``, ``UTSTART``…) and
  seconds since midnight as a number (ESO's ``UTC``)

A second of 60 (a leap second) is accepted. Anything else is a ``ValueError``
with a message saying why.
"""

from __future__ import annotations

import calendar
import re
from typing import NamedTuple

__all__ = ["CivilTime", "parse_clock", "parse_date"]

_ISO = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[T ](?P<h>\d{1,2}):(?P<mi>\d{1,2})(?::(?P<s>\d{1,2}(?:\.\d*)?))?)?"
    r"\s*(?P<z>Z)?\Z"
)
_OLD = re.compile(r"(?P<d>\d{1,2})/(?P<mo>\d{1,2})/(?P<y>\d{2})\Z")
_CLOCK = re.compile(r"(?P<h>\d{1,2}):(?P<mi>\d{1,2})(?::(?P<s>\d{1,2}(?:\.\d*)?))?\s*Z?\Z")
_SECONDS_PER_DAY = 86400.0


class CivilTime(NamedTuple):
    """A calendar date and time of day in a time scale not yet known."""

    # A NamedTuple, not a frozen dataclass: built for every date read, and a
    # frozen dataclass's __init__ costs three times as much.

    year: int
    month: int
    day: int
    hour: int = 0
    minute: int = 0
    second: float = 0.0
    #: Whether the text carried a time of day at all.
    has_time: bool = True
    #: Whether the text ended in ``Z``, declaring UTC.
    utc: bool = False

    def at(self, hour: int, minute: int, second: float) -> CivilTime:
        """This date at another time of day."""
        return CivilTime(self.year, self.month, self.day, hour, minute, second, True, self.utc)


def parse_date(text: str) -> CivilTime:
    """A ``DATE-OBS``-like value; ValueError if it is no date this module knows."""
    stripped = text.strip()
    if match := _ISO.match(stripped):
        year, month, day = int(match["y"]), int(match["mo"]), int(match["d"])
        _check_date(year, month, day)
        if match["h"] is None:
            return CivilTime(year, month, day, has_time=False, utc=bool(match["z"]))
        hour, minute, second = _check_clock(match["h"], match["mi"], match["s"])
        return CivilTime(year, month, day, hour, minute, second, True, bool(match["z"]))
    if match := _OLD.match(stripped):
        year, month, day = 1900 + int(match["y"]), int(match["mo"]), int(match["d"])
        _check_date(year, month, day)
        return CivilTime(year, month, day, has_time=False)
    raise ValueError("is not a date in the form YYYY-MM-DD[Thh:mm:ss] or DD/MM/YY")


def parse_clock(value: str | float) -> tuple[int, int, float]:
    """A time of day: ``hh:mm[:ss.s]`` text, or seconds since midnight."""
    if isinstance(value, float):
        if not 0 <= value < _SECONDS_PER_DAY:
            raise ValueError("is not a number of seconds within a day")
        hour, rest = divmod(value, 3600.0)
        minute, second = divmod(rest, 60.0)
        return int(hour), int(minute), second
    match = _CLOCK.match(value.strip())
    if match is None:
        raise ValueError("is not a time of day hh:mm:ss")
    return _check_clock(match["h"], match["mi"], match["s"])


def _check_date(year: int, month: int, day: int) -> None:
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} is not 1..12")
    if not year >= 1:
        raise ValueError(f"year {year} is before year 1")
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        raise ValueError(f"day {day} is not 1..{last}")


def _check_clock(
    hour_text: str, minute_text: str, second_text: str | None
) -> tuple[int, int, float]:
    hour, minute = int(hour_text), int(minute_text)
    second = float(second_text) if second_text else 0.0
    if hour > 23 or minute > 59 or second >= 61.0:
        raise ValueError(f"{hour:02d}:{minute:02d}:{second:g} is not a time of day")
    return hour, minute, second
