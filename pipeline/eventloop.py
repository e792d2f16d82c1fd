"""Running a service's event loop: uvloop where it is installed, asyncio's otherwise.

uvloop (libuv, in C) does the loop's own work — socket reads and writes,
callbacks, timers — for less CPU than asyncio's selector loop, which the
status API pays on every request. It is an optional speed-up: the behaviour
is the same on either loop. (Tried for ``fitsflow run`` too: no measurable
gain there, so it stays on asyncio's loop.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_loop"]

T = TypeVar("T")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new event loop, as ``asyncio.run`` does."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
