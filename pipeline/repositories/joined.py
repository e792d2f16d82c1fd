"""One record's columns beside another's in a joined row.

Tables share column names (``id``, ``path``, ``created_at``...), so a
statement that reads two records in one row names one side's columns under a
prefix (:func:`prefixed_columns`) and the reader takes them back
(:func:`unprefixed`) for the record's ``from_row``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.models import field_names

__all__ = ["prefixed_columns", "unprefixed"]


def prefixed_columns(table: str, record: type[Any], prefix: str) -> str:
    """``table.name AS prefixname, ...`` for every field of ``record``."""
    return ", ".join(f"{table}.{name} AS {prefix}{name}" for name in field_names(record))


def unprefixed(row: Mapping[str, Any], record: type[Any], prefix: str) -> dict[str, Any]:
    """The fields of ``record`` read from ``row`` under ``prefix``, by their own names."""
    return {name: row[prefix + name] for name in field_names(record)}
