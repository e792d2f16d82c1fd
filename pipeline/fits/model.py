"""What reading a FITS file yields: the file, its HDUs and their cards."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from pipeline.fits.cards import Card, CardValue
from pipeline.fits.structure import HduLayout, first_values

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
    #: Keyword → value of its first card, built once (by the reader, which
    #: needs it anyway, or here) and shared: every lookup after that is free.
    keyword_values: Mapping[str, CardValue] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.keyword_values is None:
            object.__setattr__(self, "keyword_values", first_values(self.cards))

    @property
    def kind(self) -> str:
        return self.layout.kind

    @property
    def name(self) -> str | None:
        """EXTNAME (``PRIMARY`` for the primary HDU without one)."""
        extname = self.values().get("EXTNAME")
        if isinstance(extname, str):
            return extname.strip() or None
        if extname is not None or "EXTNAME" in self.values():
            # The first EXTNAME is not a string: the first one that is counts.
            for card in self.cards:
                if card.keyword == "EXTNAME" and isinstance(card.value, str):
                    return card.value.strip() or None
        return "PRIMARY" if self.index == 0 else None

    def values(self) -> Mapping[str, CardValue]:
        """Keyword → value of the first card with that keyword.

        The same map on every call, not a copy: read it, never change it (it
        is typed read-only; a MappingProxyType would make each ``get`` cost
        three times as much, and extraction makes dozens).
        """
        assert self.keyword_values is not None  # set in __post_init__
        return self.keyword_values


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
