"""Structure facts ``read_fits`` records for valid files, checked against astropy.

Generated files of every kind are read and compared with what astropy says
about the same bytes: HDU kinds, header and data offsets, data spans, the
tile-compressed image's own shape; identity (size, SHA-256) is compared with
``hashlib``. Then the cases around the edges: gzip under any name, several
gzip members, a file growing while it is read, roots, trailing bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from astropy.io import fits

from pipeline.errors import EmptyFile, FileNotComplete, OutsideRoot, TruncatedFits, is_transient
from pipeline.fits import FitsFile, read_fits
from pipeline.paths import open_within
from pipeline.samples import ALL_KINDS, SampleKind, rng_for, sample_bytes, write_corpus
from pipeline.settings import ReaderSettings

LIMITS = ReaderSettings()
ASTROPY_KIND = {
    "PrimaryHDU": "primary",
    "ImageHDU": "image",
    "BinTableHDU": "bintable",
    "CompImageHDU": "compressed_image",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Twelve files of every kind."""
    return write_corpus(tmp_path_factory.mktemp("corpus"), 12 * len(ALL_KINDS), seed=11)


def _sample(directory: Path, kind: SampleKind, index: int = 0, name: str | None = None) -> Path:
    path = directory / (name or f"{kind.value}-{index}.fits")
    path.write_bytes(sample_bytes(index, kind, rng_for(seed=5, index=index)))
    return path


def _astropy_hdus(path: Path) -> Iterator[tuple[fits.hdu.base._BaseHDU, dict[str, int]]]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with fits.open(path) as hdus:
            for index, hdu in enumerate(hdus):
                yield hdu, hdus.fileinfo(index)


def test_structure_matches_astropy(corpus: list[Path]) -> None:
    for path in corpus:
        result = read_fits(path, LIMITS)
        theirs = list(_astropy_hdus(path))
        assert len(result.hdus) == len(theirs), path.name
        for ours, (hdu, info) in zip(result.hdus, theirs, strict=True):
            assert ours.kind == ASTROPY_KIND[type(hdu).__name__], path.name
            assert (ours.header_offset, ours.data_offset) == (info["hdrLoc"], info["datLoc"])
            if ours.kind != "compressed_image":
                assert ours.layout.padded_data_size == info["datSpan"], path.name
                assert ours.layout.naxis == tuple(
                    hdu.header[f"NAXIS{n}"] for n in range(1, hdu.header["NAXIS"] + 1)
                )


def test_identity_is_the_raw_bytes(corpus: list[Path]) -> None:
    for path in corpus:
        raw = path.read_bytes()
        result = read_fits(path, LIMITS)
        assert result.sha256 == hashlib.sha256(raw).hexdigest()
        assert result.size == len(raw) == path.stat().st_size
        assert result.compression == ("gzip" if path.name.endswith(".gz") else "none")
        assert result.warnings == (), (path.name, result.warnings)


def test_generated_cards_read_as_astropy_reads_them(corpus: list[Path]) -> None:
    for path in corpus[: 2 * len(ALL_KINDS)]:
        result = read_fits(path, LIMITS)
        with fits.open(path, disable_image_compression=True) as hdus:
            for ours, hdu in zip(result.hdus, hdus, strict=True):
                theirs = [(c.keyword, c.value, c.comment) for c in hdu.header.cards]
                mine = [(c.keyword, c.value, c.comment) for c in ours.cards]
                assert mine == [
                    (k, None if v is fits.card.UNDEFINED else v, c) for k, v, c in theirs
                ]


def test_multi_extension_file_announces_what_it_holds(tmp_path: Path) -> None:
    result = read_fits(_sample(tmp_path, SampleKind.MEF), LIMITS)
    kinds = [hdu.kind for hdu in result.hdus]
    assert kinds[0] == "primary" and 3 <= len(kinds) - 1 <= 5
    assert {"image", "bintable"} <= set(kinds[1:])
    assert result.hdus[0].values()["NEXTEND"] == len(kinds) - 1
    assert result.hdus[1].name == "SCI" and result.hdus[-1].name == "CATALOG"


def test_tile_compressed_image_shape_comes_from_z_keywords(tmp_path: Path) -> None:
    path = _sample(tmp_path, SampleKind.TILE_COMPRESSED)
    compressed = read_fits(path, LIMITS).hdus[1]
    with fits.open(path) as hdus:
        image = hdus[1]
        assert compressed.kind == "compressed_image"
        assert compressed.layout.compression == "RICE_1"
        assert compressed.layout.science_naxis == tuple(reversed(image.data.shape))
        assert compressed.layout.science_bitpix == image.header["BITPIX"] == 16
        assert compressed.layout.naxis != compressed.layout.science_naxis  # the table's own


def test_long_header_keeps_every_card(tmp_path: Path) -> None:
    result = read_fits(_sample(tmp_path, SampleKind.LONG_HEADER), LIMITS)
    cards = result.hdus[0].cards
    assert len(cards) > 1000
    keywords = {card.keyword for card in cards}
    assert {"COMMENT", "HISTORY"} <= keywords
    assert any(k.startswith("ESO DET") for k in keywords)  # HIERARCH
    paths = [c.value for c in cards if c.keyword.startswith("PATH")]
    assert paths and all(isinstance(v, str) and len(v) > 68 for v in paths)  # CONTINUE joined


def test_checksum_verdicts(tmp_path: Path) -> None:
    good = _sample(tmp_path, SampleKind.CHECKSUM, index=1)
    assert {hdu.checksum for hdu in read_fits(good, LIMITS).hdus} == {"ok"}
    raw = bytearray(good.read_bytes())
    raw[-100] ^= 0x01  # one bit of the last HDU's data (its padding, even)
    bad = tmp_path / "bad.fits"
    bad.write_bytes(bytes(raw))
    result = read_fits(bad, LIMITS)
    assert [hdu.checksum for hdu in result.hdus][-1] == "bad" and result.checksum == "bad"
    assert [w.hdu for w in result.warnings if w.code == "checksum_mismatch"] == [
        len(result.hdus) - 1
    ]
    plain = read_fits(_sample(tmp_path, SampleKind.IMAGE), LIMITS)
    assert plain.checksum == "absent"


def test_gzip_is_recognised_by_content_not_name(tmp_path: Path) -> None:
    plain = _sample(tmp_path, SampleKind.MEF)
    disguised = tmp_path / "disguised.fits"
    disguised.write_bytes(gzip.compress(plain.read_bytes()))
    ours, reference = read_fits(disguised, LIMITS), read_fits(plain, LIMITS)
    assert ours.compression == "gzip" and reference.compression == "none"
    assert [h.cards for h in ours.hdus] == [h.cards for h in reference.hdus]
    assert ours.sha256 == hashlib.sha256(disguised.read_bytes()).hexdigest() != reference.sha256


def test_multi_member_gzip_and_zero_padding(tmp_path: Path) -> None:
    data = _sample(tmp_path, SampleKind.MEF).read_bytes()
    cuts = sorted(random.Random(3).sample(range(1, len(data)), 3))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    members = tmp_path / "members.fits.gz"
    members.write_bytes(b"".join(gzip.compress(piece) for piece in pieces) + bytes(512))
    result = read_fits(members, LIMITS)
    assert len(result.hdus) == len(read_fits(tmp_path / "mef-0.fits", LIMITS).hdus)
    assert result.warnings == ()


def _growing(monkeypatch: pytest.MonkeyPatch, extra: bytes) -> None:
    """Append ``extra`` to each file right after the reader has opened it."""

    def open_then_grow(
        path: Path, roots: Sequence[Path] | None
    ) -> tuple[io.FileIO, os.stat_result]:
        opened = open_within(path, roots)
        with open(path, "ab") as writer:
            writer.write(extra)
        return opened

    monkeypatch.setattr("pipeline.fits.reader.open_within", open_then_grow)


@pytest.mark.parametrize(
    ("compressed", "cause"),
    # Plain: the size at open makes the half file look truncated. Gzip: the
    # appended half is read, so only the size check afterwards catches it.
    [(False, TruncatedFits), (True, type(None))],
    ids=["plain", "gzip"],
)
def test_file_growing_while_read_is_not_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compressed: bool, cause: type
) -> None:
    data = _sample(tmp_path, SampleKind.IMAGE).read_bytes()
    if compressed:
        data = gzip.compress(data)
    cut = len(data) // 2
    partial = tmp_path / "arriving.fits"
    partial.write_bytes(data[:cut])
    _growing(monkeypatch, data[cut:])
    with pytest.raises(FileNotComplete) as caught:
        read_fits(partial, LIMITS)
    assert is_transient(caught.value)
    assert isinstance(caught.value.__cause__, cause)
    assert (caught.value.details["size_before"], caught.value.details["size_after"]) == (
        cut,
        len(data),
    )


def test_empty_file_being_written_is_not_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = tmp_path / "created.fits"
    created.touch()
    _growing(monkeypatch, b"SIMPLE  =                    T")
    with pytest.raises(FileNotComplete) as caught:
        read_fits(created, LIMITS)
    assert isinstance(caught.value.__cause__, EmptyFile)


def test_complete_file_appended_to_while_read_is_not_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _sample(tmp_path, SampleKind.IMAGE)
    _growing(monkeypatch, bytes(2880))
    with pytest.raises(FileNotComplete) as caught:
        read_fits(path, LIMITS)
    assert caught.value.__cause__ is None  # the content itself read fine


def test_roots_confine_where_a_path_may_lead(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "watched", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    inside = _sample(root, SampleKind.IMAGE)
    outside = _sample(elsewhere, SampleKind.IMAGE)
    roots = [root.resolve()]
    (root / "alias.fits").symlink_to(inside)
    assert isinstance(read_fits(root / "alias.fits", LIMITS, roots), FitsFile)
    assert isinstance(read_fits(inside, LIMITS, roots), FitsFile)
    for escaping in (outside, root / ".." / "elsewhere" / outside.name):
        with pytest.raises(OutsideRoot) as caught:
            read_fits(escaping, LIMITS, roots)
        assert caught.value.details["resolved"] == str(outside.resolve())


def test_trailing_blocks_after_last_hdu_are_a_warning(tmp_path: Path) -> None:
    path = _sample(tmp_path, SampleKind.MEF)
    path.write_bytes(path.read_bytes() + b"\0" * 2880 * 2)
    result = read_fits(path, LIMITS)
    assert [w.code for w in result.warnings] == ["trailing_bytes"]
    assert "5760 bytes" in result.warnings[0].message
    assert result.size == path.stat().st_size


def test_cut_at_hdu_boundary_only_warns_without_trust_nextend(tmp_path: Path) -> None:
    data = _sample(tmp_path, SampleKind.MEF).read_bytes()
    full = read_fits(tmp_path / "mef-0.fits", LIMITS)
    cut = tmp_path / "cut.fits"
    cut.write_bytes(data[: full.hdus[-1].header_offset])
    with pytest.raises(TruncatedFits):
        read_fits(cut, LIMITS)
    result = read_fits(cut, ReaderSettings(trust_nextend=False))
    assert len(result.hdus) == len(full.hdus) - 1
    assert [w.code for w in result.warnings] == ["nextend_mismatch"]


@pytest.mark.parametrize(
    "extra", [b"\n", bytes(100), b" " * 2879], ids=["newline", "zeros", "spaces"]
)
def test_partial_block_after_last_hdu_is_truncated_as_astropy_says(
    tmp_path: Path, extra: bytes
) -> None:
    # FITS files are whole 2880-byte blocks; astropy warns that such a file
    # is truncated, and fitsflow refuses it (whole extra blocks only warn).
    path = _sample(tmp_path, SampleKind.MEF)
    path.write_bytes(path.read_bytes() + extra)
    with pytest.raises(TruncatedFits, match=f"{len(extra)} bytes after the last HDU"):
        read_fits(path, LIMITS)


@pytest.mark.parametrize("kept", [4, 8, 500], ids=["XTEN", "XTENSION", "card-and-more"])
def test_cut_inside_the_next_extension_header_is_truncated(tmp_path: Path, kept: int) -> None:
    data = _sample(tmp_path, SampleKind.MEF).read_bytes()
    last = read_fits(tmp_path / "mef-0.fits", ReaderSettings()).hdus[-1].header_offset
    cut = tmp_path / "cut.fits"
    cut.write_bytes(data[: last + kept])
    with pytest.raises(TruncatedFits):
        read_fits(cut, ReaderSettings(trust_nextend=False))


def test_end_keyword_with_junk_after_it_ends_the_header_as_in_astropy(tmp_path: Path) -> None:
    data = _sample(tmp_path, SampleKind.IMAGE).read_bytes()
    end = data.index(b"END".ljust(80))
    path = tmp_path / "junk_end.fits"
    path.write_bytes(data[:end] + b"END     JUNK AFTER THE KEYWORD".ljust(80) + data[end + 80 :])
    result = read_fits(path, LIMITS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy warns about the bytes after END
        with fits.open(path) as hdus:
            assert len(result.hdus[0].cards) == len(hdus[0].header.cards)
            assert result.hdus[0].data_offset == hdus.fileinfo(0)["datLoc"]
