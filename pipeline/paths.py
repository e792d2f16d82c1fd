"""Resolving and opening candidate files without being fooled by them.

A path is resolved through every symlink and must land inside one of the
roots it was found under; it is opened without blocking (a FIFO would
otherwise wait for a writer forever), and the open descriptor — not the name
— is checked to be a regular file.

:func:`open_within` (the reader's way in) opens first and asks the kernel
where the open descriptor lives (``/proc/self/fd``): one ``readlink``
instead of an ``lstat`` per path component, and what is checked against the
roots is the very file that is read, not a name that could be swapped in
between. Only a regular file is ever opened; anything else is judged by
name (:func:`resolve_within`) without opening it.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from pipeline.errors import FileMissing, FileUnreadable, NotRegularFile, OutsideRoot

__all__ = ["is_within", "open_regular", "open_within", "resolve_within"]

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def is_within(path: Path, root: Path) -> bool:
    """Whether resolved ``path`` is ``root`` or lies below it."""
    return path == root or root in path.parents


def resolve_within(path: str | os.PathLike[str], roots: Sequence[Path] | None) -> Path:
    """``path`` with every symlink resolved; OutsideRoot if it leaves ``roots``.

    ``roots`` must already be resolved; ``None`` means any location is allowed.
    """
    try:
        resolved = Path(path).resolve(strict=True)
    except FileNotFoundError as error:
        raise FileMissing(f"{path} does not exist", details={"path": str(path)}) from error
    except (OSError, RuntimeError) as error:  # symlink loop, permission
        raise FileUnreadable(
            f"{path} cannot be resolved: {error}", details={"path": str(path)}
        ) from error
    if roots is not None and not any(is_within(resolved, root) for root in roots):
        raise OutsideRoot(
            f"{path} resolves to {resolved}, outside the watched roots",
            details={
                "path": str(path),
                "resolved": str(resolved),
                "roots": [str(root) for root in roots],
            },
        )
    return resolved


def open_within(
    path: str | os.PathLike[str], roots: Sequence[Path] | None
) -> tuple[io.FileIO, os.stat_result]:
    """Open the regular file at ``path`` if it resolves inside ``roots``.

    Exactly ``open_regular(resolve_within(path, roots))`` — the same errors,
    the same precedence (a path escaping its roots is OutsideRoot even when
    it names a FIFO) — which is also what it falls back to for anything but
    a plain regular file whose descriptor the kernel can name.
    """
    try:
        status = os.stat(path)
    except OSError:
        status = None
    if status is None or not stat.S_ISREG(status.st_mode):
        return open_regular(resolve_within(path, roots))  # judged by name, never opened
    file, opened = _open_descriptor(path, _OPEN_FLAGS & ~os.O_NOFOLLOW)
    if (opened.st_dev, opened.st_ino) == (status.st_dev, status.st_ino) and (
        roots is None or _opened_within(file, roots)
    ):
        return file, opened
    file.close()  # swapped since stat, outside the roots, or no /proc: by name
    return open_regular(resolve_within(path, roots))


def _opened_within(file: io.FileIO, roots: Sequence[Path]) -> bool:
    try:
        where = os.readlink(f"/proc/self/fd/{file.fileno()}")
    except OSError:
        return False
    # Strings, not Paths: both sides are absolute and normalised (the kernel's
    # name for the descriptor; resolved roots), and this runs for every file.
    return any(where == str(root) or where.startswith(_as_prefix(root)) for root in roots)


def _as_prefix(root: Path) -> str:
    text = str(root)
    return text if text.endswith(os.sep) else text + os.sep


def open_regular(path: Path) -> tuple[io.FileIO, os.stat_result]:
    """Open ``path`` for reading; NotRegularFile for FIFOs, devices, directories."""
    with _translated(path):
        _require_regular(path, path.stat(follow_symlinks=False))
    return _open_descriptor(path, _OPEN_FLAGS)


@contextlib.contextmanager
def _translated(path: str | os.PathLike[str]) -> Iterator[None]:
    """The OSError of a stat or open as FileMissing or FileUnreadable."""
    try:
        yield
    except FileNotFoundError as error:
        raise FileMissing(f"{path} does not exist", details={"path": str(path)}) from error
    except PermissionError as error:
        raise FileUnreadable(
            f"{path} cannot be read: permission denied", details={"path": str(path)}
        ) from error
    except OSError as error:
        raise FileUnreadable(
            f"{path} cannot be opened: {error}", details={"path": str(path)}
        ) from error


def _open_descriptor(path: str | os.PathLike[str], flags: int) -> tuple[io.FileIO, os.stat_result]:
    """``os.open`` with the errors translated; the descriptor checked to be a regular file."""
    with _translated(path):
        descriptor = os.open(path, flags)
    status = os.fstat(descriptor)
    try:
        _require_regular(path, status)  # the name may have been swapped since stat()
    except NotRegularFile:
        os.close(descriptor)
        raise
    os.set_blocking(descriptor, True)
    return io.FileIO(descriptor, "rb", closefd=True), status


def _require_regular(path: str | os.PathLike[str], status: os.stat_result) -> None:
    if not stat.S_ISREG(status.st_mode):
        kind = _describe(status.st_mode)
        raise NotRegularFile(
            f"{path} is a {kind}, not a regular file", details={"path": str(path), "type": kind}
        )


def _describe(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"
