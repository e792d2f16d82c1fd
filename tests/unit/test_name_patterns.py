"""Name patterns and ignored directories decide exactly as fnmatch, pattern by pattern."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pipeline.ingest.candidates import NamePatterns
from pipeline.settings import DEFAULT_IGNORE, DEFAULT_INCLUDE, FilesSettings
from pipeline.watcher.examine import Selection
from pipeline.watcher.model import WatchRoot

# Names and patterns from a small alphabet, so that they often match: wildcards,
# character classes (negated, ranges, unclosed), dots, case, and a separator-free
# mix of what file names hold.
NAME_CHARS = "abAB.-_~#0*?[]!^\\"
names = st.text(alphabet=NAME_CHARS, max_size=8)
patterns = st.lists(st.text(alphabet=NAME_CHARS, min_size=1, max_size=6), max_size=4)


def _reference_wants(include: list[str], ignore: list[str], name: str) -> bool:
    """The matching as it was written first: one fnmatchcase per pattern."""
    lowered = name.lower()
    if any(fnmatch.fnmatchcase(lowered, p.lower()) for p in ignore):
        return False
    return any(fnmatch.fnmatchcase(lowered, p.lower()) for p in include)


@given(include=patterns.filter(bool), ignore=patterns, name=names)
def test_wants_and_ignores_as_fnmatch_does(
    include: list[str], ignore: list[str], name: str
) -> None:
    compiled = NamePatterns(FilesSettings(include=tuple(include), ignore=tuple(ignore)))
    assert compiled.wants(name) == _reference_wants(include, ignore, name)
    assert compiled.ignores_directory(name) == any(
        fnmatch.fnmatchcase(name.lower(), p.lower()) for p in ignore
    )


@given(name=st.sampled_from(["a.fits", "A.FITS", "b.fits.gz", ".hidden.fits", "x.fits.tmp", "n"]))
def test_the_default_patterns_as_fnmatch_does(name: str) -> None:
    compiled = NamePatterns(FilesSettings())
    assert compiled.wants(name) == _reference_wants(
        list(DEFAULT_INCLUDE), list(DEFAULT_IGNORE), name
    )


def test_files_below_an_ignored_directory_are_refused_every_time(tmp_path: Path) -> None:
    root = WatchRoot.of(tmp_path)
    selection = Selection(NamePatterns(FilesSettings()))
    hidden, shown = tmp_path / "night" / ".partial", tmp_path / "night" / "done"
    for _ in range(3):  # the second and third answers come from what was remembered
        assert not selection.wants_file(str(hidden / "a.fits"), root)
        assert selection.wants_file(str(shown / "a.fits"), root)
        assert not selection.wants_file(str(shown / "a.txt"), root)
    assert not selection.wants_directory(str(hidden / "deeper"), root)
