"""Time as fitsflow records it: timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["as_datetime", "utc_now"]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_datetime(value: object) -> datetime | None:
    """A database timestamp as aware UTC: PostgreSQL gives datetimes, SQLite text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value)
    else:
        raise TypeError(f"not a timestamp: {value!r}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
