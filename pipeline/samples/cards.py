"""Formatting FITS cards, headers and HDUs as bytes, checksums included.

Cards are written in the standard's fixed format, which astropy keeps
byte-for-byte when it re-serialises a header — that is what lets astropy's
string comparison of CHECKSUM agree with the values written here.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.fits.checksum import encode_checksum, sum32

__all__ = [
    "BLOCK",
    "Value",
    "card",
    "commentary",
    "hdu_bytes",
    "header_bytes",
    "long_string",
]

BLOCK = 2880
Value = bool | int | float | str | None


def card(keyword: str, value: Value, comment: str = "") -> bytes:
    """One fixed-format 80-byte card (a HIERARCH card if ``keyword`` has spaces)."""
    if isinstance(value, str):
        text = "'" + value.replace("'", "''").ljust(8) + "'"
        text = text.ljust(20)
    elif isinstance(value, bool):
        text = f"{'T' if value else 'F':>20}"
    elif isinstance(value, int):
        text = f"{value:>20}"
    elif isinstance(value, float):
        text = f"{_float_text(value):>20}"
    else:
        text = " " * 20
    head = f"HIERARCH {keyword} = " if " " in keyword else f"{keyword:<8}= "
    image = head + text
    if len(image) > 80:
        raise ValueError(f"card {keyword} = {value!r} does not fit in 80 characters")
    if comment:
        image = f"{image} / {comment}"
    return image[:80].ljust(80).encode("ascii")


def commentary(keyword: str, text: str) -> bytes:
    """A COMMENT, HISTORY or blank-keyword card."""
    return f"{keyword:<8}{text}"[:80].ljust(80).encode("ascii")


def long_string(keyword: str, value: str, comment: str = "") -> list[bytes]:
    """A string too long for one card, as a CONTINUE sequence (no quotes in it)."""
    pieces = [value[i : i + 60] for i in range(0, len(value), 60)] or [""]
    images = [f"{keyword:<8}= '{pieces[0]}&'", *(f"CONTINUE  '{p}&'" for p in pieces[1:])]
    images[-1] = images[-1][:-2] + "'"
    if comment:
        images.append(f"CONTINUE  '' / {comment}")
    return [image[:80].ljust(80).encode("ascii") for image in images]


def _float_text(value: float) -> str:
    text = repr(value).upper()
    return text if "." in text or "E" in text else text + ".0"


def header_bytes(cards: Iterable[bytes]) -> bytes:
    """``cards`` plus END, padded with spaces to whole blocks."""
    joined = b"".join(cards) + b"END".ljust(80)
    return joined.ljust(-(-len(joined) // BLOCK) * BLOCK, b" ")


def hdu_bytes(cards: list[bytes], data: bytes, *, checksum: bool = False) -> bytes:
    """One HDU: header, data padded with zeros, with CHECKSUM/DATASUM if asked."""
    padded = data.ljust(-(-len(data) // BLOCK) * BLOCK, b"\0")
    if not checksum:
        return header_bytes(cards) + padded
    datasum = sum32(padded) if padded else 0
    cards = [
        *cards,
        card("CHECKSUM", "0" * 16, "HDU checksum"),
        card("DATASUM", str(datasum), "data unit checksum"),
    ]
    header = header_bytes(cards)
    at = header.index(b"CHECKSUM= '") + 11
    value = encode_checksum(sum32(header) + datasum).encode("ascii")
    return header[:at] + value + header[at + 16 :] + padded
