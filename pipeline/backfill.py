"""Backfill: enqueue everything under a directory not yet recorded, as one batch.

``fitsflow scan ROOT`` and ``POST /scan`` walk ROOT with the include/ignore
name patterns (:mod:`pipeline.ingest.candidates`), judge each path as the
watcher does (:func:`pipeline.watcher.examine.examine`: regular files are
offered, FIFOs and symlinks leading out of the root are refused with a
recorded reason) and admit the files through the outbox, a chunk per
transaction. "Not yet recorded" is the outbox's own rule: no current product
with the same path, size and mtime, and no unfinished job for the file.

The batch (kind ``scan``) is created before the walk and closed after it
with its final total: the number of jobs admitted. Until then its total is
the jobs admitted so far. A scan interrupted half-way leaves its batch open;
its jobs still run, and scanning again admits only what is still missing.

Files are admitted as they are when the walk meets them: a backfill is for
directories that are no longer being written (the watcher settles live
ones). A file caught mid-write is read as truncated and, if it is still
changing, retried as incomplete by the worker.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from pipeline.clock import utc_now
from pipeline.db import Database
from pipeline.ingest.candidates import NamePatterns, candidates
from pipeline.outbox import Admission, Sender
from pipeline.paths import is_within
from pipeline.repositories import batches
from pipeline.settings import FilesSettings
from pipeline.watcher.examine import examine
from pipeline.watcher.model import Refusal, SeenFile, WatchRoot

__all__ = ["BATCH_KIND", "DEFAULT_CHUNK_SIZE", "Backfill", "BackfillResult"]

log = structlog.get_logger(__name__)

#: ``batches.kind`` of a scan.
BATCH_KIND = "scan"
#: Files judged, then committed and sent, per transaction.
DEFAULT_CHUNK_SIZE = 500


@dataclass(slots=True)
class BackfillResult:
    """What one scan found and did."""

    batch_id: int
    root: str
    #: Candidate files the walk met.
    found: int = 0
    #: Jobs admitted: the batch's total.
    admitted: int = 0
    #: Paths refused with a recorded reason (FIFOs, symlinks leading out).
    refused: int = 0

    @property
    def already_recorded(self) -> int:
        """Files skipped: recorded unchanged, already queued, or gone meanwhile."""
        return self.found - self.admitted - self.refused


class Backfill:
    """Scans a directory into one batch of jobs."""

    def __init__(
        self,
        db: Database,
        sender: Sender | None,
        files: FilesSettings,
        watch_roots: Sequence[str | Path] = (),
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        self.db = db
        self.sender = sender
        self.patterns = NamePatterns(files)
        self.watch_roots = [Path(root).resolve() for root in watch_roots]
        self.chunk_size = chunk_size

    async def open_batch(self, root: Path) -> int:
        """Create the (open, empty) batch for a scan of ``root``; returns its id."""
        async with self.db.transaction() as tx:
            return await batches.create_batch(tx, BATCH_KIND, f"scan {root}", utc_now())

    async def run(self, batch_id: int, root: Path) -> BackfillResult:
        """Walk ``root`` (a directory) into batch ``batch_id``, then close the batch."""
        resolved = root.resolve()
        result = BackfillResult(batch_id, str(resolved))
        admission = Admission(
            self.db,
            self.sender,
            self._confining_roots(resolved),
            source=BATCH_KIND,
            batch_id=batch_id,
        )
        walk = _examined(resolved, self.patterns)
        while chunk := await asyncio.to_thread(_take, walk, self.chunk_size):
            result.found += len(chunk)
            for refusal in (item for item in chunk if isinstance(item, Refusal)):
                result.refused += 1
                await admission.refuse(refusal.path, refusal.error)
            files = [item for item in chunk if isinstance(item, SeenFile)]
            result.admitted += len(await admission.admit(files))
        await self.db.run_in_transaction(
            lambda tx: batches.close_queued_batch(tx, batch_id, result.admitted, utc_now())
        )
        log.info(
            "scan admitted",
            batch_id=batch_id,
            root=result.root,
            found=result.found,
            admitted=result.admitted,
            refused=result.refused,
        )
        return result

    async def scan(self, root: Path) -> BackfillResult:
        """Open a batch and scan ``root`` into it."""
        return await self.run(await self.open_batch(root.resolve()), root)

    def _confining_roots(self, resolved: Path) -> list[Path]:
        """Where the workers may let a file resolve: the watched roots holding
        the scan root (as for the watcher's own files), else the scan root."""
        holding = [root for root in self.watch_roots if is_within(resolved, root)]
        return holding or [resolved]


def _examined(root: Path, patterns: NamePatterns) -> Iterator[SeenFile | Refusal | None]:
    watch_root = WatchRoot.of(root)
    for candidate in candidates([root], patterns):
        yield examine(candidate.path, watch_root, "scan")


def _take(walk: Iterator[SeenFile | Refusal | None], count: int) -> list[SeenFile | Refusal | None]:
    """The next ``count`` paths of the walk (fewer at its end); runs in a thread."""
    return list(itertools.islice(walk, count))
