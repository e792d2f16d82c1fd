"""Readiness: does every dependency answer, and how fast.

Orchestrators poll ``/ready`` every few seconds, so each check is one cheap
round trip (``SELECT 1`` on a pooled connection; the broker's ``ping``) with
a deadline: a dependency that hangs is reported down in seconds instead of
hanging the probe.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from pipeline.api import schemas
from pipeline.api.probe import BrokerProbe
from pipeline.db import Database
from pipeline.errors import BrokerUnavailable, DatabaseUnavailable, FitsflowError

__all__ = ["READY_TIMEOUT_SECONDS", "check", "readiness"]

#: How long each check may take before its dependency counts as down.
READY_TIMEOUT_SECONDS = 5.0


async def check(
    probe: Callable[[], Awaitable[None]],
    silent: type[FitsflowError],
    within: float | None = None,
) -> schemas.Check:
    """Run ``probe``; a fitsflow error, or no answer ``within`` seconds (``silent``), is down.

    ``within`` defaults to :data:`READY_TIMEOUT_SECONDS` as it is when called.
    """
    within = READY_TIMEOUT_SECONDS if within is None else within
    started = time.perf_counter()
    try:
        async with asyncio.timeout(within):
            await probe()
    except FitsflowError as error:
        failure: FitsflowError = error
    except TimeoutError:
        failure = silent(f"no answer within {within:g}s")
    else:
        return schemas.Check(status="ok", seconds=time.perf_counter() - started)
    return schemas.Check(
        status="down",
        seconds=time.perf_counter() - started,
        error=failure.code,
        message=failure.message,
    )


async def readiness(database: Database, broker: BrokerProbe) -> dict[str, schemas.Check]:
    """Each dependency's check, by name (``database``, ``broker``), run concurrently."""
    database_check, broker_check = await asyncio.gather(
        check(database.ping, DatabaseUnavailable), check(broker.ping, BrokerUnavailable)
    )
    return {"database": database_check, "broker": broker_check}
