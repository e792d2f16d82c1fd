"""Serving Prometheus metrics from the processes that have no status API.

Three processes expose metrics, each from what it can see:

- the status API (``fitsflow run``, ``fitsflow api``) on its own ``/metrics``
  (:mod:`pipeline.api.metrics`): its process's registry — everything, in the
  embedded mode — plus the broker's queue depths;
- ``fitsflow watch`` on ``metrics.watch_port``: the watcher, admission, the
  reconciler and its pool (:func:`start_process_server`);
- ``fitsflow worker`` on ``metrics.worker_port``: every Dramatiq worker
  process of the host added up. Those processes write their values to files
  in one directory (prometheus_client's multiprocess mode); one extra
  process, started by Dramatiq beside the workers (a middleware's *fork*, the
  pattern of ``dramatiq.middleware.prometheus``), reads them per scrape
  (:func:`serve_worker_metrics`).

These endpoints are a small threaded HTTP server, not the API: they answer
``GET /metrics`` only, and ask for ``api.token`` exactly when the API's read
endpoints do (``api.protect_reads``), comparing it in constant time.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from pipeline import metrics
from pipeline.errors import ValidationError
from pipeline.settings import Settings

__all__ = [
    "MetricsServer",
    "render_process",
    "serve_worker_metrics",
    "start_process_server",
]

log = structlog.get_logger(__name__)

Render = Callable[[], bytes]


def render_process() -> bytes:
    """This process's metrics in the Prometheus text format, pools brought up to date."""
    metrics.sync_pools()
    return generate_latest(REGISTRY)


def render_multiprocess(directory: str) -> Render:
    """A renderer adding up the metric files every process left in ``directory``."""

    def render() -> bytes:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    return render


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self._answer(404, b"not found: try /metrics\n", "text/plain")
        elif not self.server.authorised(self.headers.get("Authorization", "")):
            self._answer(403, b"a valid bearer token is required (api.token)\n", "text/plain")
        else:
            try:
                body = self.server.render()
            except Exception as error:  # noqa: BLE001 - answered, not dropped
                # Unanswered, the scraper would see only a closed connection.
                log.warning("metrics could not be rendered", error=repr(error))
                message = f"metrics unavailable: {type(error).__name__}: {error}\n"
                self._answer(503, message.encode(), "text/plain")
                return
            self._answer(200, body, CONTENT_TYPE_LATEST)

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # Scrapes every few seconds are not worth a line each.
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], render: Render, token: str | None) -> None:
        super().__init__(address, _Handler)
        self.render = render
        self.token = token

    def authorised(self, header: str) -> bool:
        if self.token is None:
            return True
        scheme, _, given = header.partition(" ")
        given = given.strip() if scheme.lower() == "bearer" else ""
        return hmac.compare_digest(given.encode(), self.token.encode())


class MetricsServer:
    """``GET /metrics`` on ``host:port`` (0: any free port) from a daemon thread."""

    def __init__(self, host: str, port: int, render: Render, token: str | None = None) -> None:
        try:
            self._server = _Server((host, port), render, token)
        except OSError as error:
            raise ValidationError(
                f"the metrics endpoint cannot listen on {host}:{port}: {error.strerror or error}",
                details={"settings": ["metrics.host", "metrics.port"]},
            ) from error
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fitsflow-metrics", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/metrics"

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics endpoint serving", url=self.url)
        return self

    def serve_forever(self) -> None:
        """Serve on the calling thread (a process of its own) until it is ended."""
        log.info("metrics endpoint serving", url=self.url)
        self._server.serve_forever()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()


def _token(settings: Settings) -> str | None:
    return settings.api.token if settings.api.protect_reads else None


def start_process_server(settings: Settings, port: int | None) -> MetricsServer | None:
    """This process's metrics on ``metrics.host:port``; None when ``port`` is unset."""
    if port is None:
        return None
    return MetricsServer(settings.metrics.host, port, render_process, _token(settings)).start()


def serve_worker_metrics() -> int:
    """Entry point of the process Dramatiq forks beside the workers (see module docstring).

    A process of its own, like ``dramatiq workers``' workers: it reads its
    settings as they do, from the ``FITSFLOW_*`` environment ``fitsflow worker``
    passed on.
    """
    from pipeline.settings import load_settings

    settings = load_settings()
    port = settings.metrics.worker_port
    directory = settings.metrics.multiprocess_dir
    if port is None or directory is None:
        log.error("worker metrics need metrics.worker_port and metrics.multiprocess_dir")
        return 1
    render = render_multiprocess(directory)
    MetricsServer(settings.metrics.host, port, render, _token(settings)).serve_forever()
    return 0
