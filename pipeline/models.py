"""The records fitsflow keeps: products, HDUs, jobs, attempts, batches.

Frozen dataclasses built from database rows (``from_row``) by the
repositories; ``to_dict`` gives their JSON form for the API and the CLI.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pipeline.clock import as_datetime
from pipeline.jsonutil import loads, loads_small_numbers

__all__ = [
    "TERMINAL_STATES",
    "Batch",
    "HduRecord",
    "Job",
    "JobAttempt",
    "JobState",
    "Outcome",
    "Product",
    "field_names",
    "product_values",
    "product_values_reader",
]


class JobState(StrEnum):
    """Where a job is in its life; ``succeeded`` and ``failed`` are final."""

    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED})


class Outcome(StrEnum):
    """What a successful job did to the catalogue."""

    CREATED = "created"  # new content at a new path
    NEW_VERSION = "new_version"  # new content at a recorded path; the old product superseded
    MOVED = "moved"  # recorded content found at a new path, gone from the old one
    DUPLICATE = "duplicate"  # recorded content, also still present at its recorded path
    UNCHANGED = "unchanged"  # the same content at the same path


def _as_dict(record: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        out[field.name] = value.isoformat() if isinstance(value, datetime) else value
    return out


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def field_names(cls: type[Any]) -> tuple[str, ...]:
    """A record class's field names, in order (computed once per class)."""
    # dataclasses.fields() builds a tuple of Field objects on every call: the
    # status API reads thousands of rows a second.
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(field.name for field in dataclasses.fields(cls))
    return names


def _pick(cls: type[Any], row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in field_names(cls) if name in row}


@dataclasses.dataclass(frozen=True, slots=True)
class Product:
    """One distinct content (SHA-256) and the normalised facts of its headers."""

    id: int
    sha256: str
    path: str
    size: int
    mtime_ns: int
    version: int
    is_current: bool
    superseded_by: int | None
    superseded_at: datetime | None
    compression: str
    hdu_count: int
    checksum_status: str
    telescope: str | None
    instrument: str | None
    object: str | None
    observer: str | None
    obs_start: datetime | None
    mjd_obs: float | None
    exptime: float | None
    filter: str | None
    ra: float | None
    dec: float | None
    footprint: list[list[float]] | None
    naxis: list[int] | None
    bitpix: int | None
    bunit: str | None
    beam_major: float | None
    beam_minor: float | None
    beam_pa: float | None
    frequency: float | None
    science_hdu: int | None
    warnings: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Product:
        return cls(**product_values(row))

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self)


def product_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ``products`` row's values as :class:`Product` holds them, in its
    fields' order: what the status API writes out for a page of products
    without building (~9 µs) and then serialising a record per product."""
    return _typed_product({name: row[name] for name in field_names(Product)})


def product_values_reader(columns: Sequence[str]) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """:func:`product_values` for rows given as values in ``columns``' order
    (``products``' columns, others ignored): each row's are taken by
    position, without a dict of the row to pick from first (a search page)."""
    names = field_names(Product)
    take = operator.itemgetter(*(columns.index(name) for name in names))
    return lambda row: _typed_product(dict(zip(names, take(row), strict=True)))


def _typed_product(values: dict[str, Any]) -> dict[str, Any]:
    # Footprint corners are floats and NAXISn bounded by the reader's
    # limits: neither can hold an integer past 64 bits. Warnings may quote
    # any card and take the careful path.
    for name in ("footprint", "naxis"):
        values[name] = loads_small_numbers(values[name])
    values["warnings"] = loads(values["warnings"])
    for name in ("superseded_at", "obs_start", "created_at", "updated_at"):
        values[name] = as_datetime(values[name])
    values["is_current"] = bool(values["is_current"])
    return values


@dataclasses.dataclass(frozen=True, slots=True)
class HduRecord:
    """One HDU of a product, with its full header."""

    product_id: int
    hdu_index: int
    name: str | None
    kind: str
    naxis: list[int]
    bitpix: int
    data_size: int
    header_offset: int
    data_offset: int
    checksum_status: str
    footprint: list[list[float]] | None
    header: dict[str, Any]
    cards: list[list[Any]]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> HduRecord:
        values = _pick(cls, row)
        for name in ("naxis", "footprint", "header", "cards"):
            values[name] = loads(values[name])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    """The work of ingesting one file once, and how it ended."""

    id: int
    path: str
    size: int | None
    mtime_ns: int | None
    state: JobState
    outcome: Outcome | None
    source: str
    attempts: int
    error_code: str | None
    error_message: str | None
    error_details: dict[str, Any] | None
    product_id: int | None
    batch_id: int | None
    message_id: str | None
    created_at: datetime
    updated_at: datetime
    enqueued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    next_attempt_at: datetime | None
    lease_expires_at: datetime | None
    worker: str | None
    #: The failed job this one retries (a retry is a new job; the old one stays as it ended).
    retry_of: int | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        values = _pick(cls, row)
        values["state"] = JobState(values["state"])
        values["outcome"] = Outcome(values["outcome"]) if values["outcome"] else None
        values["error_details"] = loads(values["error_details"])
        for name in (
            "created_at",
            "updated_at",
            "enqueued_at",
            "started_at",
            "finished_at",
            "next_attempt_at",
            "lease_expires_at",
        ):
            values[name] = as_datetime(values[name])
        return cls(**values)

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class JobAttempt:
    """One try at a job: when, where, and how it ended."""

    id: int
    job_id: int
    attempt: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    error_code: str | None
    error_message: str | None
    worker: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> JobAttempt:
        values = _pick(cls, row)
        values["started_at"] = as_datetime(values["started_at"])
        values["finished_at"] = as_datetime(values["finished_at"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class Batch:
    """A set of jobs admitted together: a scan, a backfill, a one-shot ingest, a retry."""

    id: int
    kind: str
    description: str | None
    total: int
    closed: bool
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Batch:
        values = _pick(cls, row)
        values["closed"] = bool(values["closed"])
        values["created_at"] = as_datetime(values["created_at"])
        values["finished_at"] = as_datetime(values["finished_at"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self)
