"""The filter a product was taken through, as one name.

Precedence, first match wins (keyword-major over HDUs, primary first):

1. ``FILTER``, as written (``'Clear'`` stays ``'Clear'``).
2. Filter-wheel groups, one HDU at a time: ``FILTER1``..``FILTER4`` (ACS,
   many imagers), ``FILTNAM1``/``FILTNAM2`` (WFPC2), ``ESO INS FILT1 NAME``..
   ``ESO INS FILT4 NAME`` (VLT). Only string values count: WFPC2 writes wheel
   *positions* as integers in ``FILTER1``. Elements that pass all light
   (``CLEAR*``, ``OPEN*``, ``EMPTY``) and placeholders (``N/A``, ``NONE``) are
   left out and the rest joined with ``+`` in wheel order, so ACS
   ``F606W``/``CLEAR2L`` is ``F606W`` and ``F555W``/``POL60V`` is
   ``F555W+POL60V``. If every wheel is clear the filter is ``CLEAR``.
3. ``FILTNAME``, ``FILTERID``, ``FILTID``, ``BAND``.
"""

from __future__ import annotations

import re

from pipeline.extract.keywords import Headers

__all__ = ["FILTER_GROUPS", "SINGLE_FILTER_KEYWORDS", "find_filter"]

FILTER_GROUPS: tuple[tuple[str, ...], ...] = (
    ("FILTER1", "FILTER2", "FILTER3", "FILTER4"),
    ("FILTNAM1", "FILTNAM2"),
    tuple(f"ESO INS FILT{n} NAME" for n in range(1, 5)),
)
SINGLE_FILTER_KEYWORDS = ("FILTNAME", "FILTERID", "FILTID", "BAND")

_PASSES_ALL = re.compile(r"(CLEAR|OPEN|EMPTY)\w*\Z", re.IGNORECASE)
_PLACEHOLDER = frozenset({"N/A", "NA", "NONE", "UNKNOWN", "-"})


def find_filter(headers: Headers) -> str | None:
    """The filter name by the rules of this module's docstring."""
    found = headers.find(("FILTER",), _filter_name, "bad_value")
    if found:
        return found.value
    for group in FILTER_GROUPS:
        for position in headers.positions():
            values = headers.of(position)
            names = [
                name
                for keyword in group
                if isinstance(raw := values.get(keyword), str) and (name := _filter_name(raw))
            ]
            if names:
                kept = [name for name in names if not _PASSES_ALL.match(name)]
                return "+".join(kept) if kept else "CLEAR"
    found = headers.find(SINGLE_FILTER_KEYWORDS, _filter_name, "bad_value")
    return found.value if found else None


def _filter_name(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    name = value.strip()
    return name if name and name.upper() not in _PLACEHOLDER else None
