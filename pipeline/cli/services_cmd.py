"""The long-running commands: ``run`` (everything in one process), and the
distributed parts ``watch``, ``worker`` and ``api``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer

from pipeline.cli.common import (
    ConfigOption,
    DatabaseUrlOption,
    PriorityOption,
    load,
    reports_errors,
)
from pipeline.cli.state import configure_for
from pipeline.collector import tune_collector
from pipeline.db import Database, open_database
from pipeline.db.migrate import ensure_schema, require_schema
from pipeline.errors import DatabaseUnavailable, ValidationError
from pipeline.eventloop import run_loop
from pipeline.priority import lower_priority
from pipeline.settings import Settings

__all__ = ["api", "run", "watch", "worker"]

log = structlog.get_logger(__name__)

WatchOption = Annotated[
    list[Path] | None,
    typer.Option("--watch", "-w", help="A directory to watch (repeat for more).", file_okay=False),
]
BrokerUrlOption = Annotated[
    str | None,
    typer.Option("--broker-url", help="redis://host:6379/0 or amqp://user:pass@host:5672/"),
]
HostOption = Annotated[str | None, typer.Option("--host", help="Status endpoint address.")]
PortOption = Annotated[int | None, typer.Option("--port", help="Status endpoint port.")]


def _watch_roots(given: list[Path] | None, settings_roots: tuple[str, ...]) -> dict[str, Any]:
    roots = [*settings_roots, *(str(path) for path in given or [])]
    unique = tuple(dict.fromkeys(os.path.abspath(root) for root in roots))
    return {"roots": unique} if given else {}


@contextlib.asynccontextmanager
async def _connected(
    settings: Settings, wait_seconds: float = 60.0, pool: str = "service"
) -> AsyncIterator[Database]:
    """The database, connected once it answers (a service may start before it).

    Its pool is reported in the metrics as ``pool``.
    """
    from pipeline import metrics

    database = open_database(settings.database)
    metrics.track_pool(pool, database)
    deadline = time.monotonic() + wait_seconds
    delay = 0.5
    while True:
        try:
            await database.connect()
            break
        except DatabaseUnavailable as error:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("waiting for the database", error=error.message, retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    try:
        yield database
    finally:
        await database.close()


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)


@reports_errors
def run(
    watch: WatchOption = None,
    database_url: DatabaseUrlOption = None,
    host: HostOption = None,
    port: PortOption = None,
    config: ConfigOption = None,
) -> None:
    """Run everything in one process: watcher, reconciler, worker threads and
    the status endpoint, on SQLite (by default) and the in-process queue.

    Ctrl-C stops it cleanly: files in flight finish or go back to queued.
    One `fitsflow run` per database: at start it takes every running job as
    its own orphan (use `watch` + `worker` to share a database).
    """
    base = load(config, database_url)
    settings = load(
        config,
        database_url,
        watch=_watch_roots(watch, base.watch.roots),
        api={"host": host, "port": port},
        broker={"url": "memory://"},
    )
    _require_roots(settings)
    configure_for(settings, service=True)
    ensure_schema(settings.database.url)
    run_loop(_run_embedded(settings))


def _require_roots(settings: Settings) -> None:
    if not settings.watch.roots:
        raise ValidationError(
            "nothing to watch: give --watch DIR (or set watch.roots)",
            details={"settings": ["watch.roots"]},
        )


async def _run_embedded(settings: Settings) -> None:
    import dramatiq

    from pipeline.api import create_app
    from pipeline.api.server import ApiServer
    from pipeline.node import WatchNode
    from workers.probe import AdapterProbe
    from workers.runtime import install

    tune_collector()
    stop = asyncio.Event()
    _stop_on_signals(stop)
    async with _connected(settings) as database:
        # One loop and one adapter for watcher, reconciler, API and actors.
        runtime = install(settings, shared_loop=asyncio.get_running_loop(), database=database)
        configure_for(
            settings, service=True
        )  # importing workers configured it from the environment
        worker = dramatiq.Worker(
            runtime.broker, worker_threads=settings.worker.embedded_threads, worker_timeout=100
        )
        worker.start()
        try:
            node = WatchNode(
                settings, database, runtime, runtime, settings.watch.roots, resend_on_start=True
            )
            probe = AdapterProbe(runtime.adapter, runtime.broker, runtime.queue)
            app = create_app(database, probe, settings=settings, sender=runtime)
            server = ApiServer(app, settings.api.host, settings.api.port)
            port = server.listen()
            serving = asyncio.create_task(server.serve())
            watching = asyncio.create_task(node.run(stop))
            log.info(
                "fitsflow is running",
                roots=list(settings.watch.roots),
                database=settings.database.url,
                status=f"http://{settings.api.host}:{port}/summary",
            )
            await _until_stopped(stop, watching)
            server.stop()
            await serving
        finally:
            log.info("stopping: letting files in flight finish")
            # In a thread: the actors finishing their files need this loop.
            await asyncio.to_thread(worker.stop, int(settings.worker.time_limit_seconds * 1000))
            log.info("stopped")


async def _until_stopped(stop: asyncio.Event, watching: asyncio.Task[None]) -> None:
    """Wait for a signal; a watch node that dies takes the process down with it."""
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({stopping, watching}, return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    if watching in done:
        stopping.cancel()
        watching.result()  # re-raise what stopped the watcher
    else:
        await watching


@reports_errors
def watch(
    watch: WatchOption = None,
    database_url: DatabaseUrlOption = None,
    broker_url: BrokerUrlOption = None,
    config: ConfigOption = None,
) -> None:
    """Watch directories and admit complete files into the queue (distributed mode)."""
    base = load(config, database_url, broker={"url": broker_url})
    settings = load(
        config,
        database_url,
        broker={"url": broker_url},
        watch=_watch_roots(watch, base.watch.roots),
    )
    _require_roots(settings)
    _require_shared_broker(settings, "watch")
    configure_for(settings, service=True)
    require_schema(settings.database.url)
    run_loop(_watch(settings))


def _require_shared_broker(settings: Settings, command: str) -> None:
    if settings.broker.in_process:
        raise ValidationError(
            f"`fitsflow {command}` needs a shared broker (--broker-url redis://… or amqp://…); "
            "memory:// only works inside `fitsflow run`",
            details={"settings": ["broker.url"]},
        )


async def _watch(settings: Settings) -> None:
    from pipeline.metrics_http import start_process_server
    from pipeline.node import WatchNode
    from workers.runtime import install

    runtime = install(settings)
    configure_for(settings, service=True)
    tune_collector()
    stop = asyncio.Event()
    _stop_on_signals(stop)
    async with _connected(settings, pool="watch") as database:
        node = WatchNode(settings, database, runtime, runtime, settings.watch.roots)
        exporter = start_process_server(settings, settings.metrics.watch_port)
        try:
            await node.run(stop)
        finally:
            if exporter is not None:
                exporter.stop()


@reports_errors
def worker(
    processes: Annotated[int | None, typer.Option(min=1, help="Worker processes.")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="Threads per process.")] = None,
    database_url: DatabaseUrlOption = None,
    broker_url: BrokerUrlOption = None,
    config: ConfigOption = None,
    priority: PriorityOption = None,
) -> None:
    """Run ingest workers: the standard ``dramatiq workers`` CLI with these settings."""
    settings = load(
        config,
        database_url,
        broker={"url": broker_url},
        worker={"processes": processes, "threads": threads, "priority": priority},
    )
    _require_shared_broker(settings, "worker")
    require_schema(settings.database.url)
    from pipeline.cli.dramatiq_workers import exec_workers

    # Kept across the exec and inherited by Dramatiq's worker processes.
    lower_priority(settings.worker.priority)

    exec_workers(settings, config)


@reports_errors
def api(
    database_url: DatabaseUrlOption = None,
    broker_url: BrokerUrlOption = None,
    host: HostOption = None,
    port: PortOption = None,
    config: ConfigOption = None,
) -> None:
    """Serve the status endpoint over the database and the broker."""
    settings = load(
        config, database_url, broker={"url": broker_url}, api={"host": host, "port": port}
    )
    configure_for(settings, service=True)
    require_schema(settings.database.url)
    run_loop(_serve_api(settings))


async def _serve_api(settings: Settings) -> None:
    from pipeline.api import create_app
    from pipeline.api.probe import probe_for
    from pipeline.api.server import ApiServer
    from pipeline.cli.operator import sender_for

    stop = asyncio.Event()
    _stop_on_signals(stop)
    async with _connected(settings) as database:
        probe, sender = probe_for(settings.broker), sender_for(settings)
        app = create_app(database, probe, settings=settings, sender=sender)
        tune_collector()  # after the app is built: its routes and schemas are frozen too
        server = ApiServer(app, settings.api.host, settings.api.port)
        port = server.listen()
        serving = asyncio.create_task(server.serve())
        log.info("status endpoint serving", url=f"http://{settings.api.host}:{port}")
        await stop.wait()
        server.stop()
        await serving
