"""What an HDU's mandatory keywords say about its kind, shape and data size.

The data size is ``|BITPIX| / 8 × GCOUNT × (PCOUNT + NAXIS1 × … × NAXISn)``
(with NAXIS1 left out for random groups), padded to whole 2880-byte blocks.
Tile-compressed images are binary tables whose ``Z*`` keywords describe the
real image; both are recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import NamedTuple

from pipeline.errors import MalformedHeader
from pipeline.fits.cards import Card, CardValue
from pipeline.fits.native import native

__all__ = [
    "BLOCK_SIZE",
    "HduLayout",
    "describe_hdu",
    "first_values",
    "first_values_python",
    "padded",
]

BLOCK_SIZE = 2880
_BITPIX = frozenset({8, 16, 32, 64, -32, -64})
_MAX_NAXIS = 999


class HduLayout(NamedTuple):
    """The structural facts of one HDU, from its mandatory keywords."""

    # A NamedTuple, not a frozen dataclass: built for every HDU, and a frozen
    # dataclass's __init__ costs three times as much.

    kind: str
    bitpix: int
    naxis: tuple[int, ...]
    data_size: int
    #: For tile-compressed images: the image's own BITPIX and axes.
    image_bitpix: int | None = None
    image_naxis: tuple[int, ...] | None = None
    compression: str | None = None

    @property
    def padded_data_size(self) -> int:
        return padded(self.data_size)

    @property
    def science_bitpix(self) -> int:
        """The BITPIX a user sees (the image's, for a compressed image)."""
        return self.image_bitpix if self.image_bitpix is not None else self.bitpix

    @property
    def science_naxis(self) -> tuple[int, ...]:
        """The axes a user sees, FITS order (NAXIS1 first)."""
        return self.image_naxis if self.image_naxis is not None else self.naxis


def padded(size: int) -> int:
    """``size`` rounded up to whole FITS blocks."""
    return -(-size // BLOCK_SIZE) * BLOCK_SIZE


def first_values_python(cards: Sequence[Card]) -> dict[str, CardValue]:
    """Keyword → value of its first occurrence, as ``astropy`` ``header[k]``."""
    # Later cards first, so that earlier ones overwrite them: one C-level
    # comprehension instead of a setdefault call per card.
    return {card[0]: card[1] for card in reversed(cards)}


#: Keyword → value of its first occurrence, as ``astropy`` ``header[k]``:
#: :func:`first_values_python`, or its compiled twin (same dict, same key
#: order; twice as fast on a thousand-card header).
first_values: Callable[[Sequence[Card]], dict[str, CardValue]] = (
    first_values_python if native is None else native.first_values
)


def describe_hdu(values: Mapping[str, CardValue], index: int) -> HduLayout:
    """Read the mandatory keywords of HDU ``index``; MalformedHeader if unusable."""
    bitpix = _integer(values, "BITPIX", index)
    if bitpix not in _BITPIX:
        raise MalformedHeader(
            f"HDU {index}: BITPIX = {bitpix} is not one of 8, 16, 32, 64, -32, -64",
            details={"hdu": index, "keyword": "BITPIX"},
        )
    naxis_count = _integer(values, "NAXIS", index)
    if not 0 <= naxis_count <= _MAX_NAXIS:
        raise MalformedHeader(
            f"HDU {index}: NAXIS = {naxis_count} is outside 0..999",
            details={"hdu": index, "keyword": "NAXIS"},
        )
    naxis = _integers(values, _axis_names("NAXIS", naxis_count), index)
    if naxis and min(naxis) < 0:
        raise MalformedHeader(f"HDU {index}: negative axis length {naxis}", details={"hdu": index})
    if index == 0:
        kind = "primary"
        groups = values.get("GROUPS") is True and naxis_count > 0 and naxis[0] == 0
        pcount = _integer(values, "PCOUNT", index, default=0) if groups else 0
        gcount = _integer(values, "GCOUNT", index, default=1) if groups else 1
        if groups:
            kind = "random_groups"
    else:
        xtension = values.get("XTENSION")
        kind = xtension.strip().lower() if isinstance(xtension, str) else "unknown"
        groups = False
        pcount = _integer(values, "PCOUNT", index, default=0)
        gcount = _integer(values, "GCOUNT", index, default=1)
    if pcount < 0 or gcount < 0:
        raise MalformedHeader(
            f"HDU {index}: PCOUNT/GCOUNT must not be negative", details={"hdu": index}
        )
    elements = 0
    if naxis_count:
        elements = 1
        for length in naxis[1:] if groups else naxis:
            elements *= length
    data_size = abs(bitpix) // 8 * gcount * (pcount + elements) if naxis_count else 0
    if kind == "bintable" and values.get("ZIMAGE") is True:
        return _compressed_image(values, index, bitpix, naxis, data_size)
    return HduLayout(kind=kind, bitpix=bitpix, naxis=naxis, data_size=data_size)


def _compressed_image(
    values: Mapping[str, CardValue],
    index: int,
    bitpix: int,
    naxis: tuple[int, ...],
    data_size: int,
) -> HduLayout:
    image_bitpix = _integer(values, "ZBITPIX", index)
    count = _integer(values, "ZNAXIS", index)
    if not 0 <= count <= _MAX_NAXIS:
        raise MalformedHeader(
            f"HDU {index}: ZNAXIS = {count} is outside 0..999", details={"hdu": index}
        )
    image_naxis = _integers(values, _axis_names("ZNAXIS", count), index)
    algorithm = values.get("ZCMPTYPE")
    return HduLayout(
        kind="compressed_image",
        bitpix=bitpix,
        naxis=naxis,
        data_size=data_size,
        image_bitpix=image_bitpix,
        image_naxis=image_naxis,
        compression=algorithm.strip() if isinstance(algorithm, str) else None,
    )


@cache
def _axis_names(prefix: str, count: int) -> tuple[str, ...]:
    """``NAXIS1`` … ``NAXISn`` (or ``ZNAXISi``), built once per count."""
    return tuple(f"{prefix}{n}" for n in range(1, count + 1))


def _integers(
    values: Mapping[str, CardValue], keywords: tuple[str, ...], index: int
) -> tuple[int, ...]:
    """Each of ``keywords``' integer value; MalformedHeader names the first that is not."""
    found = tuple(map(values.get, keywords))
    if all(type(value) is int for value in found):
        return found  # type: ignore[return-value]  # checked just above
    return tuple(_integer(values, keyword, index) for keyword in keywords)


def _integer(
    values: Mapping[str, CardValue], keyword: str, index: int, default: int | None = None
) -> int:
    value = values.get(keyword, default)
    if type(value) is int:  # the usual case, first
        return value
    if value is None:
        raise MalformedHeader(
            f"HDU {index}: mandatory keyword {keyword} is missing",
            details={"hdu": index, "keyword": keyword},
        )
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedHeader(
            f"HDU {index}: {keyword} = {value!r} is not an integer",
            details={"hdu": index, "keyword": keyword},
        )
    return value
