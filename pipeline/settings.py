"""The one typed settings object.

Precedence, lowest first: the defaults written here (mirrored, with comments,
in ``config/fitsflow.toml``), then the TOML file, then ``FITSFLOW_*``
environment variables (``FITSFLOW_<SECTION>_<KEY>``, e.g.
``FITSFLOW_DATABASE_URL``), then command-line flags. Only :func:`load_settings`
reads the environment or the file; library code receives a :class:`Settings`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from pipeline.errors import ValidationError
from pipeline.priority import CpuPriority

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "ENV_PREFIX",
    "ApiSettings",
    "BrokerSettings",
    "DatabaseSettings",
    "FilesSettings",
    "LoggingSettings",
    "MetricsSettings",
    "ReaderSettings",
    "ReconcilerSettings",
    "Settings",
    "WatchSettings",
    "WorkerSettings",
    "load_settings",
]

ENV_PREFIX = "FITSFLOW_"
#: The file read when neither ``--config`` nor ``FITSFLOW_CONFIG`` names one.
DEFAULT_CONFIG_FILE = Path(__file__).resolve().parent.parent / "config" / "fitsflow.toml"

_SECTION = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(BaseModel):
    """Where products and jobs are recorded, and how connections are pooled."""

    model_config = _SECTION

    url: str = "sqlite:///fitsflow.db"
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
    acquire_timeout: float = Field(default=10.0, gt=0)
    connect_timeout: float = Field(default=10.0, gt=0)
    statement_timeout: float = Field(default=60.0, gt=0)
    max_queries_per_connection: int = Field(default=50_000, ge=1)
    max_idle_seconds: float = Field(default=300.0, ge=0)
    health_check_after_idle_seconds: float = Field(default=30.0, ge=0)
    plans_max_age_seconds: float = Field(default=5.0, ge=0)
    sqlite_busy_timeout: float = Field(default=5.0, ge=0)
    busy_retry_seconds: float = Field(default=30.0, ge=0)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if url.startswith("sqlite:///") or url.startswith(("postgresql://", "postgres://")):
            return url
        raise ValueError("must start with sqlite:/// or postgresql://")

    @pydantic.model_validator(mode="after")
    def _pool_bounds(self) -> DatabaseSettings:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("pool_min_size must not exceed pool_max_size")
        return self


class ReaderSettings(BaseModel):
    """Bounds that keep any input from hanging a worker or exhausting memory."""

    model_config = _SECTION

    #: Most cards in all of one file's headers together (every card is kept).
    max_header_cards: int = Field(default=100_000, ge=36)
    max_hdus: int = Field(default=1_000, ge=1)
    max_inflated_bytes: int = Field(default=4 * 1024**3, ge=2880)
    max_seconds_per_file: float = Field(default=60.0, gt=0)
    chunk_bytes: int = Field(default=1024 * 1024, ge=2880)
    verify_checksums: bool = True
    #: Fail a file holding fewer extensions than its NEXTEND announces (the
    #: only sign of a plain file cut at an HDU boundary); off: only warn.
    trust_nextend: bool = True
    #: Helper processes that read files for the process (0: its own threads).
    #: Unset: 1 for ``fitsflow run`` on a machine of two or more cores, else
    #: 0. Parsing then no longer takes the interpreter lock that ``fitsflow
    #: run``'s event loop, SQLite's thread and the queue's threads need
    #: (measured: ~28 % less CPU a file in its main process, ~16 % more
    #: files/s), and a reader that crashes takes no other work with it.
    #: ``fitsflow ingest`` (measured slower with one: 747–766 against
    #: 840–959 files/s on SQLite) and ``fitsflow worker`` (its processes
    #: already read in parallel) read in their own threads unless this is set.
    processes: int | None = Field(default=None, ge=0, le=64)

    def reader_processes(self, embedded: bool) -> int:
        """How many reader processes a service runs (see ``processes``);
        ``embedded``: for ``fitsflow run``."""
        if self.processes is not None:
            return self.processes
        return 1 if embedded and (os.cpu_count() or 1) >= 2 else 0


DEFAULT_INCLUDE = ("*.fits", "*.fit", "*.fts", "*.fits.gz", "*.fit.gz", "*.fts.gz", "*.fz")
DEFAULT_IGNORE = (".*", "*.tmp", "*.part", "*.partial", "*.crdownload", "*~")


class FilesSettings(BaseModel):
    """Which files under a directory are candidates (matched on the file name,
    case-insensitively). A file named explicitly on the command line is always
    a candidate."""

    model_config = _SECTION

    include: tuple[str, ...] = DEFAULT_INCLUDE
    ignore: tuple[str, ...] = DEFAULT_IGNORE

    @field_validator("include")
    @classmethod
    def _not_empty(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        if not patterns:
            raise ValueError("must name at least one pattern")
        return patterns


class WatchSettings(BaseModel):
    """The watcher: which roots, how it notices files, when a file is complete."""

    model_config = _SECTION

    roots: tuple[str, ...] = ()
    recursive: bool = True
    #: A polling observer instead of inotify: for NFS, Lustre, CIFS mounts,
    #: where the kernel sees no events for writes made on other hosts.
    polling: bool = False
    poll_interval_seconds: float = Field(default=1.0, gt=0)
    #: A file with no close-after-write event is complete once its size and
    #: mtime stay unchanged this long.
    settle_seconds: float = Field(default=1.0, ge=0)
    #: Walk every root this often to catch what events missed (0: never).
    rescan_interval_seconds: float = Field(default=300.0, ge=0)


class BrokerSettings(BaseModel):
    """Where ingest messages travel: redis://, amqp:// or memory:// (in-process)."""

    model_config = _SECTION

    url: str = "memory://"
    queue: str = "fitsflow-ingest"
    #: Redis: how long a worker may miss heartbeats before the messages it
    #: held are given to others (a SIGKILLed worker's files resume after this).
    heartbeat_timeout_seconds: float = Field(default=60.0, gt=0)
    #: How many files one ingest message may carry when several are sent at
    #: once (a burst, a backfill; a file arriving alone travels alone, and so
    #: does one over 4 MiB, read alone anyway). Each file keeps its own job,
    #: lease, attempt and outcome; a file of a bundle that must be retried or
    #: dead-lettered goes on as a message of its own.
    #: Measured on 2 cores (4,000-image bursts, alternating, 2 workers): 1
    #: file a message 927-1,170 files/s, 8 977-1,409; with each process's
    #: prefetch scaled to the bundle (see pipeline.cli.dramatiq_workers) 8
    #: 1,283-1,372, 16 1,310-1,409, 4 1,118-1,314; embedded 1,363-1,493 → 8
    #: 2,046-2,068.
    bundle_size: int = Field(default=8, ge=1, le=256)

    @property
    def in_process(self) -> bool:
        """A ``memory://`` queue: it lives inside the one ``fitsflow run``
        process using it, and no other process can send to it or see it."""
        return self.url.startswith("memory://")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if url.startswith(("redis://", "rediss://", "amqp://", "amqps://", "memory://")):
            return url
        raise ValueError("must start with redis://, amqp:// or memory://")


class WorkerSettings(BaseModel):
    """Ingest workers: concurrency, retries of transient errors, time limits."""

    model_config = _SECTION

    processes: int = Field(default=2, ge=1)
    #: Threads per worker process. Most of a thread's time is spent waiting
    #: (for its file to be read, for its group's transaction), and jobs in
    #: flight together share transactions, so more threads means bigger groups
    #: without more connections (every write goes through a group writer).
    #: Measured on 2 cores, 2 processes beside the watcher and PostgreSQL
    #: (2,000 single images, medians of 3): 16 threads ~500 files/s, 32 ~480,
    #: 48 ~600, 64 ~720, 96 ~590. Later, the sends batched and Redis's acks
    #: too (4,000-image bursts, 7 alternating pairs): 64 threads 526-882
    #: files/s, 128 649-1,030 — every pair higher, with less worker CPU a
    #: file (bigger groups); 192 and 256 no better than 128.
    threads: int = Field(default=128, ge=1)
    #: Worker threads of ``fitsflow run`` (the embedded mode), where one
    #: SQLite writer takes every transaction in turn: the more jobs in flight,
    #: the bigger each group and the fewer transactions per file. Measured on
    #: 2 cores (6,000 single images, reading in threads): 16 threads ~480
    #: files/s, 64 ~730, 128 ~780-880, 192 ~760. With a reader process taking
    #: the reads off the interpreter (4,000-image bursts, 6 alternating
    #: pairs): 128 threads 927-1,078 files/s, 256 1,108-1,355 — every pair
    #: higher, with less CPU a file (bigger groups); 384 1,198-1,286, 512
    #: ~1,030.
    embedded_threads: int = Field(default=256, ge=1)
    #: Longest one message may run (seconds); the reader's own limit is tighter.
    time_limit_seconds: float = Field(default=300.0, gt=0)
    #: Transient errors are retried with exponential backoff and jitter ...
    min_backoff_seconds: float = Field(default=1.0, gt=0)
    max_backoff_seconds: float = Field(default=300.0, gt=0)
    #: ... at most this many times, and not past this age of the first attempt.
    max_retries: int = Field(default=10, ge=0)
    max_age_seconds: float = Field(default=86_400.0, gt=0)
    #: A truncated file modified less than this long ago may still be being
    #: written (a writer that paused longer than the settle window): it is
    #: retried as ``file_not_complete``; after this it fails as ``truncated``.
    incomplete_grace_seconds: float = Field(default=10.0, ge=0)
    #: Move files that fail permanently into a tree mirroring their root here
    #: (off when unset: the file is left exactly where and as it was).
    quarantine_dir: str | None = None
    #: Each worker process records itself in the ``workers`` table this often;
    #: it counts as alive while its last heartbeat is under three intervals old.
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    #: CPU priority of ``fitsflow worker`` and ``fitsflow ingest``: ``idle``
    #: runs them only when nothing else wants the CPU (Linux ``SCHED_IDLE``;
    #: elsewhere the lowest ``nice``), so a backfill on a host that also
    #: serves the status endpoint leaves it quick; with PostgreSQL on this
    #: host, also one database connection at a time (pipeline.priority).
    priority: CpuPriority = CpuPriority.NORMAL


class ReconcilerSettings(BaseModel):
    """The outbox reconciler: re-sends jobs whose message was lost."""

    model_config = _SECTION

    interval_seconds: float = Field(default=15.0, gt=0)
    #: A queued job whose message was sent this long ago without being
    #: picked up, or a running job whose lease expired, is sent again.
    stale_after_seconds: float = Field(default=60.0, gt=0)
    #: How long a worker holds a job before another may take it over.
    lease_seconds: float = Field(default=600.0, gt=0)


class ApiSettings(BaseModel):
    """The status endpoint."""

    model_config = _SECTION

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: Bearer token for the mutating endpoints (retry, requeue, purge); with
    #: no token set they are disabled (403). Prefer FITSFLOW_API_TOKEN to a file.
    token: str | None = Field(default=None, min_length=16)
    #: Put the read endpoints behind the same token too (/health stays open).
    protect_reads: bool = False
    #: /summary reuses its job and product counts this long once counting
    #: them costs more than 20 ms (large catalogues); 0: count every request.
    summary_cache_seconds: float = Field(default=1.0, ge=0)

    @pydantic.model_validator(mode="after")
    def _reads_need_a_token(self) -> ApiSettings:
        if self.protect_reads and self.token is None:
            raise ValueError("protect_reads needs api.token to be set")
        return self


class MetricsSettings(BaseModel):
    """Prometheus endpoints of the processes that serve no status API.

    ``fitsflow run`` and ``fitsflow api`` serve ``/metrics`` on the status
    endpoint; ``fitsflow watch`` and ``fitsflow worker`` serve it on these ports.
    """

    model_config = _SECTION

    host: str = "127.0.0.1"
    #: ``fitsflow watch``: the watcher, admission, reconciler (unset: no endpoint).
    watch_port: int | None = Field(default=None, ge=0, le=65535)
    #: ``fitsflow worker``: every worker process of the host added up (unset: none).
    worker_port: int | None = Field(default=None, ge=0, le=65535)
    #: Where a host's worker processes write their metrics; emptied at start
    #: (unset: a new temporary directory per ``fitsflow worker``).
    multiprocess_dir: str | None = None


class LoggingSettings(BaseModel):
    """Where log lines go and how they look (always to standard error)."""

    model_config = _SECTION

    level: str = "INFO"
    #: ``auto``: readable lines on a terminal, JSON lines everywhere else.
    format: str = "auto"

    @field_validator("level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        if level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level.upper()

    @field_validator("format")
    @classmethod
    def _known_format(cls, fmt: str) -> str:
        if fmt not in {"auto", "console", "json"}:
            raise ValueError("must be auto, console or json")
        return fmt


class Settings(BaseSettings):
    """Every setting of fitsflow, grouped by the part of the system it steers."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        frozen=True,
    )

    database: DatabaseSettings = DatabaseSettings()
    reader: ReaderSettings = ReaderSettings()
    files: FilesSettings = FilesSettings()
    watch: WatchSettings = WatchSettings()
    broker: BrokerSettings = BrokerSettings()
    worker: WorkerSettings = WorkerSettings()
    reconciler: ReconcilerSettings = ReconcilerSettings()
    api: ApiSettings = ApiSettings()
    metrics: MetricsSettings = MetricsSettings()
    logging: LoggingSettings = LoggingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if _toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=_toml_path))
        return tuple(sources)


# Set only for the duration of one load_settings() call: pydantic-settings asks
# the class, not the instance, for its sources.
_toml_path: Path | None = None
_loading = threading.Lock()


def load_settings(
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    config_file: str | os.PathLike[str] | None = None,
) -> Settings:
    """Build the settings from file, environment and ``overrides`` (CLI flags).

    ``overrides`` is ``{"section": {"key": value}}``; keys whose value is None
    are ignored so unset flags do not mask lower layers. Raises
    :class:`~pipeline.errors.ValidationError` naming every bad setting.
    """
    global _toml_path
    chosen = config_file or os.environ.get(ENV_PREFIX + "CONFIG")
    path = Path(chosen) if chosen else DEFAULT_CONFIG_FILE
    if chosen and not path.is_file():
        raise ValidationError(f"config file {path} does not exist", details={"setting": "config"})
    cleaned = {
        section: {key: value for key, value in values.items() if value is not None}
        for section, values in (overrides or {}).items()
    }
    toml = path if path.is_file() else None
    with _loading:
        _toml_path = toml
        try:
            return Settings.model_validate({k: v for k, v in cleaned.items() if v})
        except pydantic.ValidationError as error:
            raise _explain(error, toml) from error
        finally:
            _toml_path = None


def _explain(error: pydantic.ValidationError, toml: Path | None) -> ValidationError:
    problems = []
    for item in error.errors():
        dotted = ".".join(str(part) for part in item["loc"])
        env_name = ENV_PREFIX + "_".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"setting {dotted} ({env_name}): {message} (got {item.get('input')!r})")
    where = f" [config file: {toml}]" if toml else ""
    return ValidationError(
        "invalid settings" + where + ":\n  " + "\n  ".join(problems),
        details={"settings": [".".join(map(str, i["loc"])) for i in error.errors()]},
    )
