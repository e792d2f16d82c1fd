"""Which files a directory walk offers for ingest.

Names are matched case-insensitively against the include and ignore patterns
(instruments write ``.FITS`` as often as ``.fits``). Directories are walked
without following symlinked directories; a symlinked file is offered and the
reader then refuses it if it resolves outside the root it was found under.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.settings import FilesSettings

__all__ = ["Candidate", "NamePatterns", "candidates"]


class NamePatterns:
    """Include/ignore patterns compiled once.

    Each list becomes one regular expression (the alternation of what
    ``fnmatch.translate`` makes of its patterns): one match per name instead
    of one ``fnmatchcase`` call per pattern, for every file the watcher sees.
    """

    def __init__(self, settings: FilesSettings) -> None:
        self._include = _any_of(pattern.lower() for pattern in settings.include)
        self._ignore = _any_of(pattern.lower() for pattern in settings.ignore)

    def wants(self, name: str) -> bool:
        """Whether a file called ``name`` (no directory part) is a candidate."""
        lowered = name.lower()
        if self._ignore.match(lowered):
            return False
        return self._include.match(lowered) is not None

    def ignores_directory(self, name: str) -> bool:
        """Hidden and temporary directories are not descended into."""
        return self._ignore.match(name.lower()) is not None


def _any_of(patterns: Iterable[str]) -> re.Pattern[str]:
    """A regex matching exactly the names ``fnmatchcase`` matches with any of ``patterns``."""
    translated = [fnmatch.translate(pattern) for pattern in patterns]
    return re.compile("|".join(translated) if translated else "(?!)")  # (?!): nothing


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file to ingest and the roots it must resolve within (None: anywhere)."""

    path: str
    roots: tuple[Path, ...] | None


def candidates(
    paths: Iterable[str | os.PathLike[str]], patterns: NamePatterns
) -> Iterator[Candidate]:
    """Files named in ``paths`` as they are, and matching files below directories."""
    for given in paths:
        text = os.fspath(given)
        if os.path.isdir(text):
            root = Path(text).resolve()
            yield from _walk(text, (root,), patterns)
        else:
            yield Candidate(os.path.abspath(text), None)


def _walk(top: str, roots: Sequence[Path], patterns: NamePatterns) -> Iterator[Candidate]:
    frozen_roots = tuple(roots)
    for directory, subdirectories, files in os.walk(top):
        subdirectories[:] = sorted(d for d in subdirectories if not patterns.ignores_directory(d))
        for name in sorted(files):
            if patterns.wants(name):
                yield Candidate(os.path.abspath(os.path.join(directory, name)), frozen_roots)
