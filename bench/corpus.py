"""The files benchmarks read: generated (seeded, cached) and astropy's own.

The generated corpus has one directory per kind — single 2-D images with
~100 cards, multi-extension files with 3-5 image and table HDUs, images with
1,000+ cards (HIERARCH, CONTINUE, COMMENT, HISTORY), gzip files and RICE
tile-compressed images — written by :mod:`pipeline.samples` from a fixed
seed into a cache directory keyed by the seed, the count and the
generator's source, so a second run reuses it. The astropy corpus is every
FITS file under the installed astropy's ``tests/data`` directories (globbed,
never listed), copied flat into the cache so that directory tools see one
directory.

``FITSFLOW_BENCH_CACHE`` moves the cache (default: the system temp dir).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import astropy

from pipeline.samples import SampleKind, write_corpus

__all__ = [
    "ASTROPY_PATTERNS",
    "GENERATED_KINDS",
    "Corpus",
    "astropy_files",
    "cache_root",
    "generated_corpus",
    "preload",
]

#: The generated kinds, in the order tables list them.
GENERATED_KINDS: tuple[SampleKind, ...] = (
    SampleKind.IMAGE,
    SampleKind.MEF,
    SampleKind.LONG_HEADER,
    SampleKind.GZIP,
    SampleKind.TILE_COMPRESSED,
)
ASTROPY_PATTERNS = (
    "*.fits",
    "*.fit",
    "*.fts",
    "*.fz",
    "*.fits.gz",
    "*.fit.gz",
    "*.fts.gz",
    "*.Z",
)
_SAMPLES_SOURCE = Path(__file__).resolve().parent.parent / "pipeline" / "samples"


@dataclass(frozen=True)
class Corpus:
    """One directory of files of one kind."""

    kind: str
    directory: Path
    paths: tuple[Path, ...]


def cache_root() -> Path:
    """Where generated and copied corpora live between runs."""
    base = os.environ.get("FITSFLOW_BENCH_CACHE") or tempfile.gettempdir()
    return Path(base) / "fitsflow-bench"


def generated_corpus(kind: SampleKind, count: int, seed: int) -> Corpus:
    """``count`` files of ``kind`` from ``seed``, written once and then reused."""
    directory = cache_root() / f"generated-{_generator_version()}-s{seed}-n{count}" / kind.value
    marker = directory / ".complete"
    if not marker.exists():
        shutil.rmtree(directory, ignore_errors=True)
        write_corpus(directory, count, seed=seed, kinds=[kind])
        marker.touch()
    paths = tuple(sorted(p for p in directory.iterdir() if not p.name.startswith(".")))
    return Corpus(kind.value, directory, paths)


def astropy_files() -> list[Path]:
    """Every FITS file in the installed astropy's test data, sorted."""
    root = Path(astropy.__file__).resolve().parent
    found = {
        path for pattern in ASTROPY_PATTERNS for path in root.glob(f"**/tests/data/**/{pattern}")
    }
    return sorted(found)


def copy_flat(paths: list[Path], name: str) -> Corpus:
    """``paths`` copied into one cache directory ``name`` (names made unique)."""
    root = Path(astropy.__file__).resolve().parent
    directory = cache_root() / name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    copies = []
    for path in paths:
        relative = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
        target = directory / "__".join(relative.parts)
        shutil.copyfile(path, target)
        copies.append(target)
    return Corpus(name, directory, tuple(sorted(copies)))


def preload(paths: tuple[Path, ...] | list[Path]) -> int:
    """Read every file once so that timings start from the page cache; total bytes."""
    return sum(len(path.read_bytes()) for path in paths)


def _generator_version() -> str:
    """A digest of the sample generator's source: a changed generator, a new cache."""
    digest = hashlib.sha256()
    for source in sorted(_SAMPLES_SOURCE.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:10]
