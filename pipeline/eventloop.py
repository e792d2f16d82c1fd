"""Running a service's event loop: uvloop where it is installed, asyncio's otherwise.

uvloop (libuv, in C) does the loop's own work — socket reads and writes,
callbacks, timers, wake-ups from other threads — for less CPU than
asyncio's selector loop. It is an optional speed-up: the behaviour is the
same on either loop. Every long-running service runs on it: the status API
(every request), ``fitsflow run`` (its loop's hand-offs to SQLite's, the
parsers' and Dramatiq's threads: ~5 % less CPU a file), ``fitsflow watch``
(no measurable difference, kept alike), and the distributed workers' loop
thread (``workers.loopthread``: their asyncpg round trips, ~4 % less).
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
