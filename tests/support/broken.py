"""A catalogue of broken inputs, each with what the reader must answer.

Every case builds its file (or FIFO, directory, symlink) in a directory it is
given and names the stable error code ``read_fits`` must raise — or, for
inputs that are recorded with a warning, the warning code. Bombs claim far
more than they hold and are built cheaply: the 8 GiB gzip bomb is a valid
header followed by copies of one gzip member of a compressed zero block.
Valid starting material comes from :mod:`pipeline.samples`, so the only
thing wrong with each file is what its name says.
"""

from __future__ import annotations

import bz2
import gzip
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.fits.inflate import INFLATE_ERRORS
from pipeline.samples import rng_for, sample_bytes
from pipeline.samples.cards import card, commentary, hdu_bytes, header_bytes
from pipeline.settings import ReaderSettings

__all__ = ["CASES", "BrokenCase", "Built", "data_offset"]

BLOCK = 2880
GIB = 1024**3


@dataclass(frozen=True)
class Built:
    """What a case made: the path to read and the roots to confine it to."""

    path: Path
    roots: list[Path] | None = None


@dataclass(frozen=True)
class BrokenCase:
    """One broken input and the reader's expected answer."""

    name: str
    build: Callable[[Path], Built]
    #: The FitsflowError code expected; None when the file must be recorded.
    error: str | None = None
    #: For a recorded file: a warning code that must be among its warnings.
    warning: str | None = None
    #: ReaderSettings fields to override for this case.
    limits: Mapping[str, Any] = field(default_factory=dict)
    #: For LimitExceeded: the setting named in ``details["limit"]``.
    limit: str | None = None
    #: The library exception(s) expected as ``__cause__`` of the translated error.
    cause: type[BaseException] | tuple[type[BaseException], ...] | None = None
    #: Claims far more than it holds: reading it must not allocate the claim.
    bomb: bool = False

    def settings(self) -> ReaderSettings:
        return ReaderSettings(**self.limits)


def data_offset(fits: bytes) -> int:
    """Where the data of the first HDU of ``fits`` begin (after its END block)."""
    for position in range(0, len(fits), 80):
        if fits[position : position + 80] == b"END".ljust(80):
            return -(-(position + 80) // BLOCK) * BLOCK
    raise ValueError("no END card")


def _image() -> bytes:
    return sample_bytes(0, "image", rng_for(seed=0, index=0))


def _long_header() -> bytes:
    return sample_bytes(2, "long_header", rng_for(seed=0, index=2))


def _primary(*extra: bytes, bitpix: int = 8, axes: tuple[int, ...] = ()) -> list[bytes]:
    cards = [card("SIMPLE", True), card("BITPIX", bitpix), card("NAXIS", len(axes))]
    cards += [card(f"NAXIS{n}", length) for n, length in enumerate(axes, 1)]
    return [*cards, card("EXTEND", True), *extra]


def _extension(number: int, side: int = 8) -> bytes:
    cards = [
        card("XTENSION", "IMAGE"),
        card("BITPIX", 16),
        card("NAXIS", 2),
        card("NAXIS1", side),
        card("NAXIS2", side),
        card("PCOUNT", 0),
        card("GCOUNT", 1),
        card("EXTNAME", "SCI"),
        card("EXTVER", number),
    ]
    return hdu_bytes(cards, bytes(2 * side * side))


def _mef(extensions: int, announced: int | None = None) -> bytes:
    primary = hdu_bytes(_primary(card("NEXTEND", announced or extensions)), b"")
    return primary + b"".join(_extension(n) for n in range(1, extensions + 1))


def _file(name: str, content: Callable[[], bytes]) -> Callable[[Path], Built]:
    def build(directory: Path) -> Built:
        path = directory / name
        path.write_bytes(content())
        return Built(path)

    return build


def _zeros_member(size: int = 1 << 20) -> bytes:
    return gzip.compress(bytes(size), compresslevel=9, mtime=0)


def _gzip_bomb() -> bytes:
    """A valid primary HDU, then 8 GiB of zeros as 8,192 one-MiB gzip members (~8 MB)."""
    head = gzip.compress(hdu_bytes(_primary(card("OBJECT", "bomb")), b""), mtime=0)
    return head + _zeros_member() * (8 * GIB // (1 << 20))


def _header_bomb() -> bytes:
    """500,000 cards and never an END."""
    body = commentary("COMMENT", "padding " * 8) * 500_000
    return b"".join(_primary()) + body


def _many_headers_bomb() -> bytes:
    """300 gzip members, each an extension of 1,000 cards: none is too long alone."""
    cards = [card("XTENSION", "IMAGE"), card("BITPIX", 8), card("NAXIS", 0)]
    cards += [card("PCOUNT", 0), card("GCOUNT", 1)]
    cards += [commentary("COMMENT", f"card {n}") for n in range(1_000)]
    member = gzip.compress(hdu_bytes(cards, b""), mtime=0)
    return gzip.compress(hdu_bytes(_primary(), b""), mtime=0) + member * 300


def _huge_naxis() -> bytes:
    """Claims 2 TB of data (500,000 x 500,000 x 8 bytes) and holds one block."""
    return hdu_bytes(_primary(bitpix=64, axes=(500_000, 500_000)), b"") + bytes(BLOCK)


def _with_cards(*images: bytes) -> bytes:
    return header_bytes(_primary(*images))


def _raw_card(text: bytes) -> bytes:
    return text[:80].ljust(80)


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes(b ^ 0xFF for b in data[at : at + 4]) + data[at + 4 :]


def _bad_crc() -> bytes:
    packed = gzip.compress(_image(), mtime=0)
    crc = int.from_bytes(packed[-8:-4], "little") ^ 0x1
    return packed[:-8] + crc.to_bytes(4, "little") + packed[-4:]


def _symlink_out(directory: Path) -> Built:
    root, outside = directory / "root", directory / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "real.fits").write_bytes(_image())
    (root / "escape.fits").symlink_to(outside / "real.fits")
    return Built(root / "escape.fits", roots=[root.resolve()])


def _fifo(directory: Path) -> Built:
    path = directory / "pipe.fits"
    os.mkfifo(path)
    return Built(path)


def _device(directory: Path) -> Built:
    path = directory / "null.fits"
    path.symlink_to("/dev/null")  # a character device behind a harmless name
    return Built(path)


def _missing(directory: Path) -> Built:
    return Built(directory / "gone.fits")  # noticed, then deleted before it was read


def _symlink_loop(directory: Path) -> Built:
    (directory / "a.fits").symlink_to(directory / "b.fits")
    (directory / "b.fits").symlink_to(directory / "a.fits")
    return Built(directory / "a.fits")


def _directory(directory: Path) -> Built:
    path = directory / "x.fits"
    path.mkdir()
    return Built(path)


def _truncated_in_data() -> bytes:
    image = _image()
    return image[: data_offset(image) + 100]


def _missing_padding() -> bytes:
    """A 10 x 10 16-bit image whose 200 data bytes are not padded to a block."""
    return header_bytes(_primary(bitpix=16, axes=(10, 10))) + bytes(200)


def _no_end_then_data() -> bytes:
    cards = b"".join(_primary(*(card(f"KEY{n}", n) for n in range(31))))
    return cards + bytes(range(256)) * 45


def _lfs_pointer() -> bytes:
    return (
        b"version https://git-lfs.github.com/spec/v1\n"
        b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
        b"size 1048576\n"
    )


_PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)
_HTML = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n"
# Standing in for a compress(1) stream: what identifies LZW is its magic.
_LZW = b"\x1f\x9d\x90" + bytes(range(256)) * 4

CASES: tuple[BrokenCase, ...] = (
    BrokenCase(
        "truncated_in_header", _file("cut_header.fits", lambda: _image()[:1000]), "truncated"
    ),
    BrokenCase(
        "truncated_in_long_header_on_a_block_boundary",
        _file("cut_long_header.fits", lambda: _long_header()[: 3 * BLOCK]),
        "truncated",
    ),
    BrokenCase("truncated_in_data", _file("cut_data.fits", _truncated_in_data), "truncated"),
    BrokenCase(
        "truncated_at_hdu_boundary",
        _file("cut_boundary.fits", lambda: _mef(2, announced=4)),
        "truncated",
    ),
    BrokenCase(
        "truncated_in_next_extension_keyword",
        _file("cut_xtension.fits", lambda: _mef(2)[: 3 * BLOCK + 4]),
        "truncated",
    ),
    BrokenCase("missing_final_padding", _file("unpadded.fits", _missing_padding), "truncated"),
    BrokenCase(
        "gzip_cut_short",
        _file("cut.fits.gz", lambda: gzip.compress(_image(), mtime=0)[:-400]),
        "truncated",
    ),
    BrokenCase(
        "gzip_without_trailer",
        _file("no_trailer.fits.gz", lambda: gzip.compress(_image(), mtime=0)[:-8]),
        "truncated",
    ),
    BrokenCase("zero_bytes", _file("empty.fits", lambda: b""), "empty_file"),
    BrokenCase("html_page", _file("page.fits", lambda: _HTML), "not_fits"),
    BrokenCase("png_image", _file("picture.fits", lambda: _PNG), "not_fits"),
    BrokenCase(
        "random_bytes", _file("noise.fits", lambda: random.Random(7).randbytes(5000)), "not_fits"
    ),
    BrokenCase("git_lfs_pointer", _file("pointer.fits", _lfs_pointer), "not_fits"),
    BrokenCase(
        "no_end_card_then_data", _file("no_end.fits", _no_end_then_data), "malformed_header"
    ),
    BrokenCase(
        "no_end_card_at_eof",
        _file("no_end_eof.fits", lambda: b"".join(_primary()).ljust(BLOCK)),
        "truncated",
    ),
    BrokenCase(
        "header_bomb",
        _file("header_bomb.fits", _header_bomb),
        "limit_exceeded",
        limit="max_header_cards",
        bomb=True,
    ),
    BrokenCase(
        "header_bomb_gzip",
        _file("header_bomb.fits.gz", lambda: gzip.compress(_header_bomb(), 1, mtime=0)),
        "limit_exceeded",
        limit="max_header_cards",
        bomb=True,
    ),
    BrokenCase(
        "many_headers_bomb",
        _file("many_headers.fits.gz", _many_headers_bomb),
        "limit_exceeded",
        limit="max_header_cards",
        bomb=True,
    ),
    BrokenCase(
        "gzip_bomb",
        _file("bomb.fits.gz", _gzip_bomb),
        "limit_exceeded",
        # Inflating up to the default 4 GiB is bounded too, but costs seconds of
        # zlib time; a lower limit shows the same bound in a fraction of that.
        limits={"max_inflated_bytes": 256 * 1024**2},
        limit="max_inflated_bytes",
        bomb=True,
    ),
    BrokenCase("huge_naxis", _file("huge.fits", _huge_naxis), "truncated", bomb=True),
    BrokenCase(
        "huge_naxis_gzip",
        _file("huge.fits.gz", lambda: gzip.compress(_huge_naxis(), mtime=0)),
        "limit_exceeded",
        limit="max_inflated_bytes",
        bomb=True,
    ),
    BrokenCase(
        "corrupt_gzip_flipped_bytes",
        _file("flipped.fits.gz", lambda: _flip(gzip.compress(_image(), mtime=0), 200)),
        "corrupt_compression",
        cause=INFLATE_ERRORS,
    ),
    BrokenCase(
        "corrupt_gzip_bad_crc",
        _file("bad_crc.fits.gz", _bad_crc),
        "corrupt_compression",
        cause=INFLATE_ERRORS,
    ),
    BrokenCase(
        "gzip_followed_by_junk",
        _file("junk_after.fits.gz", lambda: gzip.compress(_image(), mtime=0) + b"junk" * 100),
        "corrupt_compression",
    ),
    BrokenCase(
        "bad_bitpix",
        _file("bitpix.fits", lambda: hdu_bytes(_primary(bitpix=12), b"")),
        "malformed_header",
    ),
    BrokenCase(
        "unparsable_values",
        _file(
            "unparsable.fits",
            lambda: _with_cards(
                _raw_card(b"AIRMASS = INDEF / IRAF undefined"),
                _raw_card(b"SKYLEVEL= NAN"),
                _raw_card(b"FILTER  = 'V\0\0'"),
                _raw_card(b"OBJECT  = 'unterminated"),
            ),
        ),
        warning="unparsable_card",
    ),
    BrokenCase(
        "non_ascii_card",
        _file("latin1.fits", lambda: _with_cards(_raw_card(b"OBSERVER= 'Jos\xe9' / Jos\xe9"))),
        warning="non_ascii_card",
    ),
    BrokenCase(
        "trailing_newline",
        _file("newline.fits", lambda: _image() + b"\n"),
        error="truncated",
    ),
    BrokenCase(
        "trailing_blocks",
        _file("trailing.fits", lambda: _image() + bytes(BLOCK)),
        warning="trailing_bytes",
    ),
    BrokenCase("symlink_outside_root", _symlink_out, "outside_root"),
    BrokenCase("fifo", _fifo, "not_regular_file"),
    BrokenCase("character_device", _device, "not_regular_file"),
    BrokenCase("directory_named_fits", _directory, "not_regular_file"),
    BrokenCase("missing_file", _missing, "file_missing", cause=FileNotFoundError),
    # Python 3.11 reports a symlink loop as RuntimeError, later versions as OSError.
    BrokenCase("symlink_loop", _symlink_loop, "file_unreadable", cause=(RuntimeError, OSError)),
    BrokenCase(
        "bzip2_content",
        _file("packed.fits", lambda: bz2.compress(_image())),
        "unsupported_compression",
    ),
    BrokenCase("lzw_content", _file("packed.fits.Z", lambda: _LZW), "unsupported_compression"),
    BrokenCase(
        "more_hdus_than_max_hdus",
        _file("many.fits", lambda: _mef(5)),
        "limit_exceeded",
        limits={"max_hdus": 3},
        limit="max_hdus",
    ),
    BrokenCase(
        "hdu_bomb",
        _file("hdu_bomb.fits", lambda: _mef(1_500, announced=1_500)),
        "limit_exceeded",
        limit="max_hdus",
        bomb=True,
    ),
    BrokenCase(
        "read_too_long",
        _file("slow.fits", _long_header),
        "limit_exceeded",
        limits={"max_seconds_per_file": 1e-9},
        limit="max_seconds_per_file",
    ),
)
