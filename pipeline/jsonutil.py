"""JSON as fitsflow stores and prints it (orjson: fast, strict, UTF-8)."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["dumps", "loads"]


def _default(value: object) -> object:
    if isinstance(value, complex):
        return [value.real, value.imag]
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    """``value`` as compact JSON text (NaN and infinities become null)."""
    return orjson.dumps(value, default=_default).decode()


def loads(text: str | bytes | None) -> Any:
    """Parse JSON text; None (a NULL column) stays None; parsed values pass through."""
    if text is None or not isinstance(text, (str, bytes)):
        return text
    return orjson.loads(text)
