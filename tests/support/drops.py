"""Dropping files into watched directories the ways instruments and people do."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pipeline.samples import ALL_KINDS, rng_for, sample_bytes, sample_name

__all__ = ["corpus", "write_now", "write_slowly", "write_then_rename"]


def corpus(count: int, seed: int = 11) -> list[tuple[str, bytes]]:
    """``count`` distinct sample files (every kind in turn) as (name, bytes)."""
    kinds = list(ALL_KINDS)
    return [
        (
            sample_name(i, kinds[i % len(kinds)]),
            sample_bytes(i, kinds[i % len(kinds)], rng_for(seed, i)),
        )
        for i in range(count)
    ]


def write_now(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def write_slowly(path: Path, data: bytes, chunks: int = 4, pause: float = 0.2) -> None:
    """Write in ``chunks`` with fsync and a pause between, keeping the file open
    (a detector read-out, an scp in progress)."""
    step = -(-len(data) // chunks)
    with path.open("wb") as sink:
        for start in range(0, len(data), step):
            sink.write(data[start : start + step])
            sink.flush()
            os.fsync(sink.fileno())
            time.sleep(pause)


def write_then_rename(path: Path, data: bytes) -> None:
    """Write under a temporary name the watcher ignores, then rename into place."""
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_bytes(data)
    temporary.rename(path)
