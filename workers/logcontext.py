"""Every log line written while a worker handles a message names its job and file.

:class:`JobLogContext` binds ``job_id`` and ``path`` (the first two arguments
of every ingest message) into structlog's context variables before the
message is processed and clears them after it. Both fitsflow's own lines and
Dramatiq's stdlib lines (a retry scheduled, an unhandled exception) pass
through :mod:`pipeline.logs`, whose processors merge those variables, so they
all carry the two fields. The coroutine the actor runs on the event-loop
thread inherits them: asyncio copies the calling thread's context into the
task it schedules.

It must come first in the middleware list: Dramatiq runs ``before_*`` hooks
in list order and ``after_*`` hooks in reverse, so the context is bound
before any other middleware runs and cleared after every other one has
logged (Retries above all).
"""

from __future__ import annotations

from typing import Any

import dramatiq
import structlog
from dramatiq.middleware import Middleware

__all__ = ["JobLogContext"]

_FIELDS = ("job_id", "path")


class JobLogContext(Middleware):
    """Binds ``job_id`` and ``path`` around the processing of each message."""

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        args = tuple(message.args)
        if len(args) >= len(_FIELDS):
            structlog.contextvars.bind_contextvars(**dict(zip(_FIELDS, args, strict=False)))

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        structlog.contextvars.unbind_contextvars(*_FIELDS)

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        structlog.contextvars.unbind_contextvars(*_FIELDS)
