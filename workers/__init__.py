"""Dramatiq broker set-up, middleware and the ingest actor.

Importing this package installs the broker chosen by the settings (the TOML
file, ``FITSFLOW_BROKER_URL`` …) with the ingest actor declared on it, so the
standard Dramatiq CLI works on it directly::

    dramatiq workers --processes 2 --threads 4

``fitsflow worker`` runs exactly that, after turning its flags into settings.
"""

from __future__ import annotations

import structlog

from pipeline.collector import tune_collector
from pipeline.logs import configure_logging
from pipeline.settings import load_settings
from workers.runtime import current, install

__all__ = ["broker", "runtime"]

_settings = load_settings()
if not structlog.is_configured():  # a fitsflow command importing this has set it up already
    configure_logging(_settings.logging.level, _settings.logging.format)
runtime = install(_settings)
broker = runtime.broker
tune_collector()  # each worker process imports this package once, at start
_ = current
