"""What one SQLite writer can commit when nothing else runs: group commit on its own.

    python -m bench.group_commit                 # 3,200 single images, groups of 8, 32 and 64
    python -m bench.group_commit --files 1000 --groups 16

The embedded mode (``fitsflow run``) commits every job twice through one
SQLite writer — its start (claim + attempt row) and its success (product,
HDUs, job, attempt) — in groups shared by the jobs in flight
(:mod:`pipeline.ingest.groups`). This measures those two transactions alone,
one group after another, with the ingest service's own bulk functions, on a
fresh migrated database and files parsed beforehand: no watcher, no queue,
no threads. The result is the ceiling of the writer for a group size, to set
beside what the whole process achieves (``python -m bench.e2e --mode
embedded``); the gap between the two is what the rest of the process — the
event loop shared with the watcher and the API, thread hand-offs, the GIL —
costs the writer.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from pipeline.clock import utc_now
from pipeline.db import Database, open_database
from pipeline.db.migrate import upgrade
from pipeline.ingest.parse import ParsedFile, parse_file
from pipeline.ingest.service import IngestService, _Done, _Start
from pipeline.repositories import jobs
from pipeline.samples import SampleKind, rng_for, sample_bytes
from pipeline.settings import DatabaseSettings, ReaderSettings


def _parsed(directory: Path, files: int) -> list[ParsedFile]:
    limits = ReaderSettings()
    parsed = []
    for index in range(files):
        path = directory / f"image-{index:06d}.fits"
        path.write_bytes(sample_bytes(index, SampleKind.IMAGE, rng_for(seed=3, index=index)))
        parsed.append(parse_file(str(path), limits, None))
    return parsed


async def _commit_all(database: Database, parsed: list[ParsedFile], group: int) -> float:
    """Seconds to start and succeed every file's job, ``group`` jobs per transaction."""
    service = IngestService(database, ReaderSettings(), worker="bench")
    now = utc_now()
    async with database.transaction() as tx:
        new_jobs = [jobs.NewJob(item.product.path, 1, 1, "bench") for item in parsed]
        ids = await jobs.insert_jobs(tx, new_jobs, now)
    started = time.perf_counter()
    for first in range(0, len(parsed), group):
        items, job_ids = parsed[first : first + group], ids[first : first + group]
        async with database.transaction() as tx:
            claims = [_Start(job_id, f"m{job_id}", 600.0) for job_id in job_ids]
            begun = await service._start_many(tx, claims)
        done = []
        for item, run in zip(items, begun, strict=True):
            assert run is not None, "a fresh job was not claimed"
            done.append(_Done(run[0], run[1], item))
        async with database.transaction() as tx:
            await service._succeed_many(tx, done)
    return time.perf_counter() - started


async def _one_run(url: str, parsed: list[ParsedFile], group: int) -> float:
    async with open_database(DatabaseSettings(url=url)) as database:
        return await _commit_all(database, parsed, group)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3200)
    parser.add_argument("--groups", default="8,32,64", help="group sizes, e.g. 8,32,64")
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.groups.split(",")]
    with tempfile.TemporaryDirectory(prefix="fitsflow-bench-group-") as scratch:
        parsed = _parsed(Path(scratch), args.files)
        print(f"{args.files} single images parsed; files/s committed (start + success):")
        for size in sizes:
            rates = []
            for repetition in range(args.repetitions):
                url = f"sqlite:///{scratch}/group-{size}-{repetition}.db"
                upgrade(url)
                seconds = asyncio.run(_one_run(url, parsed, size))
                rates.append(args.files / seconds)
            rates.sort()
            print(
                f"  groups of {size:3d}: {rates[len(rates) // 2]:,.0f} files/s "
                f"({rates[0]:,.0f}–{rates[-1]:,.0f}), "
                f"{1000 * size / rates[len(rates) // 2]:.1f} ms per group's two transactions"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
