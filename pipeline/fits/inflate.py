"""The gzip inflater the reader uses: zlib-ng where installed, else zlib.

``zlib_ng`` (python-zlib-ng, a dependency) has the standard module's API and
inflates the same streams to the same bytes about twice as fast: ~31 µs
instead of ~64 µs for a 9 KB ``.fits.gz`` of the benchmark corpus, a fifth
of reading such a file (``docs/benchmarks.md``). The standard module stays
the fallback, so a platform without a zlib-ng wheel still reads gzip files.
"""

from __future__ import annotations

import zlib
from typing import Any, Protocol

__all__ = ["INFLATE_ERRORS", "Inflater", "decompressobj", "implementation"]


class Inflater(Protocol):
    """What the reader uses of a decompression object (``zlib.Decompress``)."""

    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    @property
    def unconsumed_tail(self) -> bytes: ...
    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


_module: Any
try:
    from zlib_ng import zlib_ng as _module
except ImportError:  # no wheel for this platform: the standard library's
    _module = zlib

#: The errors a damaged stream raises (zlib-ng has an ``error`` of its own).
INFLATE_ERRORS: tuple[type[Exception], ...] = tuple({zlib.error, _module.error})
#: Which module inflates: "zlib_ng" or "zlib".
implementation: str = _module.__name__.rpartition(".")[2]


def decompressobj(wbits: int) -> Inflater:
    """A decompression object for ``wbits`` (31: one gzip member)."""
    inflater: Inflater = _module.decompressobj(wbits=wbits)
    return inflater
