"""Looking keywords up across the HDUs of a file, in a fixed precedence.

Every field has a list of keywords in order of preference. The scan is
keyword-major: the preferred keyword wins wherever it is, and among HDUs the
primary comes first, then the extensions in file order. So a ``DATE-OBS`` in
an extension beats a ``DATE`` in the primary, and a primary ``EXPTIME`` beats
an extension's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Generic, NamedTuple, TypeVar

from pipeline.fits.cards import CardValue
from pipeline.fits.model import Hdu, ReadWarning

__all__ = ["Found", "Headers", "as_number", "as_text", "to_float"]

T = TypeVar("T")


class Found(NamedTuple, Generic[T]):
    """A usable value, and where it was found."""

    # A NamedTuple, not a frozen dataclass: built for every field found, and a
    # frozen dataclass's __init__ costs three times as much.

    value: T
    keyword: str
    hdu: int


class Headers:
    """The keyword → value maps of a file's HDUs, built once, scanned often."""

    __slots__ = ("_values", "hdus", "warnings")

    def __init__(self, hdus: Sequence[Hdu]) -> None:
        self.hdus = tuple(hdus)
        # Built once per HDU by the reader, shared, never rebuilt here.
        self._values = [hdu.values() for hdu in self.hdus]
        #: Problems met while extracting; every extractor appends here.
        self.warnings: list[ReadWarning] = []

    def of(self, position: int) -> Mapping[str, CardValue]:
        """The values of the HDU at ``position`` in the scan (0 = primary)."""
        return self._values[position]

    def positions(self) -> range:
        return range(len(self._values))

    def warn(self, code: str, message: str, position: int | None) -> None:
        hdu = self.hdus[position].index if position is not None else None
        warning = ReadWarning(code, message, hdu)
        # The same value can be looked at by more than one rule; say it once.
        if warning not in self.warnings:
            self.warnings.append(warning)

    def find(
        self,
        keywords: Iterable[str],
        convert: Callable[[CardValue], T | None],
        code: str,
    ) -> Found[T] | None:
        """The first value ``convert`` accepts, keyword by keyword, HDU by HDU.

        ``convert`` returns None for an empty value (passed over silently) and
        raises ValueError for a bad one (recorded as warning ``code``, and the
        scan goes on).
        """
        for keyword in keywords:
            for position, values in enumerate(self._values):
                raw = values.get(keyword)
                if raw is None:
                    continue
                try:
                    value = convert(raw)
                except ValueError as error:
                    self.warn(code, f"{keyword} = {raw!r}: {error}", position)
                    continue
                if value is not None:
                    return Found(value, keyword, self.hdus[position].index)
        return None


def as_text(value: CardValue) -> str | None:
    """A string value stripped, None when blank; numbers written as text.

    ``OBJECT = 3827`` (an unquoted catalogue number) is still a name.
    """
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return str(value)


def to_float(value: int | float) -> float:
    """``float(value)``, an integer too large for a float becoming infinite.

    ``float(10**400)`` raises OverflowError, which no extractor expects: a
    card holding a 400-digit integer is a bad value (a warning), not a
    failed file.
    """
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def as_number(value: CardValue) -> float | None:
    """A finite real number, from a number or a numeric string; None if blank."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("is a logical, not a number")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text.replace("D", "E").replace("d", "e"))
        except ValueError:
            raise ValueError("is not a number") from None
    elif isinstance(value, int | float):
        number = to_float(value)
    else:
        raise ValueError("is not a real number")
    if not math.isfinite(number):
        raise ValueError("is not finite")
    return number
