"""The catalogue-wide counts behind ``GET /summary``, recounted at most once a second
on large catalogues.

Counting jobs per state and products reads indexes that grow with the
catalogue: on PostgreSQL with a million jobs and products the counts take
about a hundred milliseconds or more of database time, every request. A wall
of dashboards polling ``/summary`` would keep the database busy counting, and
each poll would wait for it. So, per database:

- while a count takes less than :data:`RECOUNT_BELOW_SECONDS` (small
  catalogues — and every test), each request counts afresh: exact at the
  moment of the request, as before;
- once counting costs more, a count is reused for :data:`MAX_AGE_SECONDS`
  (``api.summary_cache_seconds``), or longer when the count itself took
  long: the API counts at most :data:`COUNT_TIME_SHARE` of the time (a
  count that took 300 ms is reused for 3 s). Measured with 1,000,000 jobs
  and products in PostgreSQL while ingest ran, a recount every second kept
  one database backend busy a quarter of the time, slowing every other
  request of the API and the ingest;
  after that the last count is still answered at once while *one* recount
  runs in the background (stale-while-revalidate), so no request waits for a
  count except the very first, or when the last good count is older than
  :data:`MAX_STALE_SECONDS` (the recounts fail: the request counts itself
  and reports the outage).

Every count is exact as of its ``counted_at``, which ``/summary`` reports with
it; ``fitsflow status`` always counts afresh.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import structlog

from pipeline.clock import utc_now
from pipeline.db import Database
from pipeline.errors import FitsflowError
from pipeline.repositories import products, status

__all__ = [
    "COUNT_TIME_SHARE",
    "MAX_AGE_SECONDS",
    "MAX_STALE_SECONDS",
    "RECOUNT_BELOW_SECONDS",
    "CountCache",
    "Counts",
    "count",
    "counts_for",
]

log = structlog.get_logger(__name__)

#: Counts that took less than this are never reused.
RECOUNT_BELOW_SECONDS: Final = 0.02
#: How long an expensive count is answered without recounting.
MAX_AGE_SECONDS: Final = 1.0
#: Past this age a request no longer gets the old count: it counts itself.
MAX_STALE_SECONDS: Final = 10.0
#: The largest share of the time the API spends counting (see the module docstring).
COUNT_TIME_SHARE: Final = 0.1


@dataclass(frozen=True, slots=True)
class Counts:
    """Jobs per state, products and failures by code, exact as of ``counted_at``."""

    jobs: dict[str, int]
    products: int
    failures_by_code: dict[str, int]
    counted_at: datetime
    #: How long counting took (it decides whether the count may be reused).
    seconds: float


async def count(database: Database) -> Counts:
    """Count now, in one read block (``transaction(write=False)``)."""
    started = time.perf_counter()
    async with database.transaction(write=False) as tx:
        jobs = await status.count_jobs_by_state(tx)
        product_count = await products.count_products(tx)
        failures = await status.failures_by_code(tx)
    return Counts(jobs, product_count, failures, utc_now(), time.perf_counter() - started)


class CountCache:
    """The counts of one database, reused while recounting them would cost too much."""

    def __init__(
        self,
        database: Database,
        *,
        max_age: float = MAX_AGE_SECONDS,
        max_stale: float = MAX_STALE_SECONDS,
        recount_below: float = RECOUNT_BELOW_SECONDS,
        time_share: float | None = None,
    ) -> None:
        self._database = database
        self._max_age, self._max_stale, self._recount_below = max_age, max_stale, recount_below
        self._time_share = time_share
        self._last: Counts | None = None
        self._taken = 0.0  # monotonic time of the last count
        self._lock = asyncio.Lock()
        self._recounting: asyncio.Task[None] | None = None

    async def get(self) -> Counts:
        """Counts as fresh as the rules in the module docstring allow."""
        last = self._last
        if last is None or self._max_age <= 0 or last.seconds < self._recount_below:
            return await self._count()
        age, fresh_for = time.monotonic() - self._taken, self._fresh_for(last)
        if age < fresh_for:
            return last
        if age < max(self._max_stale, 4 * fresh_for):
            self._recount_in_background()
            return last
        async with self._lock:  # one request counts; the others wait for its answer
            if time.monotonic() - self._taken < fresh_for and self._last is not None:
                return self._last
            return await self._count()

    def _fresh_for(self, last: Counts) -> float:
        """How long ``last`` is answered without recounting."""
        if self._time_share is None:
            return self._max_age
        return max(self._max_age, last.seconds / self._time_share)

    async def _count(self) -> Counts:
        counts = await count(self._database)
        self._last, self._taken = counts, time.monotonic()
        return counts

    def _recount_in_background(self) -> None:
        if self._recounting is None or self._recounting.done():
            self._recounting = asyncio.create_task(self._recount())

    async def _recount(self) -> None:
        try:
            async with self._lock:
                await self._count()
        except FitsflowError as error:  # the request that finds it too old reports it
            log.warning("summary recount failed", code=error.code, error=error.message)


_caches: weakref.WeakKeyDictionary[Database, CountCache] = weakref.WeakKeyDictionary()


def counts_for(database: Database, max_age: float = MAX_AGE_SECONDS) -> CountCache:
    """The one cache of ``database`` (apps sharing a database share its counts).

    ``max_age`` 0 turns reuse off: every request counts.
    """
    cache = _caches.get(database)
    if cache is None:
        stale = max(MAX_STALE_SECONDS, 10 * max_age)
        cache = _caches[database] = CountCache(
            database, max_age=max_age, max_stale=stale, time_share=COUNT_TIME_SHARE
        )
    return cache
