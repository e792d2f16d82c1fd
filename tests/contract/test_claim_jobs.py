"""Claiming a group of jobs in one statement decides exactly as one statement per job."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pipeline.clock import utc_now
from pipeline.db import Connection, Database
from pipeline.errors import NotFits
from pipeline.models import Job
from pipeline.repositories import jobs

# Each job's history before the claim, and the message that claims it.
CASES: list[tuple[str, str | None]] = [
    ("queued", "m-new"),
    ("queued, no message id", None),
    ("running, lease expired", "m-other"),
    ("running, live lease, another message", "m-other"),
    ("running, live lease, its own message", "m-own"),
    ("running, no lease", "m-other"),
    ("retrying", "m-retry"),
    ("succeeded", "m-late"),
    ("failed", "m-late"),
]


async def _prepare(database: Database, prefix: str) -> list[int]:
    """One job per case, in the state its name gives."""
    now = utc_now()
    ids = []
    async with database.transaction() as tx:
        for index, (case, _) in enumerate(CASES):
            job = jobs.NewJob(f"/{prefix}/{index}.fits", 1, 1, "test")
            job_id = await jobs.insert_job(tx, job, now)
            ids.append(job_id)
            if case.startswith("running"):
                lease = None if "no lease" in case else now + timedelta(minutes=10)
                if "expired" in case:
                    lease = now - timedelta(minutes=1)
                message = "m-own" if "own" in case else "m-first"
                await jobs.claim_job(tx, job_id, "w0", now, message, lease)
            elif case == "retrying":
                await jobs.claim_job(tx, job_id, "w0", now, "m-first", None)
                await jobs.mark_retrying(tx, job_id, NotFits("x"), now, now)
            elif case in ("succeeded", "failed"):
                await jobs.claim_job(tx, job_id, "w0", now, "m-first", None)
                if case == "failed":
                    await jobs.mark_failed(tx, job_id, NotFits("x"), now)
                else:
                    await _succeed_without_product(tx, job_id, now)
    return ids


async def _succeed_without_product(tx: Connection, job_id: int, now: datetime) -> None:
    await tx.execute(
        "UPDATE jobs SET state = 'succeeded', finished_at = :now WHERE id = :id",
        {"id": job_id, "now": now},
    )


def _claims(ids: Sequence[int]) -> list[tuple[int, str | None]]:
    return [(job_id, message) for job_id, (_, message) in zip(ids, CASES, strict=True)]


def _attempts(claimed: Sequence[Job | None]) -> list[int | None]:
    """The attempt numbers the claims opened (None: nothing claimed)."""
    return [None if job is None else job.attempts for job in claimed]


async def _states(database: Database, ids: Sequence[int]) -> list[tuple[Any, ...]]:
    async with database.transaction(write=False) as tx:
        found = await jobs.jobs_by_id(tx, ids)
    return [(found[i].state, found[i].attempts, found[i].message_id, found[i].worker) for i in ids]


async def test_a_group_claim_matches_claims_one_by_one(database: Database) -> None:
    one_by_one, together = await _prepare(database, "a"), await _prepare(database, "b")
    now, lease = utc_now(), utc_now() + timedelta(minutes=10)
    async with database.transaction() as tx:
        expected = [
            await jobs.claim_job(tx, job_id, "w1", now, message, lease)
            for job_id, message in _claims(one_by_one)
        ]
        claimed = await jobs.claim_jobs(tx, [*_claims(together), (10**9, "m-x")], "w1", now, lease)
        # Each job as the claim left it: what reading it back would give.
        stored = [await jobs.get_job(tx, job_id) for job_id in together]
    assert _attempts(claimed) == [*expected, None]  # the unknown job claims nothing
    assert claimed[:-1] == [
        job if attempt is not None else None for job, attempt in zip(stored, expected, strict=True)
    ]
    # The cases decide as their names say (guards the fixture, not only equality).
    assert [attempt is not None for attempt in expected] == [
        True, True, True, False, True, True, True, False, False,
    ]  # fmt: skip
    assert await _states(database, together) == await _states(database, one_by_one)


async def test_a_job_named_twice_is_claimed_as_one_statement_each_would(
    database: Database,
) -> None:
    [first, *_] = await _prepare(database, "c")
    [second, *_] = await _prepare(database, "d")
    now = utc_now()
    async with database.transaction() as tx:
        expected = [await jobs.claim_job(tx, first, "w1", now, "m", None) for _ in range(2)]
        claimed = await jobs.claim_jobs(tx, [(second, "m"), (second, "m")], "w1", now, None)
    assert _attempts(claimed) == expected == [1, 2]


async def test_more_claims_than_one_statement_holds(database: Database) -> None:
    now = utc_now()
    count = jobs.CLAIM_CHUNK * 2 + 3
    async with database.transaction() as tx:
        ids = [
            await jobs.insert_job(tx, jobs.NewJob(f"/many/{i}.fits", 1, 1, "test"), now)
            for i in range(count)
        ]
        claimed = await jobs.claim_jobs(tx, [(i, f"m{i}") for i in ids], "w1", now, None)
    assert _attempts(claimed) == [1] * count
    assert [job.id for job in claimed if job] == ids
