"""FITS files with chosen headers and sky coverage, and a catalogue made of them.

Written with astropy (not fitsflow), so every header value, keyword and TAN
footprint below is known independently of the code under test. Each file
gets a distinct ``SERIAL`` so that every file is a distinct product.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from pipeline.db import Database
from pipeline.ingest.service import IngestService
from pipeline.settings import ReaderSettings

__all__ = [
    "KNOWN_PRODUCTS",
    "REWRITTEN",
    "ImageSpec",
    "KnownCatalogue",
    "image_wcs",
    "ingest_known_products",
    "write_product_file",
]

_serials = itertools.count(1)


@dataclass(frozen=True)
class ImageSpec:
    """One file: a TAN image centred at ``centre`` (or no WCS), and its cards.

    ``scale`` is degrees per pixel; ``rotation`` degrees. ``extension``
    cards go into a second HDU (a small binary table), for keywords that
    live in an extension only. ``pointing_only`` writes RA/DEC keywords and
    no celestial WCS.
    """

    centre: tuple[float, float] | None = None
    shape: tuple[int, int] = (40, 60)
    scale: float = 0.01
    rotation: float = 0.0
    cards: Mapping[str, Any] = field(default_factory=dict)
    extension: Mapping[str, Any] | None = None
    pointing_only: bool = False


def image_wcs(spec: ImageSpec) -> WCS:
    """The celestial TAN WCS of ``spec`` (which must have a centre)."""
    assert spec.centre is not None
    ny, nx = spec.shape
    angle = math.radians(spec.rotation)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = list(spec.centre)
    wcs.wcs.crpix = [(nx + 1) / 2, (ny + 1) / 2]
    wcs.wcs.cd = [
        [-spec.scale * math.cos(angle), spec.scale * math.sin(angle)],
        [spec.scale * math.sin(angle), spec.scale * math.cos(angle)],
    ]
    wcs.wcs.radesys = "ICRS"
    return wcs


def write_product_file(path: Path, spec: ImageSpec) -> Path:
    """Write ``spec`` as a FITS file at ``path`` (parents created)."""
    header = fits.Header()
    if spec.centre is not None and spec.pointing_only:
        header["RA"], header["DEC"] = spec.centre
        header["RADESYS"] = "ICRS"
    elif spec.centre is not None:
        header.update(image_wcs(spec).to_header())
    header["SERIAL"] = next(_serials)
    for keyword, value in spec.cards.items():
        header[_card_keyword(keyword)] = value
    data = np.zeros(spec.shape, dtype=np.int16) if not spec.pointing_only else None
    hdus: list[Any] = [fits.PrimaryHDU(data=data, header=header)]
    if spec.extension is not None:
        table = fits.BinTableHDU.from_columns([fits.Column(name="X", format="E", array=[1.0])])
        for keyword, value in spec.extension.items():
            table.header[_card_keyword(keyword)] = value
        hdus.append(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList(hdus).writeto(path)
    return path


def _card_keyword(keyword: str) -> str:
    # astropy writes HIERARCH for keywords with spaces or over 8 characters.
    return f"HIERARCH {keyword}" if " " in keyword or len(keyword) > 8 else keyword


# --- a catalogue whose every answer is known ------------------------------------------

#: Products by name: names, times, header values and sky coverage chosen so
#: that each filter of a search has matches and near misses. Footprints cross
#: RA 0 and come near (and over) both poles; one product has only a pointing,
#: one no position at all, and AIRMASS is sometimes a string or in an extension.
KNOWN_PRODUCTS: dict[str, ImageSpec] = {
    "m31": ImageSpec(
        centre=(10.68, 41.27),
        cards={
            "TELESCOP": "INT", "INSTRUME": "WFC", "OBJECT": "M31", "FILTER": "r",
            "DATE-OBS": "2020-01-01T00:00:00", "EXPTIME": 300, "AIRMASS": 1.2,
            "IMAGETYP": "science",
        },
    ),
    "m33": ImageSpec(
        centre=(23.46, 30.66),
        rotation=30.0,
        cards={
            "TELESCOP": "INT", "INSTRUME": "WFC", "OBJECT": "M33", "FILTER": "R",
            "DATE-OBS": "2020-06-01T12:00:00", "EXPTIME": 600.0, "AIRMASS": 1.6,
            "IMAGETYP": "bias",
        },
    ),
    "across_ra_zero": ImageSpec(
        centre=(359.9, -5.0),
        shape=(50, 50),
        scale=0.02,
        cards={
            "TELESCOP": "NOT", "INSTRUME": "ALFOSC", "OBJECT": "NGC 1234", "FILTER": "Halpha",
            "DATE-OBS": "2021-03-01T03:00:00", "EXPTIME": 30, "AIRMASS": "1.1",
            "IMAGETYP": "SCIENCE",
        },
    ),
    "over_north_pole": ImageSpec(
        centre=(45.0, 89.9),
        scale=0.01,
        rotation=-20.0,
        cards={
            "TELESCOP": "CFHT", "INSTRUME": "MegaPrime", "OBJECT": "ngc 12", "FILTER": "g",
            "DATE-OBS": "2019-05-05T05:05:05", "EXPTIME": 1200, "ESO DET DIT": 10.5,
            "GUIDING": True,
        },
    ),
    "near_south_pole": ImageSpec(
        centre=(300.0, -89.0),
        shape=(30, 30),
        scale=0.02,
        cards={
            "TELESCOP": "ESO-VLT-U1", "INSTRUME": "FORS2", "OBJECT": "M31 halo",
            "DATE-OBS": "2022-02-02T02:02:02", "ESO DET DIT": 5, "GUIDING": False,
        },
        extension={"AIRMASS": 1.4, "IMAGETYP": "science"},
    ),
    "wide": ImageSpec(
        centre=(180.0, 10.0),
        shape=(40, 40),
        scale=0.5,
        cards={"TELESCOP": "Schmidt", "OBJECT": "FIELD-1", "EXPTIME": 60},
    ),
    "pointing_only": ImageSpec(
        centre=(180.0, 0.0),
        pointing_only=True,
        cards={"TELESCOP": "LCOGT-1m0", "INSTRUME": "Sinistro", "EXPTIME": 0},
    ),
    "no_position": ImageSpec(cards={"OBJECT": "DARK", "IMAGETYP": "dark", "EXPTIME": 5.0}),
}  # fmt: skip
#: The product whose path received new bytes: its first content is superseded.
REWRITTEN = "rewritten"
REWRITTEN_FIRST = ImageSpec(centre=(50.0, 50.0), cards={"OBJECT": "OLD CONTENT"})
REWRITTEN_SECOND = ImageSpec(centre=(50.0, 50.0), cards={"OBJECT": "NEW CONTENT"})


@dataclass
class KnownCatalogue:
    """Product ids by name (``rewritten#1`` for the superseded content)."""

    ids: dict[str, int]
    root: Path

    def names(self, ids: Sequence[int]) -> set[str]:
        by_id = {product_id: name for name, product_id in self.ids.items()}
        return {by_id[product_id] for product_id in ids}


async def ingest_known_products(database: Database, root: Path) -> KnownCatalogue:
    """Write :data:`KNOWN_PRODUCTS` (and the rewritten path) and ingest them for real."""
    service = IngestService(database, ReaderSettings())
    ids: dict[str, int] = {}
    for name, spec in KNOWN_PRODUCTS.items():
        result = await service.ingest_path(write_product_file(root / f"{name}.fits", spec))
        assert result.status == "succeeded" and result.product_id is not None, result
        ids[name] = result.product_id
    path = root / f"{REWRITTEN}.fits"
    for label, spec in (("#1", REWRITTEN_FIRST), ("", REWRITTEN_SECOND)):
        path.unlink(missing_ok=True)
        result = await service.ingest_path(write_product_file(path, spec))
        assert result.status == "succeeded" and result.product_id is not None, result
        ids[REWRITTEN + label] = result.product_id
    return KnownCatalogue(ids, root)
