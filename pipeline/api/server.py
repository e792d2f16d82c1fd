"""Serving the status API with uvicorn inside an event loop that is already running.

``fitsflow run`` serves the API beside the watcher and the workers in one
process and one loop, so the server here binds its socket up front (a port in
use is a clear settings error, not uvicorn's ``sys.exit``), leaves signal
handling to the process that embeds it, and stops when told::

    server = ApiServer(app, settings.api.host, settings.api.port)
    task = asyncio.create_task(server.serve())
    ...
    server.stop()          # or task.cancel()
    await task
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from pipeline.errors import ValidationError

__all__ = ["GRACEFUL_SHUTDOWN_SECONDS", "ApiServer", "serve"]

#: How long requests in flight may take to finish once the server is stopped.
GRACEFUL_SHUTDOWN_SECONDS = 5.0


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its SIGINT/SIGTERM handlers: the embedding process owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listener = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as error:
        raise ValidationError(
            f"the status API cannot listen on {host}:{port}: {error.strerror or error}",
            details={"settings": ["api.host", "api.port"]},
        ) from error
    # asyncio turns Nagle's algorithm off only for sockets created with
    # proto=IPPROTO_TCP, which create_server's are not: without this, every
    # answer on a kept-alive connection after the first waited ~40 ms for the
    # client's delayed ACK. Accepted connections inherit the option (Linux).
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return listener


class ApiServer:
    """One uvicorn server for ``app`` on ``host:port`` (port 0: any free port)."""

    def __init__(
        self,
        app: FastAPI,
        host: str,
        port: int,
        *,
        graceful_shutdown_seconds: float = GRACEFUL_SHUTDOWN_SECONDS,
    ) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",  # the app owns nothing to start or stop
            log_config=None,  # logging is fitsflow's (pipeline.logs)
            access_log=False,
            timeout_graceful_shutdown=int(graceful_shutdown_seconds),
        )
        self._server = _EmbeddedServer(config)
        self._host, self._port = host, port
        self._socket: socket.socket | None = None

    def listen(self) -> int:
        """Bind and listen now (idempotent); returns the port. Connections queue from here."""
        if self._socket is None:
            self._socket = _listen(self._host, self._port)
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def started(self) -> bool:
        """Whether uvicorn is accepting connections."""
        return self._server.started

    def stop(self) -> None:
        """Ask the server to finish the requests in flight and return from :meth:`serve`."""
        self._server.should_exit = True

    async def serve(self) -> None:
        """Serve until :meth:`stop` is called or the task is cancelled."""
        self.listen()
        assert self._socket is not None
        sockets = [self._socket]
        try:
            await self._server.serve(sockets=sockets)
        except asyncio.CancelledError:
            if self._server.started:
                # Cancelled inside uvicorn's main loop: still close the
                # listener and the open connections before going.
                self._server.should_exit = True
                await self._server.shutdown(sockets=sockets)
            raise
        finally:
            self._socket.close()
            self._socket = None


async def serve(app: FastAPI, host: str, port: int) -> None:
    """Serve ``app`` on ``host:port`` in the running loop until the task is cancelled.

    Use :class:`ApiServer` for a handle that can be stopped with ``stop()``
    or that reports the port it bound.
    """
    await ApiServer(app, host, port).serve()
