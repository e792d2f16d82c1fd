"""The pipeline at a glance: what ``GET /summary`` and ``fitsflow status`` show.

One function builds the document for both, so a script reading
``fitsflow status --json`` and a dashboard polling ``/summary`` see the same
numbers. The database part is three index-only or index-bounded reads in one
read block (see :mod:`pipeline.repositories.status`), which the API
reuses for a second once they grow costly (:mod:`pipeline.api.summary_counts`,
the result labelled with ``counted_at``); the broker is
asked for its queue depths with a deadline, and a broker that cannot answer
leaves ``queues`` null with the reason in ``broker_error`` rather than
failing the whole summary.
"""

from __future__ import annotations

import asyncio

from pipeline.api import schemas
from pipeline.api.probe import BrokerProbe
from pipeline.api.summary_counts import CountCache, count
from pipeline.db import Database
from pipeline.errors import BrokerUnavailable, FitsflowError

__all__ = ["BROKER_TIMEOUT_SECONDS", "build_summary", "queue_depths"]

#: How long the broker may take to report its queues before it counts as down.
BROKER_TIMEOUT_SECONDS = 5.0


async def queue_depths(
    broker: BrokerProbe, within: float | None = None
) -> dict[str, schemas.QueueDepth]:
    """The broker's queue depths; :class:`BrokerUnavailable` without an answer ``within`` s.

    ``within`` defaults to :data:`BROKER_TIMEOUT_SECONDS` as it is when called.
    """
    within = BROKER_TIMEOUT_SECONDS if within is None else within
    try:
        async with asyncio.timeout(within):
            depths = await broker.queue_depths()
    except TimeoutError:
        raise BrokerUnavailable(f"the broker reported no queues within {within:g}s") from None
    return {name: schemas.QueueDepth.model_validate(depth) for name, depth in depths.items()}


async def build_summary(
    database: Database, broker: BrokerProbe, counts: CountCache | None = None
) -> schemas.Summary:
    """Jobs per state, products, queue depths, pool statistics and failures by code.

    ``counts``: where the counts come from (the API's cache); none: counted now.
    """
    counted = await (counts.get() if counts is not None else count(database))
    queues: dict[str, schemas.QueueDepth] | None = None
    broker_error: schemas.ErrorEnvelope | None = None
    try:
        queues = await queue_depths(broker)
    except FitsflowError as error:
        broker_error = schemas.ErrorEnvelope.model_validate(error.to_dict())
    return schemas.Summary(
        jobs=schemas.JobCounts.model_validate(counted.jobs),
        products=counted.products,
        queues=queues,
        broker_error=broker_error,
        # Taken once the reads above have given their connection back, so
        # ``in_use`` counts everyone else's work, not this summary's.
        database=schemas.PoolStats.model_validate(database.stats()),
        failures_by_code=counted.failures_by_code,
        counted_at=counted.counted_at,
    )
