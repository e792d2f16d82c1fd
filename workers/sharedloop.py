"""Async actors on a loop someone else runs: the embedded process's own loop.

Dramatiq's AsyncIO middleware starts an event-loop thread of its own. In the
embedded ``fitsflow run`` that would be a second loop beside the one running
the watcher's admission, the reconciler and the API, and so a second database
adapter: two SQLite writers in one process, waiting on each other through
SQLite's busy sleeps. This middleware points Dramatiq at the main loop
instead, so every part of the process shares one adapter and its one writer
lock.
"""

from __future__ import annotations

import asyncio
from typing import Any

import dramatiq
from dramatiq.asyncio import EventLoopThread, set_event_loop_thread
from dramatiq.logging import get_logger
from dramatiq.middleware import Middleware

__all__ = ["SharedLoop"]


class SharedLoop(Middleware):
    """Run async actors' coroutines on ``loop`` (which the caller keeps running)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.logger = get_logger(__name__, type(self))  # type: ignore[no-untyped-call]

    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        # EventLoopThread's run_coroutine (with its interrupt handling) is what
        # actors call; it only needs `.loop`. The thread itself never starts.
        handle = EventLoopThread(self.logger)
        handle.loop.close()
        handle.loop = self.loop
        set_event_loop_thread(handle)

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        set_event_loop_thread(None)
