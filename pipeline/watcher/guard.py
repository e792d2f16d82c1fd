"""The outermost boundary of every watcher thread.

A watcher thread must outlive a defect met on one path (or an ``admit``
callback that raises something unexpected): the failure is logged with its
traceback and the thread goes on with the next unit of work. This is the one
place in the watcher that catches ``Exception``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import structlog

__all__ = ["guarded"]

log = structlog.get_logger(__name__)

T = TypeVar("T")


def guarded(step: Callable[[], T], thread: str) -> T | None:
    """``step()``, or None after logging whatever it raised."""
    try:
        return step()
    except Exception:  # the thread's outermost boundary: log and go on
        log.exception("watcher step failed; continuing", thread=thread)
        return None
