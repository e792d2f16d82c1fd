"""What the endpoints work with: the caller's database, broker probe and settings."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.api.probe import BrokerProbe
from pipeline.db import Database
from pipeline.outbox import Sender
from pipeline.settings import Settings

__all__ = ["StatusContext"]


@dataclass(frozen=True, slots=True)
class StatusContext:
    """Shared by every request of one app; the app opens and closes none of it."""

    database: Database
    broker: BrokerProbe
    settings: Settings
    #: Puts retry and scan messages on the queue; None: those endpoints answer 503.
    sender: Sender | None = None
