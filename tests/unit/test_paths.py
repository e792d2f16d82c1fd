"""open_within: the reader's fast way in judges exactly as resolve-then-open does.

It asks the kernel where the opened descriptor lives instead of resolving
the name component by component; every case where that could differ — a
symlink chain, an escape through a directory symlink, a FIFO outside the
root, a file swapped between stat and open, no /proc — must give what
``open_regular(resolve_within(path, roots))`` gives.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from pipeline.errors import FileMissing, FileUnreadable, FitsflowError, NotRegularFile, OutsideRoot
from pipeline.paths import open_regular, open_within, resolve_within

Opener = Callable[[Path, Sequence[Path] | None], object]


def _by_name(path: Path, roots: Sequence[Path] | None) -> object:
    file, status = open_regular(resolve_within(path, roots))
    with file:
        return (file.read(), status.st_ino)


def _fast(path: Path, roots: Sequence[Path] | None) -> object:
    file, status = open_within(path, roots)
    with file:
        return (file.read(), status.st_ino)


def _outcome(opener: Opener, path: Path, roots: Sequence[Path] | None) -> object:
    try:
        return opener(path, roots)
    except FitsflowError as error:
        return (type(error), error.code, error.details.get("resolved"))


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """``root`` (watched) and ``elsewhere`` with files, links and a FIFO in both."""
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    (root / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    (root / "inside.fits").write_bytes(b"inside")
    (root / "sub" / "deep.fits").write_bytes(b"deep")
    (elsewhere / "outside.fits").write_bytes(b"outside")
    os.mkfifo(root / "pipe.fits")
    os.mkfifo(elsewhere / "pipe.fits")
    (root / "alias.fits").symlink_to(root / "inside.fits")
    (root / "chain.fits").symlink_to("alias.fits")
    (root / "escape.fits").symlink_to(elsewhere / "outside.fits")
    (root / "out-dir").symlink_to(elsewhere)
    (root / "pipe-out.fits").symlink_to(elsewhere / "pipe.fits")
    (root / "dangling.fits").symlink_to(root / "nothing.fits")
    (root / "loop.fits").symlink_to("loop.fits")
    (root / "dir.fits").mkdir()
    return root, elsewhere


CASES = [
    "inside.fits",
    "sub/deep.fits",
    "alias.fits",
    "chain.fits",
    "escape.fits",
    "out-dir/outside.fits",
    "sub/../inside.fits",
    "../elsewhere/outside.fits",
    "pipe.fits",
    "pipe-out.fits",
    "out-dir/pipe.fits",
    "dangling.fits",
    "loop.fits",
    "dir.fits",
    "missing.fits",
]


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("confined", [True, False], ids=["roots", "anywhere"])
def test_the_same_outcome_as_resolving_the_name_first(
    tree: tuple[Path, Path], name: str, confined: bool
) -> None:
    root, _ = tree
    roots = [root.resolve()] if confined else None
    expected = _outcome(_by_name, root / name, roots)
    assert _outcome(_fast, root / name, roots) == expected


def test_the_outcomes_are_the_ones_each_case_calls_for(tree: tuple[Path, Path]) -> None:
    root, elsewhere = tree
    roots = [root.resolve()]
    kinds = {name: _outcome(_fast, root / name, roots) for name in CASES}
    assert kinds["chain.fits"] == (b"inside", (root / "inside.fits").stat().st_ino)
    assert kinds["escape.fits"][:2] == (OutsideRoot, "outside_root")  # type: ignore[index]
    assert kinds["escape.fits"][2] == str((elsewhere / "outside.fits").resolve())  # type: ignore[index]
    assert kinds["pipe-out.fits"][:2] == (OutsideRoot, "outside_root")  # type: ignore[index]
    assert kinds["pipe.fits"][0] is NotRegularFile  # type: ignore[index]
    assert kinds["dir.fits"][0] is NotRegularFile  # type: ignore[index]
    assert kinds["dangling.fits"][0] is FileMissing  # type: ignore[index]
    assert kinds["loop.fits"][0] is FileUnreadable  # type: ignore[index]


def test_a_file_swapped_after_stat_is_judged_by_its_name(
    tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, elsewhere = tree
    target = root / "swapped.fits"
    target.write_bytes(b"first")
    real_stat = os.stat
    swapped: list[bool] = []

    def stat_then_swap(path: object, *args: object, **kwargs: object) -> os.stat_result:
        status = real_stat(path, *args, **kwargs)  # type: ignore[arg-type]
        if not swapped and str(path) == str(target):
            swapped.append(True)
            os.unlink(target)
            os.symlink(elsewhere / "outside.fits", target)  # now it escapes
        return status

    monkeypatch.setattr("pipeline.paths.os.stat", stat_then_swap)
    with pytest.raises(OutsideRoot):
        open_within(target, [root.resolve()])
    assert swapped


def test_without_proc_the_name_is_resolved_instead(
    tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = tree
    real_readlink = os.readlink

    def no_proc(path: str, *args: object, **kwargs: object) -> str:
        if str(path).startswith("/proc/"):
            raise FileNotFoundError(path)
        return real_readlink(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("pipeline.paths.os.readlink", no_proc)
    roots = [root.resolve()]
    for name in ("inside.fits", "chain.fits", "escape.fits", "out-dir/outside.fits"):
        assert _outcome(_fast, root / name, roots) == _outcome(_by_name, root / name, roots)


def test_a_root_is_a_directory_not_a_name_prefix(tree: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = tree
    sibling = tmp_path / "root-sibling"  # shares the root's name as a prefix
    sibling.mkdir()
    (sibling / "x.fits").write_bytes(b"x")
    with pytest.raises(OutsideRoot):
        open_within(sibling / "x.fits", [root.resolve()])
    file, _ = open_within(sibling / "x.fits", [Path("/")])  # the filesystem root holds all
    file.close()
