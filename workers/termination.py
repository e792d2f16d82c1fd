"""One SIGTERM stops a worker process once, however many copies of it arrive.

A service manager that signals the whole process group (systemd's default
``KillMode=control-group``, ``kill -TERM -PGID``, supervisord's
``stopasgroup``) reaches each of Dramatiq's worker processes twice: directly,
and again through Dramatiq's parent, which forwards every signal it gets to
its children. Dramatiq (2.2) takes a second SIGTERM as "kill now" and calls
``sys.exit`` in the worker process's main thread: if that lands after the
first was handled, the process leaves its main function without stopping the
worker, and then waits forever for the worker's own threads, which are not
daemons — the stop hangs until someone sends SIGKILL. Whether the copy is
handled after the first is a matter of microseconds: SIGTERM to the group of
an idle ``fitsflow worker --processes 1`` hung it in 6 of 6 runs at 64 and
128 threads a process.

:class:`RepeatedTermination` wraps Dramatiq's handler once the process has
booted: the first SIGTERM goes to Dramatiq (a clean stop: jobs in flight
finish or are released); another within :data:`DUPLICATE_WINDOW_SECONDS` is
the same request and is ignored; a later one means what Dramatiq meant —
stop now — and the process exits at once (``os._exit``), its messages left
unacknowledged for the broker to deliver again.
"""

from __future__ import annotations

import os
import signal
import time
from types import FrameType
from typing import Final

import dramatiq
import structlog
from dramatiq.middleware import Middleware

__all__ = ["DUPLICATE_WINDOW_SECONDS", "RepeatedTermination"]

log = structlog.get_logger(__name__)

#: A SIGTERM this soon after the first is a copy of it (the group's and the
#: parent's forward arrive within milliseconds of each other).
DUPLICATE_WINDOW_SECONDS: Final = 5.0


class RepeatedTermination(Middleware):
    """In each worker process: Dramatiq's SIGTERM handler, taken once."""

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        """Wrap the handler Dramatiq's ``worker_process`` installed (main thread)."""
        dramatiq_handler = signal.getsignal(signal.SIGTERM)
        if not callable(dramatiq_handler):
            return
        first: float | None = None

        def handler(signum: int, frame: FrameType | None) -> None:
            nonlocal first
            now = time.monotonic()
            if first is None:
                first = now
                dramatiq_handler(signum, frame)
            elif now - first < DUPLICATE_WINDOW_SECONDS:
                log.info("SIGTERM again while stopping: the same request, ignored")
            else:
                # Loaded already in a worker process, which Dramatiq's CLI runs.
                from dramatiq.cli import RET_KILLED

                log.warning("SIGTERM again while stopping: exiting now")
                os._exit(RET_KILLED)  # Dramatiq's own code for a killed worker process

        signal.signal(signal.SIGTERM, handler)
