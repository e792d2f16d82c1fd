"""Dramatiq's AsyncIO middleware with its loop thread on uvloop.

A distributed worker's async actors all run on one event-loop thread that
Dramatiq starts: every file's database round trips (asyncpg over TCP) and
every hand-off from a worker thread to the loop (a wake-up write to the
loop's self-pipe) are that loop's work. On uvloop (libuv, in C) they cost
less Python than on asyncio's selector loop (``pipeline.eventloop``; asyncio's
loop where uvloop is not installed). Everything else is Dramatiq's own.
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.asyncio import EventLoopThread, set_event_loop_thread
from dramatiq.middleware import AsyncIO

from pipeline.eventloop import new_event_loop

__all__ = ["FastLoopAsyncIO"]

#: How long the loop thread may take to start (Dramatiq's own value).
START_TIMEOUT_SECONDS = 1.0


class FastLoopAsyncIO(AsyncIO):
    """``AsyncIO`` whose loop thread runs ``pipeline.eventloop.new_event_loop()``."""

    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        thread = EventLoopThread(self.logger)
        thread.loop.close()  # the asyncio loop it made, never run
        thread.loop = new_event_loop()
        thread.start(timeout=START_TIMEOUT_SECONDS)
        set_event_loop_thread(thread)
