"""Building ``Hdu`` objects cheaply from keyword lists, for extraction tests.

Cards are formatted by ``astropy.io.fits.Card`` and parsed by fitsflow's own
reader functions, so a test header goes through exactly the code a file
would. Mandatory keywords are added for the kind of HDU asked for.

The WCS helpers at the end build the same header for astropy and compare
footprints on the sky, so RA wrapping and the poles need no special care.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import astropy
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from pipeline.fits.cards import parse_cards
from pipeline.fits.model import FitsFile, Hdu
from pipeline.fits.reader import read_fits
from pipeline.fits.structure import describe_hdu, first_values
from pipeline.settings import ReaderSettings

__all__ = [
    "ASTROPY_ROOT",
    "Keywords",
    "astropy_footprint",
    "astropy_test_file",
    "celestial",
    "compressed_hdu",
    "hdu_from_cards",
    "hdu_from_header",
    "image_hdu",
    "image_header",
    "max_separation",
    "primary_hdu",
    "read_astropy_test_file",
    "table_hdu",
]

#: Keyword → value, or (keyword, value) pairs when order or repeats matter.
Keywords = Mapping[str, object] | Sequence[tuple[str, object]]

ASTROPY_ROOT = Path(astropy.__file__).parent


def hdu_from_cards(cards: Keywords, index: int = 0) -> Hdu:
    """An HDU whose header holds exactly ``cards`` (mandatory ones included)."""
    return _from_text(
        "".join(_card_image(keyword, value) for keyword, value in _items(cards)), index
    )


def hdu_from_header(header: fits.Header, index: int = 0) -> Hdu:
    """The HDU of an astropy header, through fitsflow's card parser."""
    return _from_text(header.tostring(endcard=False, padding=False), index)


def primary_hdu(cards: Keywords = ()) -> Hdu:
    """A data-less primary HDU with ``cards``."""
    return hdu_from_cards(
        [("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True), *_items(cards)]
    )


def image_hdu(
    cards: Keywords = (), naxis: Sequence[int] = (100, 80), bitpix: int = -32, index: int = 0
) -> Hdu:
    """A primary (``index`` 0) or IMAGE extension with axes ``naxis``."""
    first = ("SIMPLE", True) if index == 0 else ("XTENSION", "IMAGE")
    mandatory: list[tuple[str, object]] = [first, ("BITPIX", bitpix), ("NAXIS", len(naxis))]
    mandatory += [(f"NAXIS{n}", length) for n, length in enumerate(naxis, start=1)]
    if index:
        mandatory += [("PCOUNT", 0), ("GCOUNT", 1)]
    return hdu_from_cards([*mandatory, *_items(cards)], index)


def compressed_hdu(
    cards: Keywords = (), naxis: Sequence[int] = (300, 300), bitpix: int = 16, index: int = 1
) -> Hdu:
    """A tile-compressed image: a BINTABLE with ``Z*`` keywords and ``cards``."""
    mandatory: list[tuple[str, object]] = [
        ("XTENSION", "BINTABLE"),
        ("BITPIX", 8),
        ("NAXIS", 2),
        ("NAXIS1", 8),
        ("NAXIS2", naxis[-1]),
        ("PCOUNT", 0),
        ("GCOUNT", 1),
        ("TFIELDS", 1),
        ("TTYPE1", "COMPRESSED_DATA"),
        ("TFORM1", "1PB(0)"),
        ("ZIMAGE", True),
        ("ZCMPTYPE", "RICE_1"),
        ("ZBITPIX", bitpix),
        ("ZNAXIS", len(naxis)),
    ]
    mandatory += [(f"ZNAXIS{n}", length) for n, length in enumerate(naxis, start=1)]
    return hdu_from_cards([*mandatory, *_items(cards)], index)


def table_hdu(cards: Keywords = (), index: int = 1) -> Hdu:
    """An empty BINTABLE extension with ``cards``."""
    mandatory: list[tuple[str, object]] = [
        ("XTENSION", "BINTABLE"),
        ("BITPIX", 8),
        ("NAXIS", 2),
        ("NAXIS1", 0),
        ("NAXIS2", 0),
        ("PCOUNT", 0),
        ("GCOUNT", 1),
        ("TFIELDS", 0),
    ]
    return hdu_from_cards([*mandatory, *_items(cards)], index)


def astropy_test_file(name: str) -> Path:
    """The path of a FITS file astropy ships with its tests, found by name."""
    matches = sorted(ASTROPY_ROOT.glob(f"**/tests/data/**/{name}"))
    if not matches:
        raise FileNotFoundError(f"astropy ships no test file {name!r}")
    return matches[0]


def read_astropy_test_file(name: str) -> FitsFile:
    """An astropy test file read by fitsflow's reader."""
    return read_fits(astropy_test_file(name), ReaderSettings())


def image_header(cards: Mapping[str, object], naxis: Sequence[int] = (100, 80)) -> fits.Header:
    """An astropy primary image header with axes ``naxis`` and ``cards``."""
    header = fits.Header()
    header["SIMPLE"] = True
    header["BITPIX"] = -32
    header["NAXIS"] = len(naxis)
    for number, length in enumerate(naxis, start=1):
        header[f"NAXIS{number}"] = length
    for keyword, value in cards.items():
        header[keyword] = value
    return header


def celestial(projection: str, **cards: object) -> dict[str, object]:
    """A 2-D celestial WCS in ``projection`` near (150, 2), with ``cards`` on top."""
    base: dict[str, object] = {
        "CTYPE1": f"RA---{projection}",
        "CTYPE2": f"DEC--{projection}",
        "CRVAL1": 150.0,
        "CRVAL2": 2.0,
        "CRPIX1": 50.5,
        "CRPIX2": 40.5,
        "CDELT1": -0.01,
        "CDELT2": 0.01,
    }
    base.update(cards)
    return base


def astropy_footprint(header: fits.Header) -> np.ndarray:
    """``calc_footprint(center=False)`` of astropy's WCS, celestial axes of a cube.

    Columns are in WCS axis order, as astropy gives them.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wcs = WCS(header)
        if wcs.naxis > 2:
            sizes = [header[f"NAXIS{k + 1}"] for k in (wcs.wcs.lng, wcs.wcs.lat)]
            ordered = sizes if wcs.wcs.lng < wcs.wcs.lat else sizes[::-1]
            wcs = wcs.celestial
            footprint = wcs.calc_footprint(axes=ordered, center=False)
        else:
            footprint = wcs.calc_footprint(center=False)
    return np.asarray(footprint, dtype=float)


def max_separation(ours: object, reference: np.ndarray) -> float:
    """The largest angular distance (degrees) between matching (lng, lat) points."""
    a = _unit_vectors(np.asarray(ours, dtype=float))
    b = _unit_vectors(np.asarray(reference, dtype=float))
    cross = np.linalg.norm(np.cross(a, b), axis=1)
    dot = np.sum(a * b, axis=1)
    return float(np.degrees(np.arctan2(cross, dot)).max())


def _unit_vectors(points: np.ndarray) -> np.ndarray:
    lng, lat = np.radians(points[:, 0]), np.radians(points[:, 1])
    return np.stack([np.cos(lat) * np.cos(lng), np.cos(lat) * np.sin(lng), np.sin(lat)], axis=1)


def _items(cards: Keywords) -> Iterable[tuple[str, object]]:
    return list(cards.items()) if isinstance(cards, Mapping) else list(cards)


def _card_image(keyword: str, value: object) -> str:
    if len(keyword) > 8 or " " in keyword:
        keyword = f"HIERARCH {keyword}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "card is too long": CONTINUE cards are fine here
        image: str = fits.Card(keyword, value).image
    return image


def _from_text(text: str, index: int) -> Hdu:
    parsed, _ = parse_cards(text.encode("ascii"))
    layout = describe_hdu(first_values(parsed), index)
    return Hdu(index, layout, tuple(parsed), 0, 0, "absent")
