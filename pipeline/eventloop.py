"""Running a service's event loop: uvloop where it is installed, asyncio's otherwise.

uvloop (libuv, in C) does the loop's own work — socket reads and writes,
callbacks, timers — for less CPU than asyncio's selector loop, which the
status API pays on every request. It is an optional speed-up: the behaviour
is the same on either loop. (Tried for ``fitsflow run`` too: no measurable
gain there, so it stays on asyncio's loop.) The distributed workers' loop
thread runs on it too (``workers.loopthread``): their asyncpg round trips
and the worker threads' hand-offs are the loop's socket and wake-up work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["new_event_loop", "run_loop"]

T = TypeVar("T")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new event loop, as ``asyncio.run`` does."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop, not running: uvloop's where installed, asyncio's otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
