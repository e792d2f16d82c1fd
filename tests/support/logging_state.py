"""Every test starts with the logging set-up the one before it found.

Commands run in-process (Typer's ``CliRunner``) configure structlog and the
root logger for their own streams — at WARNING by default, which silences
``log.info``. Left in place, that set-up would leak into every later test
and hide the INFO lines ``structlog.testing.capture_logs`` is asked to see.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def logging_restored() -> Iterator[None]:
    """Put structlog's configuration and the root logger back after each test."""
    structlog_config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**structlog_config)
    root.handlers[:] = handlers
    root.setLevel(level)
