"""The status API: a thin, read-only HTTP view of the pipeline.

``create_app(database, broker, settings=...)`` builds the FastAPI app over a
database and a :class:`BrokerProbe` the caller owns; :class:`ApiServer` (or
:func:`serve`) runs it with uvicorn inside the caller's event loop.
:func:`build_summary` is shared with ``fitsflow status``.

FastAPI and uvicorn are imported only when the app or the server is asked
for: every ``fitsflow`` command imports this package (``status`` shares the
summary), and most never serve HTTP.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pipeline.api.probe import BrokerProbe, NullBrokerProbe, QueueDepth, probe_for
from pipeline.api.summary import build_summary

if TYPE_CHECKING:
    from pipeline.api.app import create_app
    from pipeline.api.server import ApiServer, serve

__all__ = [
    "ApiServer",
    "BrokerProbe",
    "NullBrokerProbe",
    "QueueDepth",
    "build_summary",
    "create_app",
    "probe_for",
    "serve",
]

_LAZY = {
    "create_app": "pipeline.api.app",
    "ApiServer": "pipeline.api.server",
    "serve": "pipeline.api.server",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
