"""A watch node: the watcher, admission into the outbox, and the reconciler.

The watcher's threads hand batches of complete files to admission, which runs
on this node's event loop (the database adapter lives there). A database or
broker outage does not lose what the watcher saw: admission is retried with
backoff until it succeeds or the node stops, holding the watcher back
meanwhile, and what is never admitted is found again by the next rescan.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import structlog

from pipeline import metrics
from pipeline.db import Database
from pipeline.errors import TransientError
from pipeline.outbox import Admission, Sender
from pipeline.reconciler import MessageInspector, Reconciler
from pipeline.settings import Settings
from pipeline.watcher import Watcher

__all__ = ["WatchNode"]

log = structlog.get_logger(__name__)
T = TypeVar("T")


class WatchNode:
    """Watcher + admission + reconciler, stopped by an asyncio event."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        sender: Sender,
        inspector: MessageInspector,
        roots: Sequence[str | Path],
        *,
        resend_on_start: bool = False,
    ) -> None:
        self.settings = settings
        self.roots = [Path(root).resolve() for root in roots]
        self.admission = Admission(db, sender, self.roots)
        self.reconciler = Reconciler(db, sender, inspector, settings.reconciler, self.roots)
        self.resend_on_start = resend_on_start
        self.watcher: Watcher | None = None
        self._stopping = threading.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then stop the watcher's threads."""
        loop = asyncio.get_running_loop()
        if self.resend_on_start:
            resent = await self.reconciler.resend_everything_unfinished()
            log.info("resent unfinished jobs from the last run", count=resent)
        self.watcher = Watcher(
            self.roots,
            self.settings.watch,
            self.settings.files,
            admit=lambda batch: self._call(loop, lambda: self.admission.admit(batch)),
            refuse=lambda path, error: self._call(loop, lambda: self.admission.refuse(path, error)),
        )
        metrics.track_watcher(self.watcher)
        await asyncio.to_thread(self.watcher.start)
        reconciling = asyncio.create_task(self.reconciler.run_forever(stop))
        log.info("watching", roots=[str(root) for root in self.roots])
        try:
            await stop.wait()
        finally:
            self._stopping.set()
            await asyncio.to_thread(self.watcher.stop)
            await reconciling

    def _call(self, loop: asyncio.AbstractEventLoop, work: Callable[[], Awaitable[T]]) -> T | None:
        """Run ``work`` on the node's loop from a watcher thread, retrying outages."""
        delay = 0.5
        while not self._stopping.is_set():
            future = asyncio.run_coroutine_threadsafe(_as_coroutine(work), loop)
            try:
                return future.result()
            except TransientError as error:
                log.warning(
                    "admission postponed", code=error.code, error=error.message, retry_in=delay
                )
            if self._stopping.wait(delay):
                break
            delay = min(delay * 2, 30.0)
        return None


async def _as_coroutine(work: Callable[[], Awaitable[T]]) -> T:
    return await work()
