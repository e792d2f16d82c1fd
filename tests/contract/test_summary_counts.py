"""/summary's counts on both databases: exact per request on small catalogues,
reused for a second and recounted in the background once counting is costly."""

from __future__ import annotations

import asyncio
import time

from pipeline.api.summary_counts import CountCache, count, counts_for
from pipeline.clock import utc_now
from pipeline.db import Database
from pipeline.repositories import jobs
from pipeline.repositories.jobs import NewJob


async def _admit(database: Database, path: str) -> None:
    async def insert(tx: object) -> None:
        await jobs.insert_job(tx, NewJob(path, 1, 1, "test"), utc_now())  # type: ignore[arg-type]

    await database.run_in_transaction(insert)


async def _eventually_queued(cache: CountCache, expected: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while (await cache.get()).jobs["queued"] != expected:
        assert time.monotonic() < deadline, "the background recount never landed"
        await asyncio.sleep(0.01)


async def test_cheap_counts_are_exact_at_every_request(database: Database) -> None:
    cache = CountCache(database)  # a small catalogue counts in well under 20 ms
    assert (await cache.get()).jobs["queued"] == 0
    await _admit(database, "/data/a.fits")
    answered, counted = await cache.get(), await count(database)
    assert answered.jobs == counted.jobs and answered.jobs["queued"] == 1
    assert answered.products == counted.products == 0


async def test_costly_counts_are_reused_then_recounted_in_the_background(
    database: Database,
) -> None:
    # recount_below=0: every count counts as costly.
    cache = CountCache(database, max_age=3600.0, recount_below=0.0)
    first = await cache.get()
    await _admit(database, "/data/a.fits")
    again = await cache.get()
    assert again is first and again.jobs["queued"] == 0  # reused: labelled by counted_at
    stale = CountCache(database, max_age=1e-9, max_stale=3600.0, recount_below=0.0)
    before = await stale.get()
    await _admit(database, "/data/b.fits")
    answered = await stale.get()  # answered at once with the last count...
    assert answered.counted_at == before.counted_at
    await _eventually_queued(stale, 2)  # ...while one recount catches up


async def test_a_count_too_old_is_redone_by_the_request(database: Database) -> None:
    cache = CountCache(database, max_age=1e-9, max_stale=1e-9, recount_below=0.0)
    first = await cache.get()
    await _admit(database, "/data/a.fits")
    second = await cache.get()
    assert second.counted_at >= first.counted_at and second.jobs["queued"] == 1


async def test_one_cache_per_database(database: Database) -> None:
    assert counts_for(database) is counts_for(database)


async def test_reuse_turned_off_counts_every_request(database: Database) -> None:
    cache = counts_for(database, max_age=0.0)
    cache._recount_below = 0.0  # even counts that look costly are not reused
    assert (await cache.get()).jobs["queued"] == 0
    await _admit(database, "/data/a.fits")
    assert (await cache.get()).jobs["queued"] == 1


async def test_a_slow_count_is_reused_longer(database: Database) -> None:
    """A count that took ``t`` is reused for ``t / time_share``: counting stays a
    bounded share of the database's time however large the catalogue grows."""
    cache = CountCache(database, max_age=1e-9, recount_below=0.0, time_share=1e-9)
    first = await cache.get()  # any count takes far more than 1e-9 x 1e-9 s
    await _admit(database, "/data/a.fits")
    assert await cache.get() is first
    unbounded = CountCache(database, max_age=1e-9, max_stale=1e-9, recount_below=0.0)
    await unbounded.get()
    await _admit(database, "/data/b.fits")
    assert (await unbounded.get()).jobs["queued"] == 2
