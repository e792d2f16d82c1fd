"""Walking a directory tree for candidates, as the watcher's scans do.

Ignored (hidden, temporary) directories are not descended, symlinked
directories are not followed, and only entries whose name the patterns want
are stat()ed — directories named like FITS files among them, so that they
can be refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import structlog

from pipeline.ingest.candidates import NamePatterns

__all__ = ["walk_candidates"]

log = structlog.get_logger(__name__)


def walk_candidates(
    top: str, patterns: NamePatterns, stopping: Callable[[], bool]
) -> Iterator[tuple[str, os.stat_result]]:
    """``(path, lstat)`` of every entry below ``top`` named like a candidate."""
    pending = [top]
    while pending and not stopping():
        directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if stopping():
                        return
                    found = _visit(entry, patterns, pending)
                    if found is not None:
                        yield found
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed while we walked
        except OSError as error:
            log.warning("cannot list directory", directory=directory, error=str(error))


def _visit(
    entry: os.DirEntry[str], patterns: NamePatterns, pending: list[str]
) -> tuple[str, os.stat_result] | None:
    try:
        if entry.is_dir(follow_symlinks=False):
            if patterns.ignores_directory(entry.name):
                return None
            pending.append(entry.path)
        if not patterns.wants(entry.name):
            return None
        return entry.path, entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None  # gone between listing and stat
