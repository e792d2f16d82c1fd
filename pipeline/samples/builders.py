"""The bytes of each kind of sample file.

Each builder takes a seeded :class:`random.Random` (the only source of
variation, so a seed always gives the same bytes) and the range of image
sides, and returns a complete FITS file.
"""

from __future__ import annotations

import functools
import io
import math
import random

import numpy as np

from pipeline.samples.cards import card, commentary, hdu_bytes, long_string
from pipeline.samples.observation import observation, processing_notes, tan_wcs

__all__ = [
    "image_file",
    "long_header_file",
    "mef_file",
    "radio_cube_file",
    "tile_compressed_file",
]

Sides = tuple[int, int]

_TABLE = np.dtype(
    [
        ("ID", ">i4"),
        ("RA", ">f8"),
        ("DEC", ">f8"),
        ("FLUX", ">f4"),
        ("FLUX_ERR", ">f4"),
        ("SATURATED", "S1"),
        ("NAME", "S12"),
    ]
)
_TABLE_COLUMNS = (
    ("ID", "J", ""),
    ("RA", "D", "deg"),
    ("DEC", "D", "deg"),
    ("FLUX", "E", "count"),
    ("FLUX_ERR", "E", "count"),
    ("SATURATED", "L", ""),
    ("NAME", "12A", ""),
)


def _numbers(rng: random.Random) -> np.random.Generator:
    return np.random.default_rng(rng.getrandbits(64))


def _shape(rng: random.Random, sides: Sides) -> tuple[int, int]:
    """(NAXIS2, NAXIS1): numpy order."""
    return rng.randint(*sides), rng.randint(*sides)


def _pixels(rng: random.Random, shape: tuple[int, ...], bitpix: int) -> bytes:
    """Sky plus Poisson-like noise; BITPIX 16 is stored with BZERO = 32768."""
    sky = rng.uniform(100, 2000)
    values = _numbers(rng).normal(sky, math.sqrt(sky), shape)
    if bitpix == -32:
        return values.astype(">f4").tobytes()
    return (np.clip(values, 0, 65535) - 32768).astype(">i2").tobytes()


def _image_axes(bitpix: int, shape: tuple[int, ...]) -> list[bytes]:
    axes = [card("BITPIX", bitpix, "array data type"), card("NAXIS", len(shape), "axes")]
    axes += [card(f"NAXIS{n}", length) for n, length in enumerate(reversed(shape), 1)]
    return axes


def _scaling(bitpix: int) -> list[bytes]:
    if bitpix != 16:
        return [card("BUNIT", "ADU", "pixel unit")]
    return [
        card("BZERO", 32768.0, "unsigned 16-bit data"),
        card("BSCALE", 1.0, "no scaling"),
        card("BUNIT", "ADU", "pixel unit"),
    ]


def image_file(rng: random.Random, index: int, sides: Sides, *, checksum: bool = False) -> bytes:
    """One 2-D image with ~100 cards and a celestial TAN WCS."""
    return _image_hdu(rng, index, sides, checksum=checksum)


def _image_hdu(
    rng: random.Random, index: int, sides: Sides, *, checksum: bool, extra: int = 0
) -> bytes:
    shape = _shape(rng, sides)
    bitpix = rng.choice((16, -32))
    metadata, pointing = observation(rng, index)
    cards = [card("SIMPLE", True, "conforms to FITS standard"), *_image_axes(bitpix, shape)]
    cards += [card("EXTEND", True, "extensions may be present"), *_scaling(bitpix), *metadata]
    cards += tan_wcs(rng, shape, pointing) + processing_notes(rng, rng.randint(10, 14))
    if extra:
        cards += _bulk_cards(rng, extra)
    return hdu_bytes(cards, _pixels(rng, shape, bitpix), checksum=checksum)


def long_header_file(rng: random.Random, index: int, sides: Sides) -> bytes:
    """An image whose header holds 1,000+ cards of every commentary and long kind."""
    return _image_hdu(rng, index, sides, checksum=False, extra=rng.randint(950, 1300))


def _bulk_cards(rng: random.Random, count: int) -> list[bytes]:
    """``count`` or slightly more cards: HIERARCH, numbered, CONTINUE, COMMENT, HISTORY."""
    cards: list[bytes] = []
    sections = ("DET OUT{n} GAIN", "DET OUT{n} RON", "INS TEMP{n} VAL", "TEL AMBI SENS{n} WIND")
    for n in range(count // 5):
        name = "ESO " + sections[n % 4].format(n=n // 4 + 1)
        value = rng.choice((round(rng.uniform(-50, 50), 4), rng.randint(0, 9999), f"v{n}"))
        cards.append(card(name, value, "ESO hierarchical keyword"))
    for n in range(count // 4):
        prefix = ("GAIN", "RDNS", "BIAS", "OVSC")[n % 4]
        cards.append(card(f"{prefix}{n // 4 + 1:04d}", round(rng.gauss(1.5, 0.2), 5), "amplifier"))
    for n in range(count // 60):
        path = "/".join(f"night{rng.randint(1, 999):03d}" for _ in range(rng.randint(15, 40)))
        cards += long_string(f"PATH{n:04d}", path, "raw frame location" if n % 2 else "")
    cards += [
        commentary("COMMENT", f"calibration note {n}: {rng.random():.6f}")
        for n in range(count // 6)
    ]
    while len(cards) < count:
        cards.append(
            commentary("HISTORY", f"reprocessed by stage {len(cards)} seed {rng.random():.8f}")
        )
    return cards


def mef_file(rng: random.Random, index: int, sides: Sides, *, checksum: bool = False) -> bytes:
    """A primary header and 3-5 image and binary-table extensions, NEXTEND set."""
    count = rng.randint(3, 5)
    tables = rng.randint(1, count - 2)
    metadata, pointing = observation(rng, index)
    primary = [
        card("SIMPLE", True, "conforms to FITS standard"),
        card("BITPIX", 8, "array data type"),
        card("NAXIS", 0, "no data in the primary HDU"),
        card("EXTEND", True, "extensions are present"),
        card("NEXTEND", count, "number of extensions"),
        *metadata,
        *processing_notes(rng, rng.randint(3, 8)),
    ]
    parts = [hdu_bytes(primary, b"", checksum=checksum)]
    for number in range(1, count - tables + 1):
        parts.append(_image_extension(rng, number, sides, pointing, checksum=checksum))
    for number in range(1, tables + 1):
        parts.append(_table_extension(rng, number, pointing, checksum=checksum))
    return b"".join(parts)


def _image_extension(
    rng: random.Random,
    number: int,
    sides: Sides,
    pointing: tuple[float, float],
    *,
    checksum: bool,
) -> bytes:
    shape = _shape(rng, sides)
    bitpix = rng.choice((16, -32))
    cards = [card("XTENSION", "IMAGE", "image extension"), *_image_axes(bitpix, shape)]
    cards += [card("PCOUNT", 0), card("GCOUNT", 1), *_scaling(bitpix)]
    cards += [card("EXTNAME", "SCI", "extension name"), card("EXTVER", number, "chip")]
    cards += [card("CCDNAME", f"CCD{number:02d}"), card("GAIN", round(rng.uniform(1, 3), 3))]
    cards += tan_wcs(rng, shape, pointing)
    return hdu_bytes(cards, _pixels(rng, shape, bitpix), checksum=checksum)


def _table_extension(
    rng: random.Random, number: int, pointing: tuple[float, float], *, checksum: bool
) -> bytes:
    """A source catalogue; the rows are a packed big-endian numpy record array."""
    rows = np.zeros(rng.randint(4, 64), dtype=_TABLE)
    numbers = _numbers(rng)
    rows["ID"] = np.arange(1, len(rows) + 1)
    rows["RA"] = pointing[0] + numbers.normal(0, 0.01, len(rows))
    rows["DEC"] = pointing[1] + numbers.normal(0, 0.01, len(rows))
    rows["FLUX"] = numbers.lognormal(8, 1.5, len(rows))
    rows["FLUX_ERR"] = np.sqrt(rows["FLUX"])
    rows["SATURATED"] = np.where(rows["FLUX"] > 60000, b"T", b"F")
    rows["NAME"] = [f"src{number}-{n:05d}".encode() for n in range(len(rows))]
    cards = [
        card("XTENSION", "BINTABLE", "binary table extension"),
        card("BITPIX", 8, "8-bit bytes"),
        card("NAXIS", 2, "2-dimensional table"),
        card("NAXIS1", _TABLE.itemsize, "bytes per row"),
        card("NAXIS2", len(rows), "rows"),
        card("PCOUNT", 0, "no heap"),
        card("GCOUNT", 1),
        card("TFIELDS", len(_TABLE_COLUMNS), "columns"),
    ]
    for column, (name, form, unit) in enumerate(_TABLE_COLUMNS, 1):
        cards += [card(f"TTYPE{column}", name), card(f"TFORM{column}", form)]
        if unit:
            cards.append(card(f"TUNIT{column}", unit))
    cards += [card("EXTNAME", "CATALOG", "extension name"), card("EXTVER", number)]
    return hdu_bytes(cards, rows.tobytes(), checksum=checksum)


def radio_cube_file(rng: random.Random, index: int, sides: Sides) -> bytes:
    """An RA/DEC/FREQ/STOKES cube in Jy/beam with its restoring beam."""
    side = rng.randint(*sides)
    channels = rng.randint(4, 16)
    shape = (1, channels, side, side)
    metadata, (ra, dec) = observation(rng, index, radio=True)
    beam = rng.uniform(1, 30) / 3600
    frequency = rng.choice((1.4e9, 3.0e9, 1.0e11, 2.3e11))
    cards = [card("SIMPLE", True, "conforms to FITS standard"), *_image_axes(-32, shape)]
    cards += [
        card("EXTEND", True),
        card("BUNIT", "Jy/beam", "brightness unit"),
        card("BTYPE", "Intensity"),
        card("BMAJ", beam, "[deg] restoring beam major axis"),
        card("BMIN", beam * rng.uniform(0.5, 1), "[deg] restoring beam minor axis"),
        card("BPA", round(rng.uniform(-90, 90), 3), "[deg] restoring beam angle"),
        *metadata,
    ]
    pixel = beam / 4
    axes = (
        ("RA---SIN", ra, -pixel, (side + 1) / 2, "deg"),
        ("DEC--SIN", dec, pixel, (side + 1) / 2, "deg"),
        ("FREQ", frequency, frequency / 1000 * rng.choice((1, 2, 5)), 1.0, "Hz"),
        ("STOKES", 1.0, 1.0, 1.0, ""),
    )
    for n, (ctype, crval, cdelt, crpix, cunit) in enumerate(axes, 1):
        cards += [card(f"CTYPE{n}", ctype), card(f"CRVAL{n}", crval), card(f"CDELT{n}", cdelt)]
        cards += [card(f"CRPIX{n}", crpix), card(f"CUNIT{n}", cunit)]
    cards += [card("RESTFRQ", frequency, "[Hz] rest frequency"), card("SPECSYS", "LSRK")]
    noise = _numbers(rng).normal(0, 1e-4, shape).astype(">f4")
    return hdu_bytes(cards + processing_notes(rng, 4), noise.tobytes())


def tile_compressed_file(rng: random.Random, index: int, sides: Sides) -> bytes:
    """A RICE_1 tile-compressed image: a cached astropy template, re-labelled.

    Only fixed-length card images are overwritten, so the compressed data
    and every offset stay valid while each file gets its own header.
    """
    low, high = sides
    side = rng.choice((low, (low + high) // 2, high))
    template, offsets = _tile_template(side)
    metadata, pointing = observation(rng, index)
    updated = bytearray(template)
    for image in metadata + tan_wcs(rng, (side, side), pointing):
        at = offsets[image[:8].decode("ascii").rstrip()]
        updated[at : at + 80] = image
    return bytes(updated)


@functools.lru_cache(maxsize=8)
def _tile_template(side: int) -> tuple[bytes, dict[str, int]]:
    """An astropy-written file and where each keyword's card lies in it."""
    from astropy.io import fits  # only here: one compression per image size

    rng = random.Random(f"tile-template:{side}")
    metadata, pointing = observation(rng, 0)
    wcs = tan_wcs(rng, (side, side), pointing)
    header = fits.Header.fromstring(b"".join(metadata + wcs).decode("ascii"))
    ramp = np.add.outer(np.arange(side), np.arange(side)) % 512
    data = (ramp + _numbers(rng).poisson(100, (side, side))).astype(np.int16)
    compressed = fits.CompImageHDU(data, header=header, compression_type="RICE_1")
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), compressed]).writeto(buffer)
    raw = buffer.getvalue()
    offsets: dict[str, int] = {}
    for image in metadata + wcs:
        keyword = image[:8]
        at = next(i for i in range(2880, len(raw), 80) if raw[i : i + 8] == keyword)
        offsets[keyword.decode("ascii").rstrip()] = at
    return raw, offsets
