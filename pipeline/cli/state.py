"""Options given before the sub-command (``fitsflow --log-level DEBUG run …``)."""

from __future__ import annotations

from pipeline.logs import configure_logging
from pipeline.settings import Settings

__all__ = ["configure_for", "set_log_level"]

_log_level: str | None = None


def set_log_level(level: str | None) -> None:
    global _log_level
    _log_level = level
    configure_logging(level or "WARNING")


def configure_for(settings: Settings, *, service: bool) -> None:
    """Logging for a command: services log at the configured level, one-shot
    commands only warnings, unless ``--log-level`` was given."""
    default = settings.logging.level if service else "WARNING"
    configure_logging(_log_level or default, settings.logging.format)
