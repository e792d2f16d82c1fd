"""The generated files the reader tests rely on are valid, varied and reproducible.

astropy is the judge of validity: every kind opens without a single warning,
passes ``verify("exception")`` and, where checksums are written,
``checksum=True``; its WCS builds without a warning too.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import warnings
from pathlib import Path

import pytest
from astropy.io import fits
from astropy.io.fits.hdu.base import _BaseHDU
from astropy.wcs import WCS

from pipeline.fits.checksum import encode_checksum
from pipeline.samples import (
    ALL_KINDS,
    SampleKind,
    rng_for,
    sample_bytes,
    sample_name,
    write_corpus,
)

PER_KIND = 6


def _open_strictly(data: bytes) -> fits.HDUList:
    return fits.open(io.BytesIO(data), checksum=True)


@pytest.mark.parametrize("kind", ALL_KINDS, ids=str)
def test_every_kind_is_valid_for_astropy(kind: SampleKind) -> None:
    for index in range(PER_KIND):
        data = sample_bytes(index, kind, rng_for(seed=1, index=index))
        if kind is SampleKind.GZIP:
            data = gzip.decompress(data)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with _open_strictly(data) as hdus:
                hdus.verify("exception")
                for hdu in hdus:
                    assert [card.value for card in hdu.header.cards]
                    _ = hdu.data  # decompresses tiles, decodes tables
                    if "CTYPE1" in hdu.header:
                        WCS(hdu.header)


def _one(kind: SampleKind, index: int = 0, seed: int = 3) -> fits.HDUList:
    data = sample_bytes(index, kind, rng_for(seed, index))
    return fits.open(io.BytesIO(gzip.decompress(data) if kind is SampleKind.GZIP else data))


def test_each_kind_has_its_shape() -> None:
    with _one(SampleKind.IMAGE) as hdus:
        assert len(hdus) == 1 and 90 <= len(hdus[0].header) <= 110
        assert hdus[0].header["CTYPE1"] == "RA---TAN" and hdus[0].data.ndim == 2
    with _one(SampleKind.MEF) as hdus:
        assert hdus[0].header["NEXTEND"] == len(hdus) - 1 and 3 <= len(hdus) - 1 <= 5
        assert {type(hdu).__name__ for hdu in hdus[1:]} == {"ImageHDU", "BinTableHDU"}
    with _one(SampleKind.LONG_HEADER) as hdus:
        header = hdus[0].header
        assert len(header) >= 1000 and any(len(str(v)) > 68 for v in header.values())
        assert "ESO DET OUT1 GAIN" in header and header["HISTORY"] and header["COMMENT"]
    with _one(SampleKind.TILE_COMPRESSED) as hdus:
        assert isinstance(hdus[1], fits.CompImageHDU)
        assert hdus[1].compression_type == "RICE_1"
    with _one(SampleKind.RADIO_CUBE) as hdus:
        header = hdus[0].header
        assert header["CTYPE3"] == "FREQ" and header["BMAJ"] >= header["BMIN"] > 0
        assert "BPA" in header and hdus[0].data.ndim == 4
    with _one(SampleKind.CHECKSUM) as hdus:
        assert all("CHECKSUM" in hdu.header and "DATASUM" in hdu.header for hdu in hdus)
    assert sample_bytes(0, SampleKind.GZIP, rng_for(0, 0))[:2] == b"\x1f\x8b"
    assert sample_name(7, "gzip") == "gzip-000007.fits.gz"


def test_same_seed_same_bytes_and_each_index_distinct(tmp_path: Path) -> None:
    first = write_corpus(tmp_path / "a", 70, seed=9)
    again = write_corpus(tmp_path / "b", 35, seed=9)
    other = write_corpus(tmp_path / "c", 35, seed=10)
    digests = [hashlib.sha256(path.read_bytes()).hexdigest() for path in first]
    assert len(set(digests)) == len(first)  # every file a distinct product
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in first[:35]]
    assert not {hashlib.sha256(p.read_bytes()).hexdigest() for p in other} & set(digests)
    assert [p.name for p in first[: len(ALL_KINDS)]] == [
        sample_name(i, kind) for i, kind in enumerate(ALL_KINDS)
    ]


@pytest.mark.parametrize("sides", [(8, 8), (100, 120)])
def test_image_sides_are_settable(sides: tuple[int, int]) -> None:
    for index in range(5):
        data = sample_bytes(index, SampleKind.IMAGE, rng_for(0, index), sides=sides)
        with fits.open(io.BytesIO(data)) as hdus:
            assert all(sides[0] <= n <= sides[1] for n in hdus[0].data.shape)


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sides"):
        sample_bytes(0, SampleKind.IMAGE, rng_for(0, 0), sides=(10, 5))
    with pytest.raises(ValueError):
        sample_bytes(0, "spectrum", rng_for(0, 0))
    with pytest.raises(ValueError, match="kinds"):
        write_corpus(tmp_path, 3, kinds=[])


def test_checksum_encoding_is_astropys() -> None:
    hdu: _BaseHDU = fits.PrimaryHDU()
    values = [*random.Random(0).choices(range(2**32), k=2000), 0, 0xFFFFFFFF, 0x12345678]
    for value in values:
        assert encode_checksum(value) == hdu._char_encode(~value & 0xFFFFFFFF)
    # A sum that carried past 32 bits is folded first, as the standard requires.
    assert encode_checksum(0x1_0000_0005) == encode_checksum(0x6)
