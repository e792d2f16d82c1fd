"""Failed jobs grouped by error code, and which of them are still unresolved.

A failure is *unresolved* while it is the newest job of its path: nothing
has tried the file since. It is *fixed* once a later job of the same path
succeeded (a retry, or the watcher seeing new bytes). The rest were followed
by a later job that is still running or failed again (that later job then
counts under its own code).

Every count reads the failed jobs through ``ix_jobs_state_error_code_id``
and answers each "is there a later job?" with one probe of
``ix_jobs_path_id``, so the cost follows the number of failures, not of jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline.db import Connection
from pipeline.models import Job, JobState
from pipeline.repositories.status import JobQuery, job_conditions, list_jobs

__all__ = ["FailureCounts", "count_failures", "failure_examples"]

_LATER = "SELECT 1 FROM jobs later WHERE later.path = jobs.path AND later.id > jobs.id"
_COUNT_SQL = (
    "SELECT COALESCE(error_code, 'unknown') AS code, COUNT(*) AS failed,"
    f" SUM(CASE WHEN NOT EXISTS ({_LATER}) THEN 1 ELSE 0 END) AS unresolved,"
    f" SUM(CASE WHEN EXISTS ({_LATER} AND later.state = 'succeeded') THEN 1 ELSE 0 END)"
    " AS fixed FROM jobs WHERE {where} GROUP BY COALESCE(error_code, 'unknown')"
)


@dataclass(frozen=True, slots=True)
class FailureCounts:
    """Failed jobs of one error code: all of them, the unresolved, the fixed."""

    error_code: str
    failed: int
    unresolved: int
    fixed: int


async def count_failures(conn: Connection, where: JobQuery) -> list[FailureCounts]:
    """Failed jobs matching ``where`` per error code (``unknown`` for none).

    Most unresolved first, then most failed, then by code. ``where.state``
    is ignored: these are failed jobs by definition.
    """
    clauses, params = job_conditions(_failed(where))
    # Only the fixed fragments of the JobQuery conditions are interpolated.
    sql = _COUNT_SQL.format(where=" AND ".join(clauses))
    counts = [
        FailureCounts(
            error_code=str(row["code"]),
            failed=int(row["failed"]),
            unresolved=int(row["unresolved"] or 0),
            fixed=int(row["fixed"] or 0),
        )
        for row in await conn.fetch_all(sql, params)
    ]
    return sorted(counts, key=lambda c: (-c.unresolved, -c.failed, c.error_code))


async def failure_examples(
    conn: Connection, where: JobQuery, error_code: str, limit: int
) -> list[tuple[Job, bool]]:
    """Up to ``limit`` failed jobs of ``error_code``, each with whether it is unresolved.

    The newest unresolved ones come first (they are what an operator acts
    on); resolved ones fill the list only when too few are unresolved.
    """
    code = replace(_failed(where), error_code=error_code)
    unresolved = await list_jobs(conn, replace(code, unresolved=True), limit)
    examples = [(job, True) for job in unresolved]
    if len(examples) < limit:
        seen = {job.id for job in unresolved}
        for job in await list_jobs(conn, code, limit + len(seen)):
            if job.id not in seen and len(examples) < limit:
                examples.append((job, False))
    return examples


def _failed(where: JobQuery) -> JobQuery:
    return replace(where, state=JobState.FAILED, unresolved=False)
