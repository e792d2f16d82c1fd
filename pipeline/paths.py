"""Resolving and opening candidate files without being fooled by them.

A path is resolved through every symlink and must land inside one of the
roots it was found under; it is opened without following a final symlink and
without blocking (a FIFO would otherwise wait for a writer forever), and the
open descriptor — not the name — is checked to be a regular file.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from pipeline.errors import FileMissing, FileUnreadable, NotRegularFile, OutsideRoot

__all__ = ["is_within", "open_regular", "resolve_within"]

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


def open_regular(path: Path) -> tuple[io.FileIO, os.stat_result]:
    """Open ``path`` for reading; NotRegularFile for FIFOs, devices, directories."""
    try:
        _require_regular(path, path.stat(follow_symlinks=False))
        descriptor = os.open(path, _OPEN_FLAGS)
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
    status = os.fstat(descriptor)
    try:
        _require_regular(path, status)  # the name may have been swapped since stat()
    except NotRegularFile:
        os.close(descriptor)
        raise
    os.set_blocking(descriptor, True)
    return io.FileIO(descriptor, "rb", closefd=True), status


def _require_regular(path: Path, status: os.stat_result) -> None:
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
