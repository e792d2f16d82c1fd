"""Header reading: fitsflow against astropy, ccdproc and the floor, one process.

Every HDU is read and every card value materialised; fitsflow also extracts
the normalised fields (:mod:`bench.readers` says exactly what each
contestant does). Before anything is timed, fitsflow's cards are checked
against astropy's on every file (:mod:`bench.agreement`). Files are read
once first so that every contestant starts from the page cache, and each
contestant runs once untimed (imports, caches) before the repetitions.

    python -m bench headers            # or: python -m bench.headers
    python -m bench.headers --quick
    python -m bench.headers --profile long_header   # where fitsflow's time goes
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from astropy.io import fits
from astropy.io.fits.verify import VerifyError

from bench.agreement import Agreement, check_agreement
from bench.corpus import (
    GENERATED_KINDS,
    Corpus,
    astropy_files,
    copy_flat,
    generated_corpus,
    preload,
)
from bench.harness import Result, interleaved
from bench.headers_report import CorpusTiming, build_result
from bench.readers import (
    astropy_getheader_reader,
    astropy_open_reader,
    fitsflow_parse_file_reader,
    fitsflow_reader,
    floor_reader,
    header_ranges,
    image_file_collection_reader,
)
from pipeline.settings import ReaderSettings

__all__ = ["Plan", "run"]

SEED = 2026


@dataclass(frozen=True)
class Plan:
    """How much to measure."""

    files_per_kind: int
    repetitions: int


FULL = Plan(files_per_kind=200, repetitions=7)
QUICK = Plan(files_per_kind=6, repetitions=3)


def run(quick: bool) -> Result:
    """Check agreement on both corpora, then time every reader on each."""
    plan = QUICK if quick else FULL
    limits = ReaderSettings()
    corpora, agreements = _corpora(plan, limits)
    timings = [_time(corpus, limits, plan.repetitions) for corpus in corpora]
    command = "python -m bench headers" + (" --quick" if quick else "")
    return build_result(timings, agreements, plan.repetitions, command, quick)


def _corpora(plan: Plan, limits: ReaderSettings) -> tuple[list[Corpus], dict[str, Agreement]]:
    corpora: list[Corpus] = []
    agreements: dict[str, Agreement] = {}
    for kind in GENERATED_KINDS:
        corpus = generated_corpus(kind, plan.files_per_kind, SEED)
        agreement = _checked(corpus.kind, corpus.paths, limits)
        if agreement.excluded:
            raise SystemExit(f"generated {kind} files refused: {agreement.excluded}")
        corpora.append(corpus)
        agreements[corpus.kind] = agreement
    agreement = _checked("astropy", astropy_files(), limits)
    agreements["astropy"] = agreement
    for path in list(agreement.agreed):
        if not _indexable(path):
            agreement.agreed.remove(path)
            agreement.excluded[path.name] = "ImageFileCollection cannot index it"
    corpora.append(copy_flat(agreement.agreed, "astropy"))
    return corpora, agreements


def _indexable(path: Path) -> bool:
    """Whether every value of the primary header parses, as ImageFileCollection
    needs (it stops at the first that does not): the same files for everyone."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path, disable_image_compression=True) as hdul:
            try:
                [card.value for card in hdul[0].header.cards]
            except VerifyError:
                return False
    return True


def _checked(kind: str, paths: tuple[Path, ...] | list[Path], limits: ReaderSettings) -> Agreement:
    agreement = check_agreement(list(paths), limits)
    if agreement.differences:
        lines = [f"{name}: {found[:3]}" for name, found in agreement.differences.items()]
        raise SystemExit(
            f"fitsflow does not read the {kind} corpus as astropy does; not timing a "
            "wrong reader:\n" + "\n".join(lines)
        )
    return agreement


def readers(corpus: Corpus, limits: ReaderSettings) -> dict[str, Callable[[], None]]:
    """Every contestant, ready to read ``corpus`` once per call."""
    paths = list(corpus.paths)
    ranges = header_ranges(paths, limits)
    counts = [count for _, _, count in ranges]
    contestants = {
        "fitsflow": fitsflow_reader(paths, limits),
        "fitsflow parse_file": fitsflow_parse_file_reader(paths, limits),
        "astropy open": astropy_open_reader(paths),
        "astropy getheader": astropy_getheader_reader(paths, counts),
        "floor": floor_reader(ranges),
    }
    collection = image_file_collection_reader(corpus.directory)
    if collection is not None:
        contestants["ImageFileCollection"] = collection
    return contestants


def _time(corpus: Corpus, limits: ReaderSettings, repetitions: int) -> CorpusTiming:
    size = preload(corpus.paths)
    contestants = readers(corpus, limits)
    for read in contestants.values():
        read()  # warm: imports, compiled patterns, caches
    seconds = interleaved(contestants, repetitions)
    print(f"  timed {corpus.kind}: {len(corpus.paths)} files", file=sys.stderr)
    return CorpusTiming(corpus.kind, len(corpus.paths), size, seconds)


def profile(kind: str, quick: bool) -> None:
    """Where fitsflow's time goes on one corpus kind (pyinstrument, else cProfile)."""
    plan = QUICK if quick else FULL
    limits = ReaderSettings()
    if kind == "astropy":
        corpus = copy_flat(check_agreement(astropy_files(), limits).agreed, "astropy")
    else:
        corpus = generated_corpus(
            next(k for k in GENERATED_KINDS if k.value == kind), plan.files_per_kind, SEED
        )
    preload(corpus.paths)
    read = fitsflow_reader(list(corpus.paths), limits)
    read()
    try:
        from pyinstrument import Profiler
    except ImportError:
        import cProfile
        import pstats

        with cProfile.Profile() as profiler:
            for _ in range(plan.repetitions):
                read()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    sampler = Profiler(interval=0.0002)
    with sampler:
        for _ in range(plan.repetitions):
            read()
    print(sampler.output_text(unicode=True, color=False, show_all=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", metavar="KIND", help="profile fitsflow on one corpus kind")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args.quick)
        return
    from bench.__main__ import report

    report(run(args.quick))


if __name__ == "__main__":
    main()
