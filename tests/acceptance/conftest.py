"""A catalogue with known content, made the way users make one, and the API over it.

``catalogue`` (once per backend) ingests real generated files through the
real :class:`IngestService`: a batch of good and bad files, a
multi-extension file, a renamed file and a file rewritten with new bytes.
Its fields say what every endpoint should answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from pipeline.api import QueueDepth, create_app
from pipeline.db import Database, open_database
from pipeline.errors import BrokerUnavailable
from pipeline.ingest.candidates import NamePatterns, candidates
from pipeline.ingest.oneshot import ingest_candidates
from pipeline.ingest.service import IngestResult, IngestService
from pipeline.samples import SampleKind
from pipeline.settings import DatabaseSettings, FilesSettings, ReaderSettings, Settings
from tests.support.catalogue import write_fits

#: Depths the test broker reports, so /summary has queues to show.
QUEUES = {
    "fitsflow-ingest": QueueDepth(ready=3, delayed=1, in_flight=2, dead=0),
    "fitsflow-ingest.DQ": QueueDepth(ready=None, delayed=None, in_flight=None, dead=4),
}


class FixedBrokerProbe:
    """A broker that is up and reports fixed depths."""

    def __init__(self, depths: dict[str, QueueDepth] | None = None) -> None:
        self.depths = QUEUES if depths is None else depths

    async def ping(self) -> None:
        return None

    async def queue_depths(self) -> dict[str, QueueDepth]:
        return dict(self.depths)


class DownBrokerProbe:
    """A broker that refuses connections."""

    async def ping(self) -> None:
        raise BrokerUnavailable("redis://127.0.0.1:1: connection refused")

    async def queue_depths(self) -> dict[str, QueueDepth]:
        raise BrokerUnavailable("redis://127.0.0.1:1: connection refused")


class SilentBrokerProbe:
    """A broker that accepts a question and never answers."""

    async def ping(self) -> None:
        await asyncio.Event().wait()

    async def queue_depths(self) -> dict[str, QueueDepth]:
        await asyncio.Event().wait()
        return {}


@dataclass
class Catalogue:
    """What was ingested, and what the database must now say about it."""

    database: Database
    root: Path
    batch_id: int
    #: Every ingest result, by the path it was given.
    results: dict[str, IngestResult] = field(default_factory=dict)
    #: The path a file was renamed away from, and where it went.
    moved_from: str = ""
    moved_to: str = ""
    #: A path that received new bytes after its first ingest.
    rewritten: str = ""
    mef: str = ""

    @property
    def job_ids(self) -> list[int]:
        return sorted(r.job_id for r in self.results.values() if r.job_id is not None)


BATCH_GOOD = 12  # six files in night1, six in night2
BATCH_BAD = {"page.fits": "not_fits", "empty.fits": "empty_file"}


def _write_batch(root: Path) -> None:
    for index in range(BATCH_GOOD):
        night = "night1" if index < BATCH_GOOD // 2 else "night2"
        write_fits(root / night / f"image{index:02d}.fits", index)
    (root / "night2" / "page.fits").write_bytes(b"<!DOCTYPE html><html>404</html>\n")
    (root / "night2" / "empty.fits").write_bytes(b"")


async def build_catalogue(database: Database, root: Path) -> Catalogue:
    """Ingest the known content into ``database`` (migrated, empty)."""
    service = IngestService(database, ReaderSettings())
    _write_batch(root)
    results: dict[str, IngestResult] = {}
    found = list(candidates([root], NamePatterns(FilesSettings())))
    summary = await ingest_candidates(
        service,
        found,
        description="acceptance batch",
        on_result=lambda r: results.update({r.path: r}),
    )
    assert summary.batch_id is not None
    catalogue = Catalogue(database, root, summary.batch_id, results)
    mef = write_fits(root / "mef" / "mef.fits", 100, SampleKind.MEF)
    catalogue.mef = str(mef)
    results[str(mef)] = await service.ingest_path(mef)
    # A rename keeps the product: the old path's latest job points at a
    # product that now lies elsewhere.
    old = root / "night1" / "image00.fits"
    new = root / "moved" / "image00.fits"
    new.parent.mkdir()
    old.rename(new)
    catalogue.moved_from, catalogue.moved_to = str(old), str(new)
    results[str(new)] = await service.ingest_path(new)
    # New bytes at a recorded path: a new version, the old one superseded.
    rewritten = write_fits(root / "night1" / "image01.fits", 200)
    catalogue.rewritten = str(rewritten)
    results[str(rewritten) + "#2"] = await service.ingest_path(rewritten)
    return catalogue


@pytest.fixture
async def catalogue(database: Database, tmp_path: Path) -> Catalogue:
    """The known catalogue, on SQLite and on PostgreSQL."""
    return await build_catalogue(database, tmp_path / "incoming")


@pytest.fixture
def status_app(catalogue: Catalogue) -> FastAPI:
    """The status API over the catalogue, with a broker that reports :data:`QUEUES`."""
    return create_app(catalogue.database, FixedBrokerProbe(), settings=Settings())


@contextlib.asynccontextmanager
async def asgi_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to ``app`` in this event loop (no server, no socket)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fitsflow") as http:
        yield http


@pytest.fixture
async def client(status_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``status_app``."""
    async with asgi_client(status_app) as http:
        yield http


@pytest.fixture
async def bare_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose database is never opened: for requests refused before it."""
    never_opened = open_database(DatabaseSettings(url=f"sqlite:///{tmp_path / 'unused.db'}"))
    app = create_app(never_opened, FixedBrokerProbe(), settings=Settings())
    async with asgi_client(app) as http:
        yield http
    assert not (tmp_path / "unused.db").exists(), "a refused request reached the database"
