"""FITS CHECKSUM / DATASUM: the 32-bit ones' complement sum of the standard.

DATASUM is the sum over an HDU's (padded) data as big-endian 32-bit words;
CHECKSUM is chosen so that the sum over the whole HDU, header included, is
negative zero (all ones). Verification therefore needs no encoding step.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pipeline.fits.cards import CardValue

__all__ = [
    "ChecksumStatus",
    "OnesComplementSum",
    "checksum_verdict",
    "combine",
    "encode_checksum",
    "sum32",
]

ChecksumStatus = str  # "ok" | "bad" | "absent"
_NEGATIVE_ZERO = 0xFFFFFFFF
_WORD = np.dtype(">u4")


def _fold(total: int) -> int:
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def sum32(data: bytes | memoryview) -> int:
    """Ones' complement sum of ``data`` (length a multiple of 4)."""
    words = np.frombuffer(data, dtype=_WORD)
    return _fold(int(words.sum(dtype=np.uint64)))


def combine(first: int, second: int) -> int:
    """Ones' complement sum of two partial sums."""
    return _fold(first + second)


class OnesComplementSum:
    """Accumulates the sum over pieces that need not be 4-byte aligned."""

    __slots__ = ("_carry", "total")

    def __init__(self) -> None:
        self.total = 0
        self._carry = b""

    def update(self, piece: bytes | memoryview) -> None:
        if self._carry:
            piece = self._carry + bytes(piece)
        usable = len(piece) - len(piece) % 4
        if usable:
            self.total = combine(self.total, sum32(piece[:usable]))
        self._carry = bytes(piece[usable:])


def checksum_verdict(
    values: Mapping[str, CardValue], header_sum: int, data_sum: int
) -> ChecksumStatus:
    """``ok``, ``bad`` or ``absent`` for one HDU's CHECKSUM and DATASUM cards."""
    checksum = values.get("CHECKSUM")
    datasum = values.get("DATASUM")
    if checksum is None and datasum is None:
        return "absent"
    if datasum is not None:
        try:
            claimed = int(str(datasum).strip())
        except ValueError:
            return "bad"
        if claimed != data_sum:
            return "bad"
    if checksum is not None and combine(header_sum, data_sum) != _NEGATIVE_ZERO:
        return "bad"
    return "ok"


# The punctuation between the digits and the letters that the encoding of the
# standard (A.7.2) steers around, in astropy's order: the order decides which
# equivalent string comes out, and astropy compares strings, not sums.
_PUNCTUATION = (0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F, 0x40, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F, 0x60)


def encode_checksum(total: int) -> str:
    """The CHECKSUM value for an HDU summing to ``total`` with CHECKSUM = 16 × '0'.

    Writing the returned string in place of the zeros makes the HDU sum to
    negative zero; the string is the one astropy and CFITSIO would write.
    """
    value = ~_fold(total) & _NEGATIVE_ZERO
    encoded = bytearray(16)
    for position, byte in enumerate(value.to_bytes(4, "big")):
        quotient, remainder = divmod(byte, 4)
        digits = [quotient + remainder + 0x30] + [quotient + 0x30] * 3
        _avoid_punctuation(digits)
        for row in range(4):
            encoded[4 * row + position] = digits[row]
    return (encoded[15:] + encoded[:15]).decode("ascii")


def _avoid_punctuation(digits: list[int]) -> None:
    changed = True
    while changed:
        changed = False
        for excluded in _PUNCTUATION:
            for pair in (0, 2):
                if excluded in (digits[pair], digits[pair + 1]):
                    # Moving one unit between the pair keeps the sum unchanged.
                    digits[pair] += 1
                    digits[pair + 1] -= 1
                    changed = True
