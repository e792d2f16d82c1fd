"""The API served by uvicorn inside a running event loop, as ``fitsflow run`` embeds it."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from pipeline.api import ApiServer, NullBrokerProbe, create_app, serve
from pipeline.db import open_database
from pipeline.errors import ValidationError
from pipeline.settings import DatabaseSettings, Settings


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    """An app whose database is never opened: /health asks nothing of it."""
    database = open_database(DatabaseSettings(url=f"sqlite:///{tmp_path / 'unused.db'}"))
    return create_app(database, NullBrokerProbe(), settings=Settings())


async def _health(port: int) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        return await client.get("/health")


def _port_is_free(port: int) -> bool:
    with contextlib.closing(socket.socket()) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def test_serves_until_stopped(app: FastAPI) -> None:
    server = ApiServer(app, "127.0.0.1", 0)
    port = server.listen()
    task = asyncio.create_task(server.serve())
    response = await _health(port)
    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert server.started
    server.stop()
    await asyncio.wait_for(task, timeout=10)
    assert _port_is_free(port)


async def test_cancelling_the_task_closes_the_listener(app: FastAPI) -> None:
    server = ApiServer(app, "127.0.0.1", 0)
    port = server.listen()
    task = asyncio.create_task(server.serve())
    assert (await _health(port)).status_code == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=10)
    assert _port_is_free(port)


async def test_serve_helper_runs_in_the_callers_loop(app: FastAPI) -> None:
    with contextlib.closing(socket.socket()) as spare:
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    task = asyncio.create_task(serve(app, "127.0.0.1", port))
    async with asyncio.timeout(10):
        while True:  # the listener is up once a connection is accepted
            try:
                response = await _health(port)
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.02)
    assert response.status_code == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_port_in_use_is_a_settings_error(app: FastAPI) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ValidationError) as raised:
            ApiServer(app, "127.0.0.1", port).listen()
    assert raised.value.details == {"settings": ["api.host", "api.port"]}
    assert f"127.0.0.1:{port}" in raised.value.message


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (kept apart by newer FastAPI)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:
            yield from _api_routes(included.routes)


def _calls(dependant: Dependant) -> Iterator[Callable[..., object]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _awaited(call: Callable[..., object]) -> bool:
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
        getattr(call, "__call__", None)  # noqa: B004 - instances with an async __call__
    )


def test_no_endpoint_or_dependency_runs_in_the_thread_pool(app: FastAPI) -> None:
    """FastAPI hands every plain ``def`` endpoint or dependency to a worker thread and
    back: a cost on every request (and a wait for a thread under load) for functions
    that do no blocking work."""
    routes = list(_api_routes(app.routes))
    assert any(route.path == "/jobs/{job_id}" for route in routes)
    sync = {
        f"{route.path}: {getattr(call, '__qualname__', call)}"
        for route in routes
        for call in [route.endpoint, *_calls(route.dependant)]
        if not _awaited(call)
    }
    assert not sync
