"""Sequential, bounded access to a file's FITS bytes.

A source reads its file front to back exactly once, in chunks: every raw byte
goes through SHA-256 (the product's identity) and, for gzip, through a
decompressor whose output is capped per call and in total. The reader above
asks for header blocks and skips data; memory stays at one chunk whatever
the file claims, and a deadline is checked on every chunk.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Iterator

from pipeline.errors import CorruptCompression, LimitExceeded, TruncatedFits
from pipeline.fits.inflate import INFLATE_ERRORS, Inflater, decompressobj

__all__ = ["ByteSource", "Deadline", "GzipSource", "PlainSource", "Sink"]

Sink = Callable[[memoryview], None]
GZIP_MAGIC = b"\x1f\x8b"


class Deadline:
    """The moment by which one file must be read; LimitExceeded after it."""

    __slots__ = ("_at", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self._at:
            raise LimitExceeded(
                f"reading took longer than max_seconds_per_file ({self.seconds:g} s)",
                details={"limit": "max_seconds_per_file", "value": self.seconds},
            )


class RawChunks:
    """Raw file chunks, each hashed as it is read."""

    def __init__(self, file: io.FileIO, chunk_bytes: int, deadline: Deadline) -> None:
        self._file = file
        self._chunk_bytes = chunk_bytes
        self.deadline = deadline
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0
        self._first: bytes | None = None

    def peek(self) -> bytes:
        """The first chunk, which iteration will still yield first."""
        if self._first is None:
            self._first = self._read()
        return self._first

    def _read(self) -> bytes:
        self.deadline.check()
        chunk = self._file.read(self._chunk_bytes)
        if chunk:
            self.sha256.update(chunk)
            self.bytes_read += len(chunk)
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        if self._first:
            yield self._first
        self._first = b""
        while True:
            chunk = self._read()
            if not chunk:
                return
            yield chunk


class ByteSource:
    """The logical (decompressed) byte stream of a file, read forwards once."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""
        self._offset = 0
        #: Offset of the next byte ``read`` will return.
        self.position = 0

    def _next_chunk(self) -> bytes | None:
        return next(self._chunks, None)

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; fewer only at the end of the stream."""
        available = len(self._pending) - self._offset
        if available >= size:
            start = self._offset
            self._offset += size
            self.position += size
            return self._pending[start : start + size]
        parts = [self._pending[self._offset :]]
        have = available
        self._pending, self._offset = b"", 0
        while have < size:
            chunk = self._next_chunk()
            if chunk is None:
                break
            need = size - have
            if len(chunk) > need:
                parts.append(chunk[:need])
                self._pending, self._offset = chunk, need
                have = size
                break
            parts.append(chunk)
            have += len(chunk)
        self.position += have
        return b"".join(parts)

    def read_buffered(self, size: int) -> memoryview:
        """Up to ``size`` bytes of those already held (none read, none inflated).

        A view, not a copy; :meth:`unread` gives back the end of it.
        """
        start = self._offset
        taken = min(size, len(self._pending) - start)
        self._offset += taken
        self.position += taken
        return memoryview(self._pending)[start : start + taken]

    def unread(self, size: int) -> None:
        """Give back the last ``size`` bytes :meth:`read_buffered` returned."""
        self._offset -= size
        self.position -= size

    def skip(self, size: int, sink: Sink | None = None) -> int:
        """Pass over ``size`` bytes (giving them to ``sink``); returns how many."""
        skipped = 0
        while skipped < size:
            if self._offset >= len(self._pending):
                chunk = self._next_chunk()
                if chunk is None:
                    break
                self._pending, self._offset = chunk, 0
            take = min(size - skipped, len(self._pending) - self._offset)
            if sink is not None:
                sink(memoryview(self._pending)[self._offset : self._offset + take])
            self._offset += take
            skipped += take
        self.position += skipped
        return skipped

    def drain(self) -> int:
        """Consume the rest of the stream; returns how many bytes there were."""
        return self.skip(1 << 62)


class PlainSource(ByteSource):
    """An uncompressed file: logical bytes are the raw bytes."""

    def __init__(self, raw: RawChunks) -> None:
        super().__init__(iter(raw))
        self.raw = raw


class GzipSource(ByteSource):
    """A gzip file (one or more members), inflated with a cap on total output."""

    def __init__(self, raw: RawChunks, max_inflated_bytes: int, chunk_bytes: int) -> None:
        self.raw = raw
        self._limit = max_inflated_bytes
        self._chunk_bytes = chunk_bytes
        self.inflated = 0
        super().__init__(self._inflate())

    def _inflate(self) -> Iterator[bytes]:
        decompressor = decompressobj(wbits=31)
        padding = False
        for data in self.raw:
            while data:
                if decompressor.eof:
                    if not data.strip(b"\0"):
                        padding = True  # zero padding after the last member is allowed
                        break
                    if padding or not data.startswith(GZIP_MAGIC[: len(data)]):
                        raise CorruptCompression(
                            "bytes after the end of the gzip stream are not another gzip member",
                            details={"compressed_offset": self.raw.bytes_read - len(data)},
                        )
                    decompressor = decompressobj(wbits=31)
                out = self._decompress(decompressor, data)
                if out:
                    yield self._count(out)
                data = (
                    decompressor.unused_data if decompressor.eof else decompressor.unconsumed_tail
                )
                while not data and not decompressor.eof:
                    # Output capped at chunk_bytes may still be held inside zlib.
                    out = self._decompress(decompressor, b"")
                    if not out:
                        break
                    yield self._count(out)
        if not decompressor.eof:
            raise TruncatedFits(
                "gzip stream ends before its end marker (file cut short)",
                details={"compressed_size": self.raw.bytes_read, "inflated": self.inflated},
            )

    def _decompress(self, decompressor: Inflater, data: bytes) -> bytes:
        try:
            return decompressor.decompress(data, self._chunk_bytes)
        except INFLATE_ERRORS as error:
            raise CorruptCompression(
                f"gzip stream is damaged: {error}",
                details={"compressed_offset": self.raw.bytes_read},
            ) from error

    def _count(self, out: bytes) -> bytes:
        # One raw chunk of a bomb inflates for seconds: the clock is checked
        # per inflated chunk too, not only per raw chunk read.
        self.raw.deadline.check()
        self.inflated += len(out)
        if self.inflated > self._limit:
            raise LimitExceeded(
                f"gzip content inflates beyond max_inflated_bytes ({self._limit} bytes)",
                details={"limit": "max_inflated_bytes", "value": self._limit},
            )
        return out
