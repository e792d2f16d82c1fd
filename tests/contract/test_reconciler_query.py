"""The reconciler's SQL pre-filter selects exactly the jobs its rules call due.

``jobs.due_unfinished_jobs`` narrows each round to the unfinished jobs that
may have lost their message; ``Reconciler._is_lost`` then decides. If the SQL
dropped a job the rules call due, that job's lost message would never be
sent again: so the query is compared, on both databases, with the rules
written out in Python over jobs in every state with timestamps on both sides
of every boundary.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from pipeline.clock import utc_now
from pipeline.db import Database
from pipeline.repositories import jobs
from pipeline.repositories.jobs import NewJob

STALE = timedelta(seconds=60)
GRACE = timedelta(seconds=5)
STATES = ["queued", "running", "retrying", "succeeded", "failed"]


def _due(row: dict[str, object], now: datetime) -> bool:
    """The time rules of Reconciler._is_lost, written out."""
    state = row["state"]
    if state == "queued" and row["enqueued_at"] is None:
        return row["created_at"] < now - GRACE  # type: ignore[operator]
    if state == "queued":
        return row["enqueued_at"] < now - STALE  # type: ignore[operator]
    if state == "running":
        return row["lease_expires_at"] is not None and row["lease_expires_at"] < now  # type: ignore[operator]
    if state == "retrying":
        return row["next_attempt_at"] is None or row["next_attempt_at"] < now - STALE  # type: ignore[operator]
    return False


async def test_the_query_selects_what_the_rules_call_due(database: Database) -> None:
    now = utc_now()
    rng = random.Random(5)
    offsets = [None, -3600, -61, -60.001, -59.999, -5.001, -4.999, -1, 0.5, 30, 3600]

    def moment() -> datetime | None:
        offset = rng.choice(offsets)
        return None if offset is None else now + timedelta(seconds=offset)

    async def fill(tx: object) -> list[dict[str, object]]:
        made = []
        for n in range(400):
            [job_id] = await jobs.insert_jobs(tx, [NewJob(f"/d/{n}.fits", 1, 1, "t")], now)  # type: ignore[arg-type]
            row = {
                "id": job_id,
                "state": rng.choice(STATES),
                "created_at": moment() or now,
                "enqueued_at": moment(),
                "lease_expires_at": moment(),
                "next_attempt_at": moment(),
            }
            await tx.execute(  # type: ignore[attr-defined]
                "UPDATE jobs SET state = :state, created_at = :created_at,"
                " enqueued_at = :enqueued_at, lease_expires_at = :lease_expires_at,"
                " next_attempt_at = :next_attempt_at WHERE id = :id",
                row,
            )
            made.append(row)
        return made

    made = await database.run_in_transaction(fill)
    expected = [row["id"] for row in made if _due(row, now)]
    found: list[int] = []
    after_id = 0
    while True:  # paged as the reconciler pages
        async with database.transaction(write=False) as tx:
            page = await jobs.due_unfinished_jobs(
                tx,
                after_id,
                37,
                now=now,
                stale_before=now - STALE,
                never_sent_before=now - GRACE,
            )
        if not page:
            break
        found.extend(job.id for job in page)
        after_id = page[-1].id
    assert 50 < len(expected) < 350  # both sides of the rules are exercised
    assert found == expected
