"""Judging one path found under a root: a file to offer, a path to refuse, or nothing.

Paths reach here from the watcher's own walk and from inotify watches, neither
of which descends through a symlinked directory, so only a final symlink can
lead outside the root: that one is resolved with
:func:`pipeline.paths.resolve_within`. Nothing is opened (a FIFO would block,
and reading is the worker's business); the file type comes from ``lstat``.
"""

from __future__ import annotations

import os
import stat

from pipeline.errors import FileMissing, FileUnreadable, NotRegularFile, OutsideRoot
from pipeline.ingest.candidates import NamePatterns
from pipeline.paths import resolve_within
from pipeline.watcher.model import Reason, Refusal, SeenFile, WatchRoot

__all__ = ["Examined", "Selection", "examine"]

Examined = SeenFile | Refusal | None

#: Directories whose verdict :class:`Selection` keeps (then it starts again).
_DIRECTORIES_REMEMBERED = 4096

_KINDS = (
    (stat.S_ISDIR, "directory"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


class Selection:
    """Which paths under a root are candidates.

    The include/ignore patterns apply to the file name (case-insensitively,
    see :class:`~pipeline.ingest.candidates.NamePatterns`); a path below an
    ignored (hidden, temporary) directory is never a candidate.
    """

    def __init__(self, patterns: NamePatterns) -> None:
        self.patterns = patterns
        # Whether a directory lies below an ignored one never changes: files
        # arrive by the thousand in a few directories, so it is decided once.
        self._below_ignored_dirs: dict[tuple[str, str], bool] = {}

    def wants_file(self, path: str, root: WatchRoot) -> bool:
        """Whether ``path`` under ``root`` is named like a candidate, outside ignored dirs."""
        return self.patterns.wants(os.path.basename(path)) and not self._below_ignored(path, root)

    def wants_directory(self, path: str, root: WatchRoot) -> bool:
        """Whether directory ``path`` under ``root`` may be descended into."""
        name = os.path.basename(path)
        return not self.patterns.ignores_directory(name) and not self._below_ignored(path, root)

    def _below_ignored(self, path: str, root: WatchRoot) -> bool:
        key = (root.text, os.path.dirname(path))
        known = self._below_ignored_dirs.get(key)
        if known is None:
            if len(self._below_ignored_dirs) >= _DIRECTORIES_REMEMBERED:
                self._below_ignored_dirs.clear()
            known = any(self.patterns.ignores_directory(d) for d in root.directories_between(path))
            self._below_ignored_dirs[key] = known
        return known


def examine(
    path: str, root: WatchRoot, reason: Reason, status: os.stat_result | None = None
) -> Examined:
    """What ``path`` is now; ``status`` is its ``lstat`` when the caller has it.

    None when the path is gone, or is a dangling symlink (its target may yet
    appear; a rescan looks again).
    """
    if status is None:
        try:
            status = os.lstat(path)
        except OSError:
            return None
    if stat.S_ISLNK(status.st_mode):
        return _examine_link(path, root, reason)
    if not stat.S_ISREG(status.st_mode):
        return _not_regular(path, status, ())
    return SeenFile(path, root.path, status.st_size, status.st_mtime_ns, reason)


def _examine_link(path: str, root: WatchRoot, reason: Reason) -> Examined:
    try:
        link = os.readlink(path)
        resolved = resolve_within(path, (root.path,))
        status = os.stat(resolved)
    except FileMissing:
        return None
    except (OutsideRoot, FileUnreadable) as error:
        return Refusal(path, error, (error.code, link))
    except OSError:
        return None  # the link or its target went away between the calls above
    if not stat.S_ISREG(status.st_mode):
        return _not_regular(path, status, (link,))
    return SeenFile(path, root.path, status.st_size, status.st_mtime_ns, reason)


def _not_regular(path: str, status: os.stat_result, link: tuple[str, ...]) -> Refusal:
    kind = next((name for test, name in _KINDS if test(status.st_mode)), "special file")
    error = NotRegularFile(
        f"{path} is a {kind}, not a regular file", details={"path": path, "type": kind}
    )
    state = (error.code, *link, status.st_dev, status.st_ino, stat.S_IFMT(status.st_mode))
    return Refusal(path, error, state)
