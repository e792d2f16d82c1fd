"""Running a service's event loop: uvloop where it is installed, asyncio's otherwise.

uvloop (libuv, in C) makes the loop's own work — socket reads and writes,
callbacks, timers — several times cheaper than asyncio's selector loop; the
status API spends a large share of each request there. It is an optional
speed-up: the behaviour is the same on either loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_loop", "uvloop_available"]

T = TypeVar("T")


def uvloop_available() -> bool:
    """Whether :func:`run_loop` will run on uvloop."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new event loop, as ``asyncio.run`` does."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
