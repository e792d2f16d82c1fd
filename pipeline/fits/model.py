"""What reading a FITS file yields: the file, its HDUs and their cards."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from pipeline.fits.cards import Card, CardValue
from pipeline.fits.structure import HduLayout

__all__ = ["FitsFile", "Hdu", "ReadWarning"]


class ReadWarning(NamedTuple):
    """A recorded oddity that did not stop the file being read."""

    code: str
    message: str
    hdu: int | None = None


@dataclass(frozen=True, slots=True)
class Hdu:
    """One header-data unit: where it lies, what it holds, its every card."""

    index: int
    layout: HduLayout
    cards: tuple[Card, ...]
    header_offset: int
    data_offset: int
    checksum: str  # "ok" | "bad" | "absent"

    @property
    def kind(self) -> str:
        return self.layout.kind

    @property
    def name(self) -> str | None:
        """EXTNAME (``PRIMARY`` for the primary HDU without one)."""
        for card in self.cards:
            if card.keyword == "EXTNAME" and isinstance(card.value, str):
                return card.value.strip() or None
        return "PRIMARY" if self.index == 0 else None

    def values(self) -> dict[str, CardValue]:
        """Keyword → value of the first card with that keyword."""
        found: dict[str, CardValue] = {}
        for card in self.cards:
            found.setdefault(card.keyword, card.value)
        return found


@dataclass(frozen=True, slots=True)
class FitsFile:
    """A file read completely: identity, structure and every header."""

    path: str
    size: int
    mtime: float
    sha256: str
    #: Exact modification time (the float ``mtime`` cannot hold nanoseconds).
    mtime_ns: int
    compression: str  # "none" | "gzip"
    hdus: tuple[Hdu, ...]
    warnings: tuple[ReadWarning, ...] = field(default=())

    @property
    def checksum(self) -> str:
        """``bad`` if any HDU's checksum fails, ``ok`` if any verified, else ``absent``."""
        verdicts = {hdu.checksum for hdu in self.hdus}
        if "bad" in verdicts:
            return "bad"
        return "ok" if "ok" in verdicts else "absent"
