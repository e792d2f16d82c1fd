"""structlog set-up: readable lines on a terminal, JSON lines everywhere else.

One renderer for every line a fitsflow process writes: structlog's own, and
the standard library's (Dramatiq, uvicorn, asyncio, alembic) through a
:class:`~structlog.stdlib.ProcessorFormatter` on the root logger. Both merge
structlog's context variables, so what a worker binds for a job (``job_id``,
``path``: :mod:`workers.logcontext`) is on Dramatiq's lines about it too.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

__all__ = ["StderrHandler", "configure_logging"]

LogFormat = Literal["auto", "console", "json"]


def _stderr_logger(*_args: object) -> structlog.WriteLogger:
    # Whatever sys.stderr is now (tests and embedding programs swap it), not
    # the stream that happened to be there when logging was configured.
    # WriteLogger writes line and newline in one call (PrintLogger's print()
    # makes two): Dramatiq relays each write of a worker process to its
    # parent as one message, so two processes' lines could be glued together.
    return structlog.WriteLogger(sys.stderr)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to whatever ``sys.stderr`` is at each line.

    Dramatiq's worker processes replace ``sys.stderr`` with a pipe to their
    parent after they inherit (fork) the parent's logging set-up; a handler
    holding the parent's stream would bypass that pipe.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        return None


def configure_logging(level: str = "INFO", fmt: LogFormat | str = "auto") -> None:
    """Route structlog and the standard library's logging to stderr.

    ``auto`` picks console output when stderr is a terminal and JSON lines
    otherwise (what log shippers want from a service).
    """
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    # Lines from the standard library also say which logger wrote them
    # (dramatiq.worker..., uvicorn.error) and render a traceback as text.
    foreign: list[structlog.types.Processor] = [
        *shared,
        structlog.stdlib.add_logger_name,
        structlog.processors.format_exc_info,
    ]
    handler = StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=foreign, processor=renderer)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Python warnings (astropy's, deprecations) would otherwise be printed as
    # bare text between the JSON lines.
    logging.captureWarnings(True)
