"""Fixtures for a migrated catalogue database, once per backend, and FITS samples."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.db import Database, migrate
from pipeline.samples import SampleKind, rng_for, sample_bytes
from tests.support.databases import opened_database


@pytest.fixture
def migrated_database_url(empty_database_url: str) -> str:
    """An empty database (SQLite or PostgreSQL) migrated to head."""
    migrate.upgrade(empty_database_url)
    return empty_database_url


@pytest.fixture
async def database(migrated_database_url: str) -> AsyncIterator[Database]:
    """A connected adapter on a migrated database, once per backend."""
    async with opened_database(migrated_database_url) as db:
        yield db


def write_fits(path: Path, index: int = 0, kind: SampleKind = SampleKind.IMAGE) -> Path:
    """Write the distinct sample ``index`` of ``kind`` at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(sample_bytes(index, kind, rng_for(seed=1, index=index)))
    return path


@dataclass(frozen=True)
class Seen:
    """A file as the watcher hands it to admission."""

    path: str
    size: int
    mtime_ns: int


def seen(path: Path) -> Seen:
    """``path`` as the watcher would see it now."""
    status = path.stat()
    return Seen(str(path), status.st_size, status.st_mtime_ns)
