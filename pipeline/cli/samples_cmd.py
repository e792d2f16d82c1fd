"""``fitsflow samples DIR``: write realistic sample FITS files to try fitsflow on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import reports_errors
from pipeline.samples import ALL_KINDS, SampleKind, write_corpus

__all__ = ["samples"]


@reports_errors
def samples(
    directory: Annotated[Path, typer.Argument(help="Where to write (created if missing).")],
    count: Annotated[int, typer.Option(min=1, help="How many files.")] = 100,
    seed: Annotated[int, typer.Option(help="Same seed, same files.")] = 0,
    kind: Annotated[
        list[SampleKind] | None,
        typer.Option(help="Only these kinds (repeatable). Default: every kind in turn."),
    ] = None,
) -> None:
    """Write COUNT distinct, valid FITS files: images with WCS, multi-extension,
    long headers, gzip, tile-compressed, radio cubes, checksummed."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = write_corpus(directory, count, seed=seed, kinds=tuple(kind) if kind else ALL_KINDS)
    typer.echo(f"wrote {len(paths)} FITS files to {directory}")
