"""Moving permanently failed files aside, into a tree that mirrors their root.

Off unless ``worker.quarantine_dir`` is set: by default a bad file is left
exactly where and as it was.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import structlog

__all__ = ["move_to_quarantine", "quarantine_target"]

log = structlog.get_logger(__name__)


def quarantine_target(path: str, root: Path | None, quarantine_dir: str) -> Path:
    """Where ``path`` goes: its path relative to ``root``, under ``quarantine_dir``."""
    relative = Path(path).relative_to(root) if root else Path(path.lstrip(os.sep))
    return Path(quarantine_dir) / relative


def move_to_quarantine(path: str, target: Path) -> bool:
    """Move ``path`` to ``target`` (never overwriting); False if it could not be moved."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target = target.with_name(f"{target.name}.{os.getpid()}-{os.urandom(3).hex()}")
        shutil.move(path, target)
    except OSError as error:
        log.warning("could not quarantine file", path=path, target=str(target), error=str(error))
        return False
    log.info("file quarantined", path=path, target=str(target))
    return True
