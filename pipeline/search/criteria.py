"""What a product search asks, checked once for the API and the CLI alike.

:func:`build_search` turns the raw parameters (strings and numbers, as a
query string or command-line options give them) into a :class:`ProductSearch`,
or raises one :class:`~pipeline.errors.ValidationError` listing every bad
parameter by name, in the shape the API's 400 answers use.

Names (``telescope``, ``instrument``, ``object``, ``filter``): the value
matches the whole stored name; a trailing ``*`` makes it a prefix (``NGC 1*``;
a lone ``*`` asks only that the name be recorded). Telescope, instrument and
object compare ignoring ASCII case — headers and people spell them
differently. Filter names are case-sensitive: Johnson ``R`` and SDSS ``r``
are different filters.

Times (``start``, ``end``): ISO 8601 (a date, or a date and time; UTC unless
an offset is given) or a Modified Julian Date (a bare number, UTC). They
bound ``obs_start``: ``start`` inclusive, ``end`` exclusive, so consecutive
ranges never share a product (and an ``end`` before ``start`` matches none).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.errors import ValidationError
from pipeline.search.conditions import ConditionError, HeaderCondition, parse_condition
from pipeline.search.sky import Cone

__all__ = [
    "MAX_CONDITIONS",
    "MAX_NAME_LENGTH",
    "MJD_PATTERN",
    "NameMatch",
    "ProductSearch",
    "build_search",
    "parse_instant",
]

#: Longest name accepted: a FITS string value holds at most 68 characters.
MAX_NAME_LENGTH = 200
#: Most header conditions in one search (each is one EXISTS over the HDUs).
MAX_CONDITIONS = 20
MJD_EPOCH = datetime(1858, 11, 17, tzinfo=UTC)
#: A Modified Julian Date as ``start``/``end`` take it (published in the API schema).
MJD_PATTERN = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: MJDs of 0001-01-01 and 9999-12-31T23:59:59.999999, the range of a datetime.
_MJD_RANGE = (-678575.0, 2973483.99999)


@dataclass(frozen=True, slots=True)
class NameMatch:
    """A name to match whole, or as a prefix."""

    text: str
    prefix: bool = False

    @classmethod
    def parse(cls, raw: str) -> NameMatch:
        """``NGC 1*`` is a prefix, ``NGC 1`` the whole name."""
        if raw.endswith("*"):
            return cls(raw[:-1], prefix=True)
        return cls(raw)


@dataclass(frozen=True, slots=True)
class ProductSearch:
    """Every filter of one search; all given must hold."""

    telescope: NameMatch | None = None
    instrument: NameMatch | None = None
    object: NameMatch | None = None
    filter: NameMatch | None = None
    start: datetime | None = None
    end: datetime | None = None
    conditions: tuple[HeaderCondition, ...] = ()
    cone: Cone | None = None
    include_superseded: bool = False


@dataclass
class _Problems:
    """Bad parameters found so far, reported together."""

    found: list[dict[str, str]] = field(default_factory=list)

    def add(self, name: str, message: str) -> None:
        self.found.append({"in": "query", "name": name, "message": message})

    def raise_any(self) -> None:
        if self.found:
            summary = "; ".join(f"{item['name']}: {item['message']}" for item in self.found)
            raise ValidationError(
                f"invalid search: {summary}", details={"parameters": list(self.found)}
            )


def build_search(
    *,
    telescope: str | None = None,
    instrument: str | None = None,
    object: str | None = None,
    filter: str | None = None,
    start: str | None = None,
    end: str | None = None,
    where: Sequence[str] = (),
    ra: float | None = None,
    dec: float | None = None,
    radius: float | None = None,
    include_superseded: bool = False,
) -> ProductSearch:
    """The search these parameters describe; ValidationError names every bad one."""
    problems = _Problems()
    names = {
        name: _name(name, value, problems)
        for name, value in (
            ("telescope", telescope),
            ("instrument", instrument),
            ("object", object),
            ("filter", filter),
        )
    }
    begin, finish = _instant("start", start, problems), _instant("end", end, problems)
    conditions = _conditions(where, problems)
    cone = _cone(ra, dec, radius, problems)
    problems.raise_any()
    return ProductSearch(
        **names,
        start=begin,
        end=finish,
        conditions=conditions,
        cone=cone,
        include_superseded=include_superseded,
    )


def _text_problem(value: str) -> str | None:
    # Neither database stores NUL in text; a lone surrogate (from a command
    # line in another encoding) is no text at all. Anything else may be asked:
    # at worst it matches nothing.
    if "\x00" in value:
        return "NUL characters are not allowed"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text"
    return None


def _name(name: str, raw: str | None, problems: _Problems) -> NameMatch | None:
    if raw is None:
        return None
    problem = _text_problem(raw)
    if problem is None and not raw:
        problem = "is empty (use * to ask only that it be recorded)"
    if problem is None and len(raw) > MAX_NAME_LENGTH:
        problem = f"is longer than {MAX_NAME_LENGTH} characters"
    if problem is not None:
        problems.add(name, problem)
        return None
    return NameMatch.parse(raw)


def _instant(name: str, raw: str | None, problems: _Problems) -> datetime | None:
    if raw is None:
        return None
    try:
        return parse_instant(raw)
    except ValueError as error:
        problems.add(name, str(error))
        return None


def parse_instant(raw: str) -> datetime:
    """A UTC instant from ISO 8601 text or a Modified Julian Date; ValueError if neither.

    An instant beyond the years 1 to 9999 (an MJD of 1e9, an offset pushing
    9999-12-31 past midnight) bounds nothing that can be stored: it becomes
    the nearest representable one.
    """
    if MJD_PATTERN.fullmatch(raw):
        mjd = float(raw)
        if mjd <= _MJD_RANGE[0]:
            return datetime.min.replace(tzinfo=UTC)
        if mjd >= _MJD_RANGE[1]:
            return datetime.max.replace(tzinfo=UTC)
        return MJD_EPOCH + timedelta(days=mjd)
    try:
        instant = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"{raw!r} is neither ISO 8601 (2024-05-01T22:30:00Z) nor an MJD (60431.9375)"
        ) from None
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    try:
        return instant.astimezone(UTC)
    except OverflowError:
        edge = datetime.min if instant.year == datetime.min.year else datetime.max
        return edge.replace(tzinfo=UTC)


def _conditions(where: Sequence[str], problems: _Problems) -> tuple[HeaderCondition, ...]:
    if len(where) > MAX_CONDITIONS:
        problems.add("where", f"at most {MAX_CONDITIONS} conditions, got {len(where)}")
        return ()
    parsed = []
    for text in where:
        try:
            parsed.append(parse_condition(text))
        except ConditionError as error:
            problems.add("where", f"{text!r}: {error}")
    return tuple(parsed)


def _cone(
    ra: float | None, dec: float | None, radius: float | None, problems: _Problems
) -> Cone | None:
    given = {"ra": ra, "dec": dec, "radius": radius}
    if all(value is None for value in given.values()):
        return None
    missing = [name for name, value in given.items() if value is None]
    if missing:
        for name in missing:
            problems.add(name, "a cone search needs ra, dec and radius together")
        return None
    limits: dict[str, tuple[float, float]] = {
        "ra": (0.0, 360.0),
        "dec": (-90.0, 90.0),
        "radius": (0.0, 180.0),
    }
    valid = True
    for name, value in given.items():
        low, high = limits[name]
        if not _in_range(value, low, high):
            problems.add(name, f"must be a number from {low:g} to {high:g} degrees")
            valid = False
    if not valid:
        return None
    assert ra is not None and dec is not None and radius is not None
    return Cone(ra % 360.0, dec, radius)


def _in_range(value: Any, low: float, high: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and low <= value <= high
