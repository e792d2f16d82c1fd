"""JSON as fitsflow stores and prints it (orjson: fast, strict, UTF-8)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # an annotation only: the reader processes need no pydantic
    from pydantic import BaseModel

__all__ = ["dumps", "dumps_document", "loads", "loads_small_numbers"]

# 20 digits in a row: possibly an integer beyond 64 bits. ASCII digits only
# (JSON's), which the regex engine also scans ~3x faster than Unicode ``\d``.
_LONG_NUMBER = re.compile(r"[0-9]{20}")


def _default(value: object) -> object:
    if isinstance(value, complex):
        return [value.real, value.imag]
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    """``value`` as compact JSON text (NaN and infinities become null).

    Integers beyond 64 bits (a FITS card may hold any number of digits) are
    written exactly, by the standard library: orjson refuses them.
    """
    try:
        return orjson.dumps(value, default=_default).decode()
    except TypeError:
        return json.dumps(_finite(value), default=_default, separators=(",", ":"), allow_nan=False)


def dumps_document(value: Any, reference: Callable[[], BaseModel]) -> bytes:
    """``value`` as the status API's JSON bytes, written as pydantic writes its
    documents (UTC datetimes ending in ``Z``; the same digits for floats).

    An integer past 64 bits, which orjson refuses, takes pydantic's own path:
    ``reference()`` is the published document, written with every digit.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_UTC_Z)
    except TypeError:
        return reference().model_dump_json().encode()


def _finite(value: Any) -> Any:
    """``value`` with non-finite floats as None, as orjson writes them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def loads(text: str | bytes | None) -> Any:
    """Parse JSON text; None (a NULL column) stays None; parsed values pass through."""
    if isinstance(text, (str, bytes)) and _LONG_NUMBER.search(
        text if isinstance(text, str) else text.decode("utf-8", "replace")
    ):
        return json.loads(text)  # orjson would turn integers past 64 bits into floats
    return loads_small_numbers(text)


def loads_small_numbers(text: str | bytes | None) -> Any:
    """:func:`loads` for JSON known to hold no integer past 64 bits (floats,
    bounded integers): parsed directly, without scanning for long numbers."""
    if text is None or not isinstance(text, (str, bytes)):
        return text
    return orjson.loads(text)
