"""Recognising what a file holds from its first bytes."""

from __future__ import annotations

from pipeline.errors import NotFits, UnsupportedCompression

__all__ = ["FITS_SIGNATURE", "GZIP_MAGIC", "sniff"]

FITS_SIGNATURE = b"SIMPLE  ="
GZIP_MAGIC = b"\x1f\x8b"

_COMPRESSED = (
    (b"BZh", "bzip2"),
    (b"\x1f\x9d", "LZW (.Z)"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"\x28\xb5\x2f\xfd", "zstandard"),
)
_NOT_FITS = (
    (b"version https://git-lfs", "a Git LFS pointer, not the file it points to"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"%PDF", "a PDF document"),
    (b"\x89HDF", "an HDF5 file"),
)


def sniff(head: bytes) -> str:
    """``"fits"`` or ``"gzip"`` for ``head`` (the first bytes); NotFits otherwise."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(FITS_SIGNATURE):
        return "fits"
    for magic, name in _COMPRESSED:
        if head.startswith(magic):
            raise UnsupportedCompression(
                f"content is {name}-compressed; fitsflow reads plain and gzip FITS",
                details={"compression": name},
            )
    for magic, what in _NOT_FITS:
        if head.startswith(magic):
            raise NotFits(f"content is {what}", details={"detected": what})
    lowered = head[:512].lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html", b"<?xml", b"<")):
        raise NotFits("content is HTML/XML, not FITS", details={"detected": "markup"})
    start = head[:30].decode("latin-1").encode("unicode_escape").decode("ascii")
    raise NotFits(
        f"content does not start with the FITS signature 'SIMPLE  =' (starts with {start!r})",
        details={"detected": "unknown"},
    )
