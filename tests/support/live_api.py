"""The status API served by uvicorn over a catalogue, for tests that call it over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipeline.api import ApiServer, create_app
from pipeline.db import Database
from pipeline.outbox import Sender
from pipeline.settings import Settings
from tests.acceptance.conftest import FixedBrokerProbe
from tests.support.databases import opened_database

__all__ = ["live_api_over"]

Fill = Callable[[Database, Path], Awaitable[object]]


class _LiveApi:
    """The catalogue ``fill`` writes, served by uvicorn in a thread with its own loop."""

    def __init__(
        self, database_url: str, root: Path, fill: Fill, settings: Settings, sender: Sender | None
    ) -> None:
        self.database_url, self.root, self.fill = database_url, root, fill
        self.settings, self.sender = settings, sender
        self.listening = threading.Event()
        self.port = 0
        self.server: ApiServer | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def run(self) -> None:
        async with opened_database(self.database_url) as database:
            await self.fill(database, self.root)
            app = create_app(
                database, FixedBrokerProbe(), settings=self.settings, sender=self.sender
            )
            self.server = ApiServer(app, "127.0.0.1", 0)
            self.port = self.server.listen()
            self.loop = asyncio.get_running_loop()
            self.listening.set()
            await self.server.serve()

    def stop(self) -> None:
        assert self.loop is not None and self.server is not None
        self.loop.call_soon_threadsafe(self.server.stop)


@contextlib.contextmanager
def live_api_over(
    database_url: str,
    root: Path,
    fill: Fill,
    *,
    settings: Settings | None = None,
    sender: Sender | None = None,
) -> Iterator[str]:
    """The base URL of the API over what ``fill(database, root)`` records; stopped after.

    ``settings`` and ``sender`` as ``create_app`` takes them (default settings,
    no sender: the actions answer 503).
    """
    live = _LiveApi(database_url, root, fill, settings or Settings(), sender)
    with ThreadPoolExecutor(max_workers=1) as thread:
        served = thread.submit(asyncio.run, live.run())
        while not live.listening.wait(0.05):
            if served.done():
                served.result()  # raises what went wrong
                raise AssertionError("the API stopped before it listened")
        yield f"http://127.0.0.1:{live.port}"
        live.stop()
        served.result(timeout=30)
