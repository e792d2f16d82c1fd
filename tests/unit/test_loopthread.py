"""The distributed workers' loop thread runs on uvloop (workers.loopthread)."""

from __future__ import annotations

import asyncio

import uvloop
from dramatiq.asyncio import get_event_loop_thread

from workers.loopthread import FastLoopAsyncIO


async def _loop_type() -> type[asyncio.AbstractEventLoop]:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop())


async def _in_executor() -> int:
    return await asyncio.get_running_loop().run_in_executor(None, sum, [1, 2, 3])


def test_async_actors_run_on_a_uvloop_thread_that_stops_with_the_worker() -> None:
    middleware = FastLoopAsyncIO()
    middleware.before_worker_boot(None, None)  # type: ignore[arg-type]
    thread = get_event_loop_thread()
    assert thread is not None
    try:
        assert thread.run_coroutine(_loop_type()) is uvloop.Loop
        assert thread.run_coroutine(_in_executor()) == 6  # the parsers' executor hop
    finally:
        middleware.after_worker_shutdown(None, None)  # type: ignore[arg-type]
    assert get_event_loop_thread() is None
    assert not thread.is_alive() and thread.loop.is_closed()
