"""The status API when what it reads from is down, silent or broken.

Every answer is still the error envelope (or, for the broker's queues, a
summary that says why they are missing); nothing hangs and nothing is a bare
500.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import structlog

from pipeline.api import create_app, health, summary
from pipeline.api.probe import QueueDepth
from pipeline.db import Database, open_database
from pipeline.settings import DatabaseSettings, Settings
from tests.acceptance.conftest import (
    Catalogue,
    DownBrokerProbe,
    FixedBrokerProbe,
    SilentBrokerProbe,
    asgi_client,
)
from tests.acceptance.test_status_api import assert_envelope

#: Nothing listens on port 1: connections are refused at once.
UNREACHABLE_POSTGRES = "postgresql://fitsflow@127.0.0.1:1/fitsflow"


class DefectiveBrokerProbe(FixedBrokerProbe):
    """A probe with a bug: what the API must survive without a bare 500."""

    async def queue_depths(self) -> dict[str, QueueDepth]:
        raise RuntimeError("a defect in a broker adapter")


@pytest.fixture
def unreachable_database() -> Database:
    return open_database(DatabaseSettings(url=UNREACHABLE_POSTGRES, connect_timeout=2.0))


async def test_broker_down(catalogue: Catalogue) -> None:
    app = create_app(catalogue.database, DownBrokerProbe(), settings=Settings())
    async with asgi_client(app) as client:
        body = assert_envelope(await client.get("/ready"), 503, "broker_unavailable")
        assert body["details"]["down"] == ["broker"]
        assert body["details"]["checks"]["database"]["status"] == "ok"
        assert "broker" in body["message"] and "connection refused" in body["message"]
        overview = (await client.get("/summary")).raise_for_status().json()
    assert overview["queues"] is None
    assert overview["broker_error"]["error"] == "broker_unavailable"
    assert overview["jobs"]["succeeded"] > 0  # the database part is still there


async def test_silent_broker_is_down_after_the_deadline(
    catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "READY_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(summary, "BROKER_TIMEOUT_SECONDS", 0.2)
    app = create_app(catalogue.database, SilentBrokerProbe(), settings=Settings())
    async with asgi_client(app) as client:
        body = assert_envelope(await client.get("/ready"), 503, "broker_unavailable")
        assert body["details"]["checks"]["broker"]["message"] == "no answer within 0.2s"
        overview = (await client.get("/summary")).raise_for_status().json()
    assert overview["broker_error"]["error"] == "broker_unavailable"


async def test_database_down(unreachable_database: Database) -> None:
    app = create_app(unreachable_database, FixedBrokerProbe(), settings=Settings())
    async with asgi_client(app) as client:
        assert (await client.get("/health")).status_code == 200  # asks nothing
        body = assert_envelope(await client.get("/ready"), 503, "database_unavailable")
        assert body["details"]["down"] == ["database"]
        assert body["details"]["checks"]["broker"]["status"] == "ok"
        for url in ("/jobs", "/jobs/1", "/files?path=/a.fits", "/summary", "/batches/1"):
            assert_envelope(await client.get(url), 503, "database_unavailable")


async def test_both_down_names_both(unreachable_database: Database) -> None:
    app = create_app(unreachable_database, DownBrokerProbe(), settings=Settings())
    async with asgi_client(app) as client:
        body = assert_envelope(await client.get("/ready"), 503, "database_unavailable")
    assert body["details"]["down"] == ["database", "broker"]


async def test_defect_is_a_logged_500_envelope(catalogue: Catalogue) -> None:
    app = create_app(catalogue.database, DefectiveBrokerProbe(), settings=Settings())
    with structlog.testing.capture_logs() as logs:
        async with asgi_client(app) as client:
            body = assert_envelope(await client.get("/summary"), 500, "internal_error")
            assert (await client.get("/health")).status_code == 200  # and it goes on serving
    assert body["details"] == {"exception": "RuntimeError"}
    assert "a defect" not in body["message"]  # the log has the details, not the client
    [entry] = [entry for entry in logs if entry["event"] == "unexpected error"]
    assert entry["path"] == "/summary" and entry["log_level"] == "error"


async def test_a_database_error_is_its_own_envelope(tmp_path: Path) -> None:
    """A database without the schema: DatabaseError's 500 envelope, not a crash."""
    empty = open_database(DatabaseSettings(url=f"sqlite:///{tmp_path / 'empty.db'}"))
    async with empty:
        app = create_app(empty, FixedBrokerProbe(), settings=Settings())
        async with asgi_client(app) as client:
            body = assert_envelope(await client.get("/jobs"), 500, "database_error")
            assert "no such table" in body["message"]


async def test_unexpected_errors_do_not_escape_to_the_transport(catalogue: Catalogue) -> None:
    """httpx's ASGI transport re-raises what an app lets escape: nothing must."""
    app = create_app(catalogue.database, DefectiveBrokerProbe(), settings=Settings())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    with structlog.testing.capture_logs():
        async with httpx.AsyncClient(transport=transport, base_url="http://fitsflow") as client:
            assert (await client.get("/summary")).status_code == 500
