"""Request parameters shared by the endpoints, and the opaque page cursor.

Bounds here are what keeps every request well inside what both databases
accept: identifiers fit a signed 64-bit integer, text has no NUL (PostgreSQL
text cannot hold one) and a sane length. A value outside them is a 400, never
a database error.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any

from fastapi import Path, Query

from pipeline.api.errors import bad_parameter

__all__ = [
    "CURSOR_PATTERN",
    "DEFAULT_PAGE_SIZE",
    "MAX_ID",
    "MAX_PAGE_SIZE",
    "CursorQuery",
    "IdPath",
    "absolute_path",
    "decode_cursor",
    "encode_cursor",
    "text_query",
]

#: Largest identifier either database can store (BIGINT).
MAX_ID = 2**63 - 1
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
#: Longest path or code accepted in a query (PATH_MAX on Linux is 4096).
MAX_TEXT_LENGTH = 4096
_NO_NUL = r"^[^\x00]*$"
_ABSOLUTE = r"^/[^\x00]*$"
#: A page cursor: ``c`` and the hexadecimal id of the last job of the page
#: before (at most MAX_ID). Published in the schema so that every string it
#: admits is a cursor the API accepts; clients still treat cursors as opaque.
CURSOR_PATTERN = r"^c[0-7]?[0-9a-f]{1,15}$"

IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="A record's identifier.")]
CursorQuery = Annotated[
    str | None,
    Query(pattern=CURSOR_PATTERN, description="`next_cursor` of the previous page, unchanged."),
]


def text_query(description: str, *, required: bool = False, absolute: bool = False) -> Any:
    """A query parameter holding a path or a code: no NUL, at most 4096 characters.

    ``absolute``: a path that must start with ``/`` (fitsflow records absolute paths).
    """
    return Query(
        min_length=1 if required else None,
        max_length=MAX_TEXT_LENGTH,
        pattern=_ABSOLUTE if absolute else _NO_NUL,
        description=description,
    )


def encode_cursor(last_id: int) -> str:
    """The cursor of the page that follows the job ``last_id``."""
    return f"c{last_id:x}"


def decode_cursor(cursor: str) -> int:
    """The id a cursor made by :func:`encode_cursor` continues before; 400 otherwise."""
    if re.fullmatch(CURSOR_PATTERN, cursor) is None:
        raise bad_parameter("cursor", "not a cursor returned by this API")
    return int(cursor[1:], 16)


def absolute_path(path: str, name: str = "path") -> str:
    """``path`` normalised as fitsflow records paths; 400 unless absolute."""
    if not os.path.isabs(path):
        raise bad_parameter(name, "must be an absolute path")
    return os.path.normpath(path)
