"""The one error tree of fitsflow.

Every failure that fitsflow reports carries a stable ``code`` (what scripts,
dashboards and the ``jobs.error_code`` column key on) and an HTTP status (what
the status API answers with). Classification is by class, never by message::

    FitsflowError                      code           http
    ├── TransientError                 (retried with backoff)
    │   ├── DatabaseUnavailable        database_unavailable   503
    │   ├── DatabaseBusy               database_busy          503
    │   ├── PoolExhausted              pool_exhausted         503
    │   ├── SerializationFailure       serialization_failure  503
    │   ├── BrokerUnavailable          broker_unavailable     503
    │   ├── FileNotComplete            file_not_complete      409
    │   ├── WorkerStopping             worker_stopping        503
    │   └── ReaderCrashed              reader_crashed         503
    └── PermanentError                 (never retried)
        ├── NotFits                    not_fits               422
        │   ├── EmptyFile              empty_file             422
        │   └── UnsupportedCompression unsupported_compression 422
        ├── TruncatedFits              truncated              422
        ├── CorruptCompression         corrupt_compression    422
        ├── MalformedHeader            malformed_header       422
        ├── LimitExceeded              limit_exceeded         413
        ├── OutsideRoot                outside_root           403
        ├── NotRegularFile             not_regular_file       422
        ├── FileMissing                file_missing           404
        ├── FileUnreadable             file_unreadable        403
        ├── ValidationError            validation_error       400
        ├── NotFound                   not_found              404
        ├── MethodNotAllowed           method_not_allowed     405
        ├── Forbidden                  forbidden              403
        ├── Conflict                   conflict               409
        ├── DatabaseError              database_error         500
        │   └── IntegrityViolation     integrity_violation    409
        └── InternalError              internal_error         500

Driver and library exceptions (sqlite3, asyncpg, zlib, OSError, redis, pika)
are translated into this tree where they enter fitsflow — the database
adapters, the FITS reader, the broker set-up — and the original is kept as
``__cause__`` (``raise Translated(...) from original``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "BrokerUnavailable",
    "Conflict",
    "CorruptCompression",
    "DatabaseBusy",
    "DatabaseError",
    "DatabaseUnavailable",
    "EmptyFile",
    "FileMissing",
    "FileNotComplete",
    "FileUnreadable",
    "FitsflowError",
    "Forbidden",
    "IntegrityViolation",
    "InternalError",
    "LimitExceeded",
    "MalformedHeader",
    "MethodNotAllowed",
    "NotFits",
    "NotFound",
    "NotRegularFile",
    "OutsideRoot",
    "PermanentError",
    "PoolExhausted",
    "ReaderCrashed",
    "SerializationFailure",
    "TransientError",
    "TruncatedFits",
    "UnsupportedCompression",
    "ValidationError",
    "WorkerStopping",
    "error_class_for_code",
    "is_transient",
]


class FitsflowError(Exception):
    """Base of every error fitsflow raises on purpose.

    ``details`` holds JSON-safe facts about the failure (offsets, sizes, the
    setting that was exceeded) for the API envelope and the job record.
    """

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 500
    transient: ClassVar[bool] = False

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def with_cause(self, cause: BaseException) -> FitsflowError:
        """This error with ``cause`` as its ``__cause__`` (for errors returned, not raised)."""
        self.__cause__ = cause
        return self

    def to_dict(self) -> dict[str, Any]:
        """The API's error envelope: ``{"error", "message", "details"}``."""
        return {"error": self.code, "message": self.message, "details": self.details}


# --- transient: the same work may succeed later --------------------------------


class TransientError(FitsflowError):
    """A condition expected to clear by itself; the job is retried."""

    code = "transient_error"
    http_status = 503
    transient = True


class DatabaseUnavailable(TransientError):
    """The database cannot be reached or dropped the connection."""

    code = "database_unavailable"


class DatabaseBusy(TransientError):
    """The database is locked or out of resources for now (SQLite BUSY/LOCKED)."""

    code = "database_busy"


class PoolExhausted(TransientError):
    """No pooled connection became free within the acquire timeout."""

    code = "pool_exhausted"


class SerializationFailure(TransientError):
    """A transaction lost a serialization race or a deadlock; run it again."""

    code = "serialization_failure"


class BrokerUnavailable(TransientError):
    """The message broker cannot be reached."""

    code = "broker_unavailable"


class FileNotComplete(TransientError):
    """The file is still being written (it changed while it was read)."""

    code = "file_not_complete"
    http_status = 409


class WorkerStopping(TransientError):
    """The process is shutting down mid-job; the job is tried again elsewhere."""

    code = "worker_stopping"


class ReaderCrashed(TransientError):
    """A reader process died while it held this file (perhaps another file's
    fault: it reads several); the file is read again by a new one."""

    code = "reader_crashed"


# --- permanent: retrying the same input gives the same answer ------------------


class PermanentError(FitsflowError):
    """The input or request is wrong; retrying it unchanged cannot help."""

    code = "permanent_error"
    http_status = 422


class NotFits(PermanentError):
    """The content is not FITS (HTML, PNG, random bytes, a Git-LFS pointer)."""

    code = "not_fits"


class EmptyFile(NotFits):
    """The file has zero bytes."""

    code = "empty_file"


class UnsupportedCompression(NotFits):
    """The content is compressed with a scheme fitsflow does not read."""

    code = "unsupported_compression"


class TruncatedFits(PermanentError):
    """The file is shorter than its headers imply."""

    code = "truncated"


class CorruptCompression(PermanentError):
    """The gzip stream is damaged (bad header, bad CRC, invalid deflate data)."""

    code = "corrupt_compression"


class MalformedHeader(PermanentError):
    """A header violates FITS structure (no END, bad mandatory keyword)."""

    code = "malformed_header"


class LimitExceeded(PermanentError):
    """A configured reader limit (cards, HDUs, inflated bytes, time) was hit."""

    code = "limit_exceeded"
    http_status = 413


class OutsideRoot(PermanentError):
    """The path resolves (through symlinks) outside every allowed root."""

    code = "outside_root"
    http_status = 403


class NotRegularFile(PermanentError):
    """The path is a FIFO, device, socket or directory."""

    code = "not_regular_file"


class FileMissing(PermanentError):
    """The path no longer exists."""

    code = "file_missing"
    http_status = 404


class FileUnreadable(PermanentError):
    """The path exists but cannot be opened (permissions, a symlink loop)."""

    code = "file_unreadable"
    http_status = 403


class ValidationError(PermanentError):
    """A request or setting has an invalid value."""

    code = "validation_error"
    http_status = 400


class NotFound(PermanentError):
    """The requested record does not exist."""

    code = "not_found"
    http_status = 404


class MethodNotAllowed(PermanentError):
    """The HTTP method is not served on this path."""

    code = "method_not_allowed"
    http_status = 405


class Forbidden(PermanentError):
    """The request lacks the credentials it needs, or the action is disabled."""

    code = "forbidden"
    http_status = 403


class Conflict(PermanentError):
    """The request does not fit the record's current state (retrying a job
    that did not fail, or that a later job of its path already followed)."""

    code = "conflict"
    http_status = 409


class DatabaseError(PermanentError):
    """The database rejected a statement for a reason retrying cannot fix."""

    code = "database_error"
    http_status = 500


class IntegrityViolation(DatabaseError):
    """A constraint (unique, foreign key, not null) was violated."""

    code = "integrity_violation"
    http_status = 409


class InternalError(PermanentError):
    """A defect in fitsflow itself met this input; reported, never retried blindly."""

    code = "internal_error"
    http_status = 500


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` belongs to the transient branch (and may be retried)."""
    return isinstance(error, TransientError)


def _all_subclasses(cls: type[FitsflowError]) -> list[type[FitsflowError]]:
    found: list[type[FitsflowError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


_ALL_CLASSES: list[type[FitsflowError]] = [FitsflowError, *_all_subclasses(FitsflowError)]
_BY_CODE: dict[str, type[FitsflowError]] = {cls.code: cls for cls in _ALL_CLASSES}


def error_class_for_code(code: str) -> type[FitsflowError]:
    """The class that owns ``code`` (``FitsflowError`` for an unknown code)."""
    return _BY_CODE.get(code, FitsflowError)
