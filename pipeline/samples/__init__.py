"""Seeded, realistic, valid FITS files written directly as bytes.

Used by the CLI's demo, by tests (thousands of files) and by benchmarks, so
it is fast: cards are formatted here, data are small numpy arrays, and astropy
is used only to tile-compress one template image per size, whose header cards
are then overwritten in place for each file. The same ``(seed, index)`` always
gives the same bytes, and every index gives different bytes (each header
carries its own ``OBSID``), so every file is a distinct product. Every file
opens in astropy without a warning, and checksummed files pass
``fits.open(..., checksum=True)``.

Typical use::

    paths = write_corpus(directory, 1000, seed=7)                  # every kind, in turn
    data = sample_bytes(3, SampleKind.MEF, rng_for(seed=7, index=3))  # no file written
"""

from __future__ import annotations

import gzip
import os
import random
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path

from pipeline.samples.builders import (
    Sides,
    image_file,
    long_header_file,
    mef_file,
    radio_cube_file,
    tile_compressed_file,
)

__all__ = [
    "ALL_KINDS",
    "DEFAULT_SIDES",
    "SampleKind",
    "rng_for",
    "sample_bytes",
    "sample_name",
    "write_corpus",
    "write_sample",
]

#: Smallest and largest image side in pixels, unless a caller asks otherwise.
DEFAULT_SIDES: Sides = (16, 64)


class SampleKind(StrEnum):
    """The shapes of file the generator writes."""

    #: One 2-D image, ~100 cards, celestial TAN WCS.
    IMAGE = "image"
    #: A primary header and 3-5 image and binary-table extensions, NEXTEND set.
    MEF = "mef"
    #: An image with 1,000+ cards: COMMENT/HISTORY, HIERARCH, CONTINUE strings.
    LONG_HEADER = "long_header"
    #: An image or a multi-extension file, gzip-compressed (``.fits.gz``).
    GZIP = "gzip"
    #: A RICE_1 tile-compressed image (Z* keywords give its shape).
    TILE_COMPRESSED = "tile_compressed"
    #: An RA/DEC/FREQ/STOKES cube with its restoring beam (BMAJ/BMIN/BPA).
    RADIO_CUBE = "radio_cube"
    #: An image or multi-extension file with correct CHECKSUM/DATASUM in every HDU.
    CHECKSUM = "checksum"


ALL_KINDS: tuple[SampleKind, ...] = tuple(SampleKind)


def _gzipped(rng: random.Random, index: int, sides: Sides) -> bytes:
    build = image_file if rng.random() < 0.6 else mef_file
    # mtime=0: the same seed must give the same compressed bytes.
    return gzip.compress(build(rng, index, sides), compresslevel=6, mtime=0)


def _checksummed(rng: random.Random, index: int, sides: Sides) -> bytes:
    build = image_file if rng.random() < 0.5 else mef_file
    return build(rng, index, sides, checksum=True)


_BUILDERS: dict[SampleKind, Callable[[random.Random, int, Sides], bytes]] = {
    SampleKind.IMAGE: image_file,
    SampleKind.MEF: mef_file,
    SampleKind.LONG_HEADER: long_header_file,
    SampleKind.GZIP: _gzipped,
    SampleKind.TILE_COMPRESSED: tile_compressed_file,
    SampleKind.RADIO_CUBE: radio_cube_file,
    SampleKind.CHECKSUM: _checksummed,
}


def rng_for(seed: int, index: int) -> random.Random:
    """The generator for file ``index`` of corpus ``seed``, independent of the others."""
    return random.Random(f"fitsflow-sample:{seed}:{index}")


def sample_name(index: int, kind: SampleKind | str) -> str:
    """The file name ``write_sample`` uses, e.g. ``mef-000042.fits``."""
    kind = SampleKind(kind)
    suffix = ".fits.gz" if kind is SampleKind.GZIP else ".fits"
    return f"{kind.value}-{index:06d}{suffix}"


def sample_bytes(
    index: int,
    kind: SampleKind | str,
    rng: random.Random,
    *,
    sides: Sides = DEFAULT_SIDES,
) -> bytes:
    """The complete bytes of one sample file of ``kind``; nothing is written.

    ``sides`` bounds each image side in pixels; ``index`` makes the header
    unique (it is part of ``OBSID``).
    """
    low, high = sides
    if not 1 <= low <= high:
        raise ValueError(f"sides must satisfy 1 <= low <= high, got {sides}")
    return _BUILDERS[SampleKind(kind)](rng, index, sides)


def write_sample(
    directory: str | os.PathLike[str],
    index: int,
    kind: SampleKind | str,
    rng: random.Random,
    *,
    sides: Sides = DEFAULT_SIDES,
) -> Path:
    """Write one sample file into ``directory`` (which must exist); returns its path."""
    path = Path(directory) / sample_name(index, kind)
    path.write_bytes(sample_bytes(index, kind, rng, sides=sides))
    return path


def write_corpus(
    directory: str | os.PathLike[str],
    count: int,
    seed: int = 0,
    kinds: Sequence[SampleKind | str] = ALL_KINDS,
    *,
    sides: Sides = DEFAULT_SIDES,
) -> list[Path]:
    """Write ``count`` files cycling through ``kinds``; file ``i`` uses ``rng_for(seed, i)``.

    The directory is created if needed. The same arguments always give the
    same files, and a longer corpus begins with the files of a shorter one.
    """
    if not kinds:
        raise ValueError("kinds must name at least one SampleKind")
    chosen = [SampleKind(kind) for kind in kinds]
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    return [
        write_sample(target, index, chosen[index % len(chosen)], rng_for(seed, index), sides=sides)
        for index in range(count)
    ]
