"""Jobs (the outbox rows) and their attempts."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from pipeline.db import Connection, ManyRows
from pipeline.errors import FitsflowError
from pipeline.jsonutil import dumps
from pipeline.models import Job, JobAttempt, JobState, Outcome
from pipeline.repositories.batching import chunks, fetch_in, values_in
from pipeline.repositories.joined import prefixed_columns, unprefixed

__all__ = [
    "NewJob",
    "claim_job",
    "claim_jobs",
    "due_unfinished_jobs",
    "finish_attempt",
    "finish_attempts_succeeded",
    "finish_open_attempts",
    "get_job",
    "insert_attempts",
    "insert_job",
    "insert_jobs",
    "job_with_attempts",
    "jobs_by_id",
    "jobs_for_path",
    "latest_for_path",
    "list_attempts",
    "mark_enqueued",
    "mark_enqueued_many",
    "mark_failed",
    "mark_retrying",
    "mark_succeeded",
    "mark_succeeded_many",
    "pending_states",
    "release_job",
    "release_orphans",
    "start_attempt",
    "unfinished_jobs",
]


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to admit: the file as it was seen."""

    path: str
    size: int | None
    mtime_ns: int | None
    source: str
    batch_id: int | None = None


INSERT_JOB_SQL = (
    "INSERT INTO jobs (path, size, mtime_ns, state, source, attempts, batch_id,"
    " created_at, updated_at) VALUES (:path, :size, :mtime_ns, :state, :source, 0, :batch_id,"
    " :now, :now) RETURNING id"
)
# A running job is taken over only by the message it was started for (the
# broker redelivers a message only once its worker is gone) or once its
# lease has expired; a duplicate message meanwhile finds nothing to do.
START_ATTEMPT_SQL = (
    "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = :now,"
    " updated_at = :now, next_attempt_at = NULL, lease_expires_at = :lease_until,"
    " worker = :worker, message_id = COALESCE(:message_id, message_id)"
    " WHERE id = :id AND state NOT IN ('succeeded', 'failed')"
    " AND (state <> 'running' OR lease_expires_at IS NULL OR lease_expires_at < :now"
    " OR message_id = :message_id) RETURNING attempts"
)
INSERT_ATTEMPT_SQL = (
    "INSERT INTO job_attempts (job_id, attempt, started_at, worker)"
    " VALUES (:job_id, :attempt, :now, :worker)"
)
FINISH_ATTEMPT_SQL = (
    "UPDATE job_attempts SET finished_at = :now, outcome = :outcome, error_code = :code,"
    " error_message = :message WHERE job_id = :job_id AND attempt = :attempt"
)
FINISH_OPEN_ATTEMPTS_SQL = (
    "UPDATE job_attempts SET finished_at = :now, outcome = :outcome, error_code = :code,"
    " error_message = :message WHERE job_id = :job_id AND finished_at IS NULL"
)
MARK_SUCCEEDED_SQL = (
    "UPDATE jobs SET state = 'succeeded', outcome = :outcome, product_id = :product_id,"
    " error_code = NULL, error_message = NULL, error_details = NULL, finished_at = :now,"
    " updated_at = :now, next_attempt_at = NULL, lease_expires_at = NULL WHERE id = :id"
)
# A group's jobs, attempts and outbox marks as one statement each on
# PostgreSQL (ManyRows: a statement a row costs twice the server's CPU).
INSERT_ATTEMPTS = ManyRows(
    each=INSERT_ATTEMPT_SQL,
    arrays="INSERT INTO job_attempts (job_id, attempt, started_at, worker)"
    " SELECT v.job_id, v.attempt, :now, :worker"
    " FROM unnest(:job_id::bigint[], :attempt::integer[]) AS v(job_id, attempt)",
    shared=frozenset({"now", "worker"}),
)
FINISH_ATTEMPTS_SUCCEEDED = ManyRows(
    each=FINISH_ATTEMPT_SQL,
    arrays="UPDATE job_attempts SET finished_at = :now, outcome = 'succeeded', error_code = NULL,"
    " error_message = NULL"
    " FROM unnest(:job_id::bigint[], :attempt::integer[]) AS v(job_id, attempt)"
    " WHERE job_attempts.job_id = v.job_id AND job_attempts.attempt = v.attempt",
    shared=frozenset({"now"}),
)
MARK_SUCCEEDED = ManyRows(
    each=MARK_SUCCEEDED_SQL,
    arrays="UPDATE jobs SET state = 'succeeded', outcome = v.outcome, product_id = v.product_id,"
    " error_code = NULL, error_message = NULL, error_details = NULL, finished_at = :now,"
    " updated_at = :now, next_attempt_at = NULL, lease_expires_at = NULL"
    " FROM unnest(:id::bigint[], :product_id::bigint[], :outcome::text[])"
    " AS v(id, product_id, outcome) WHERE jobs.id = v.id",
    shared=frozenset({"now"}),
)
# A finished job stays as it finished: a failure noticed late (the actor's
# time limit firing while the job's success was being committed) changes nothing.
MARK_FAILED_SQL = (
    "UPDATE jobs SET state = 'failed', error_code = :code, error_message = :message,"
    " error_details = :details, finished_at = :now, updated_at = :now, next_attempt_at = NULL,"
    " lease_expires_at = NULL WHERE id = :id AND state NOT IN ('succeeded', 'failed')"
)
MARK_RETRYING_SQL = (
    "UPDATE jobs SET state = 'retrying', error_code = :code, error_message = :message,"
    " error_details = :details, next_attempt_at = :next_attempt_at, updated_at = :now,"
    " lease_expires_at = NULL WHERE id = :id AND state NOT IN ('succeeded', 'failed')"
)
RELEASE_JOB_SQL = (
    "UPDATE jobs SET state = 'queued', lease_expires_at = NULL, updated_at = :now"
    " WHERE id = :id AND state = 'running'"
)
RELEASE_ORPHANS_SQL = (
    "UPDATE jobs SET state = 'queued', lease_expires_at = NULL, updated_at = :now"
    " WHERE state = 'running'"
)
SELECT_UNFINISHED_SQL = (
    "SELECT * FROM jobs WHERE state IN ('queued', 'running', 'retrying') AND id > :after_id"
    " ORDER BY id LIMIT :limit"
)
# The reconciler's look-up: only unfinished jobs that may be lost, by the
# same rules as Reconciler._is_lost (which still decides), so a burst of
# thousands of freshly queued jobs is not turned into records every round.
SELECT_DUE_UNFINISHED_SQL = (
    "SELECT * FROM jobs WHERE id > :after_id AND ("
    "(state = 'queued' AND enqueued_at IS NULL AND created_at < :never_sent_before)"
    " OR (state = 'queued' AND enqueued_at < :stale_before)"
    " OR (state = 'running' AND lease_expires_at < :now)"
    " OR (state = 'retrying' AND (next_attempt_at IS NULL OR next_attempt_at < :stale_before))"
    ") ORDER BY id LIMIT :limit"
)
SELECT_PENDING_FOR_FILE_SQL = (
    "SELECT id FROM jobs WHERE path = :path AND state IN ('queued', 'running', 'retrying')"
    " AND size = :size AND mtime_ns = :mtime_ns ORDER BY id DESC LIMIT 1"
)
MARK_ENQUEUED_SQL = "UPDATE jobs SET enqueued_at = :now, message_id = :message_id WHERE id = :id"
MARK_ENQUEUED = ManyRows(
    each=MARK_ENQUEUED_SQL,
    arrays="UPDATE jobs SET enqueued_at = :now, message_id = v.message_id"
    " FROM unnest(:id::bigint[], :message_id::text[]) AS v(id, message_id) WHERE jobs.id = v.id",
    shared=frozenset({"now"}),
)
SELECT_JOB_SQL = "SELECT * FROM jobs WHERE id = :id"
SELECT_LATEST_FOR_PATH_SQL = "SELECT * FROM jobs WHERE path = :path ORDER BY id DESC LIMIT 1"
SELECT_JOBS_FOR_PATH_SQL = "SELECT * FROM jobs WHERE path = :path ORDER BY id DESC LIMIT :limit"
SELECT_ATTEMPTS_SQL = "SELECT * FROM job_attempts WHERE job_id = :job_id ORDER BY attempt"
#: A job's attempt columns in SELECT_JOB_WITH_ATTEMPTS_SQL carry this prefix.
_ATTEMPT_PREFIX = "attempt_"
# The job and its attempts in one statement (the primary key, then
# uq_job_attempts_job_id_attempt): one row per attempt, one row of NULL
# attempt columns for a job not tried yet.
SELECT_JOB_WITH_ATTEMPTS_SQL = (
    f"SELECT jobs.*, {prefixed_columns('a', JobAttempt, _ATTEMPT_PREFIX)} FROM jobs"
    " LEFT JOIN job_attempts AS a ON a.job_id = jobs.id WHERE jobs.id = :id ORDER BY a.attempt"
)


async def insert_job(
    conn: Connection, job: NewJob, now: datetime, state: JobState = JobState.QUEUED
) -> int:
    params = {
        "path": job.path,
        "size": job.size,
        "mtime_ns": job.mtime_ns,
        "state": state.value,
        "source": job.source,
        "batch_id": job.batch_id,
        "now": now,
    }
    return int(await conn.fetch_value(INSERT_JOB_SQL, params))


async def start_attempt(
    conn: Connection,
    job_id: int,
    worker: str | None,
    now: datetime,
    *,
    message_id: str | None = None,
    lease_until: datetime | None = None,
) -> int | None:
    """Mark the job running and open an attempt; returns the attempt number.

    None when there is nothing to do: the job is final, or another live worker
    holds it (see ``START_ATTEMPT_SQL``).
    """
    attempt = await claim_job(conn, job_id, worker, now, message_id, lease_until)
    if attempt is not None:
        await insert_attempts(conn, [(job_id, attempt)], worker, now)
    return attempt


async def claim_job(
    conn: Connection,
    job_id: int,
    worker: str | None,
    now: datetime,
    message_id: str | None,
    lease_until: datetime | None,
) -> int | None:
    """The ``running`` half of :func:`start_attempt` (no attempt row)."""
    attempt = await conn.fetch_value(
        START_ATTEMPT_SQL,
        {
            "id": job_id,
            "now": now,
            "worker": worker,
            "message_id": message_id,
            "lease_until": lease_until,
        },
    )
    return None if attempt is None else int(attempt)


#: Claims per statement of :func:`claim_jobs` (a group is at most 64 jobs).
CLAIM_CHUNK = 64
#: What a claim returns of each job it takes: the row as ``Job`` reads it, so
#: no second statement fetches what the claim just wrote (SQLite's RETURNING
#: names columns, never ``jobs.*``).
_CLAIMED_COLUMNS = ", ".join(f"jobs.{field.name}" for field in fields(Job))


# What a claim does to each job it names (``claims``: id, message_id).
_CLAIM_BODY = (
    " UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = :now,"
    " updated_at = :now, next_attempt_at = NULL, lease_expires_at = :lease_until,"
    " worker = :worker, message_id = COALESCE(claims.message_id, jobs.message_id)"
    " FROM claims WHERE jobs.id = claims.id AND jobs.state NOT IN ('succeeded', 'failed')"
    " AND (jobs.state <> 'running' OR jobs.lease_expires_at IS NULL"
    " OR jobs.lease_expires_at < :now OR jobs.message_id = claims.message_id)"
)
#: Every claim in one statement where a list binds as an array (PostgreSQL):
#: short enough to stay prepared.
CLAIM_ARRAYS_SQL = (
    "WITH claims (id, message_id) AS"
    " (SELECT * FROM unnest(:id::bigint[], :message_id::text[]))"
    + _CLAIM_BODY
    + f" RETURNING {_CLAIMED_COLUMNS}"
)


@functools.cache
def _claim_many_sql(size: int) -> str:
    """:data:`START_ATTEMPT_SQL` for ``size`` ``(id, message_id)`` pairs at once.

    The pairs are a VALUES list (padded with NULL rows, which match no job, so
    the text is the same for every group); CAST gives PostgreSQL their types.
    """
    pairs = ", ".join(
        f"(CAST(:id{i} AS BIGINT), CAST(:message_id{i} AS TEXT))" for i in range(size)
    )
    values = f"WITH claims (id, message_id) AS (VALUES {pairs})"
    return values + _CLAIM_BODY + f" RETURNING {_CLAIMED_COLUMNS}"


async def claim_jobs(
    conn: Connection,
    claims: Sequence[tuple[int, str | None]],
    worker: str | None,
    now: datetime,
    lease_until: datetime | None,
) -> list[Job | None]:
    """:func:`claim_job` for each ``(job_id, message_id)``, in order: the job
    as claimed (``attempts`` is the new attempt's number), or None.

    One statement per :data:`CLAIM_CHUNK` claims instead of one per job (on
    PostgreSQL one for them all: :data:`CLAIM_ARRAYS_SQL`). A job
    named twice is claimed as many times as one statement each would (the
    second claim by the same message takes it again), so such a list is
    claimed job by job.
    """
    if len({job_id for job_id, _ in claims}) < len(claims):
        one_by_one: list[Job | None] = []
        for named, message in claims:
            attempt = await claim_job(conn, named, worker, now, message, lease_until)
            one_by_one.append(None if attempt is None else await get_job(conn, named))
        return one_by_one
    claimed: dict[int, Job] = {}
    shared = {"now": now, "lease_until": lease_until, "worker": worker}
    if conn.binds_arrays:
        ids, messages = [job_id for job_id, _ in claims], [message for _, message in claims]
        rows = await conn.fetch_all(CLAIM_ARRAYS_SQL, {**shared, "id": ids, "message_id": messages})
        claimed = {job.id: job for job in map(Job.from_row, rows)}
        return [claimed.get(job_id) for job_id, _ in claims]
    for part in chunks(claims, CLAIM_CHUNK):
        params: dict[str, Any] = dict(shared)
        for index in range(CLAIM_CHUNK):
            job_id, message_id = part[index] if index < len(part) else (None, None)
            params[f"id{index}"], params[f"message_id{index}"] = job_id, message_id
        for row in await conn.fetch_all(_claim_many_sql(CLAIM_CHUNK), params):
            job = Job.from_row(row)
            claimed[job.id] = job
    return [claimed.get(job_id) for job_id, _ in claims]


async def insert_attempts(
    conn: Connection, started: Sequence[tuple[int, int]], worker: str | None, now: datetime
) -> None:
    """Open an attempt row for each ``(job_id, attempt)``, in one trip."""
    rows = [{"job_id": j, "attempt": a, "now": now, "worker": worker} for j, a in started]
    await conn.execute_rows(INSERT_ATTEMPTS, rows)


SELECT_JOBS_BY_ID = values_in("SELECT * FROM jobs WHERE id {values}", "j", "bigint")


async def jobs_by_id(conn: Connection, job_ids: Sequence[int]) -> dict[int, Job]:
    """The jobs among ``job_ids`` that exist, by id."""
    found = (Job.from_row(row) for row in await fetch_in(conn, SELECT_JOBS_BY_ID, job_ids))
    return {job.id: job for job in found}


async def mark_succeeded_many(
    conn: Connection, done: Sequence[tuple[int, int, Outcome]], now: datetime
) -> None:
    """:func:`mark_succeeded` for every ``(job_id, product_id, outcome)``, in one trip."""
    rows = [{"id": j, "product_id": p, "outcome": o.value, "now": now} for j, p, o in done]
    await conn.execute_rows(MARK_SUCCEEDED, rows)


async def finish_attempts_succeeded(
    conn: Connection, finished: Sequence[tuple[int, int]], now: datetime
) -> None:
    """Close each ``(job_id, attempt)`` as succeeded, in one trip."""
    rows = [
        {
            "job_id": j,
            "attempt": a,
            "outcome": "succeeded",
            "code": None,
            "message": None,
            "now": now,
        }
        for j, a in finished
    ]
    await conn.execute_rows(FINISH_ATTEMPTS_SUCCEEDED, rows)


async def finish_attempt(
    conn: Connection,
    job_id: int,
    attempt: int,
    outcome: str,
    now: datetime,
    error: FitsflowError | None = None,
) -> None:
    await conn.execute(
        FINISH_ATTEMPT_SQL,
        {
            "job_id": job_id,
            "attempt": attempt,
            "outcome": outcome,
            "code": error.code if error else None,
            "message": error.message if error else None,
            "now": now,
        },
    )


async def finish_open_attempts(
    conn: Connection, job_id: int, outcome: str, now: datetime, error: FitsflowError | None = None
) -> None:
    """Close whatever attempt of the job is still open (it was interrupted)."""
    await conn.execute(
        FINISH_OPEN_ATTEMPTS_SQL,
        {
            "job_id": job_id,
            "outcome": outcome,
            "code": error.code if error else None,
            "message": error.message if error else None,
            "now": now,
        },
    )


async def mark_succeeded(
    conn: Connection, job_id: int, product_id: int, outcome: Outcome, now: datetime
) -> None:
    await conn.execute(
        MARK_SUCCEEDED_SQL,
        {"id": job_id, "product_id": product_id, "outcome": outcome.value, "now": now},
    )


async def mark_failed(conn: Connection, job_id: int, error: FitsflowError, now: datetime) -> bool:
    """Fail the job unless it has finished already; whether it was failed now."""
    changed = await conn.execute(
        MARK_FAILED_SQL,
        {
            "id": job_id,
            "code": error.code,
            "message": error.message,
            "details": dumps(error.details),
            "now": now,
        },
    )
    return changed > 0


async def mark_retrying(
    conn: Connection,
    job_id: int,
    error: FitsflowError,
    next_attempt_at: datetime | None,
    now: datetime,
) -> None:
    await conn.execute(
        MARK_RETRYING_SQL,
        {
            "id": job_id,
            "code": error.code,
            "message": error.message,
            "details": dumps(error.details),
            "next_attempt_at": next_attempt_at,
            "now": now,
        },
    )


async def release_job(conn: Connection, job_id: int, now: datetime) -> None:
    """Give a running job back to ``queued`` (its worker is stopping)."""
    await conn.execute(RELEASE_JOB_SQL, {"id": job_id, "now": now})


async def release_orphans(conn: Connection, now: datetime) -> int:
    """Every running job back to ``queued``: only for a lone embedded process
    starting up, which knows no other worker can be running them."""
    return await conn.execute(RELEASE_ORPHANS_SQL, {"now": now})


async def unfinished_jobs(conn: Connection, after_id: int, limit: int) -> list[Job]:
    """Queued, running and retrying jobs with ids above ``after_id``, oldest first."""
    rows = await conn.fetch_all(SELECT_UNFINISHED_SQL, {"after_id": after_id, "limit": limit})
    return [Job.from_row(row) for row in rows]


async def due_unfinished_jobs(
    conn: Connection,
    after_id: int,
    limit: int,
    *,
    now: datetime,
    stale_before: datetime,
    never_sent_before: datetime,
) -> list[Job]:
    """Unfinished jobs above ``after_id`` that may have lost their message, oldest first.

    Queued and never sent before ``never_sent_before``; queued and sent
    before ``stale_before``; running with a lease expired at ``now``;
    retrying with no next attempt or one due before ``stale_before``.
    """
    params = {
        "after_id": after_id,
        "limit": limit,
        "now": now,
        "stale_before": stale_before,
        "never_sent_before": never_sent_before,
    }
    rows = await conn.fetch_all(SELECT_DUE_UNFINISHED_SQL, params)
    return [Job.from_row(row) for row in rows]


PENDING_STATES = values_in(
    "SELECT path, size, mtime_ns FROM jobs WHERE state IN ('queued', 'running', 'retrying')"
    " AND path {values}",
    "p",
    "text",
)


async def pending_states(conn: Connection, paths: Sequence[str]) -> set[tuple[str, int, int]]:
    """``(path, size, mtime_ns)`` of every unfinished job for any of ``paths``."""
    return {
        (str(row["path"]), int(row["size"]), int(row["mtime_ns"]))
        for row in await fetch_in(conn, PENDING_STATES, paths)
        if row["size"] is not None and row["mtime_ns"] is not None
    }


_INSERT_JOBS_PREFIX = (
    "INSERT INTO jobs (path, size, mtime_ns, state, source, attempts, batch_id,"
    " created_at, updated_at) VALUES "
)
_INSERT_JOBS_ROW = "(:path{n}, :size{n}, :mtime{n}, 'queued', :source, 0, :batch_id, :now, :now)"


async def insert_jobs(conn: Connection, new_jobs: Sequence[NewJob], now: datetime) -> list[int]:
    """Insert ``queued`` jobs in multi-row statements; their ids, in order.

    Ids are matched back by path, so ``new_jobs`` must not repeat a path.
    """
    ids: list[int] = []
    for part in chunks(new_jobs, 100):
        values = ", ".join(_INSERT_JOBS_ROW.format(n=n) for n in range(len(part)))
        sql = _INSERT_JOBS_PREFIX + values + " RETURNING id, path"
        params: dict[str, Any] = {
            "now": now,
            "source": part[0].source,
            "batch_id": part[0].batch_id,
        }
        for n, job in enumerate(part):
            params.update({f"path{n}": job.path, f"size{n}": job.size, f"mtime{n}": job.mtime_ns})
        by_path = {str(r["path"]): int(r["id"]) for r in await conn.fetch_all(sql, params)}
        ids.extend(by_path[job.path] for job in part)
    return ids


async def mark_enqueued_many(
    conn: Connection, sent: Sequence[tuple[int, str]], now: datetime
) -> None:
    """Record the message id of every ``(job_id, message_id)`` in one statement."""
    rows = [{"id": job_id, "message_id": message_id, "now": now} for job_id, message_id in sent]
    await conn.execute_rows(MARK_ENQUEUED, rows)


async def mark_enqueued(conn: Connection, job_id: int, message_id: str, now: datetime) -> None:
    await conn.execute(MARK_ENQUEUED_SQL, {"id": job_id, "message_id": message_id, "now": now})


async def get_job(conn: Connection, job_id: int) -> Job | None:
    row = await conn.fetch_one(SELECT_JOB_SQL, {"id": job_id})
    return Job.from_row(row) if row else None


async def job_with_attempts(conn: Connection, job_id: int) -> tuple[Job, list[JobAttempt]] | None:
    """Job ``job_id`` and its attempts, oldest first, in one statement; None if unknown."""
    rows = await conn.fetch_all(SELECT_JOB_WITH_ATTEMPTS_SQL, {"id": job_id})
    if not rows:
        return None
    attempts = [
        JobAttempt.from_row(unprefixed(row, JobAttempt, _ATTEMPT_PREFIX))
        for row in rows
        if row[_ATTEMPT_PREFIX + "id"] is not None
    ]
    return Job.from_row(rows[0]), attempts


async def latest_for_path(conn: Connection, path: str) -> Job | None:
    row = await conn.fetch_one(SELECT_LATEST_FOR_PATH_SQL, {"path": path})
    return Job.from_row(row) if row else None


async def jobs_for_path(conn: Connection, path: str, limit: int = 100) -> list[Job]:
    rows = await conn.fetch_all(SELECT_JOBS_FOR_PATH_SQL, {"path": path, "limit": limit})
    return [Job.from_row(row) for row in rows]


async def list_attempts(conn: Connection, job_id: int) -> list[JobAttempt]:
    rows = await conn.fetch_all(SELECT_ATTEMPTS_SQL, {"job_id": job_id})
    return [JobAttempt.from_row(row) for row in rows]
