"""Read-only queries behind the status API and ``fitsflow status``.

Each query is written to stay cheap on a catalogue of millions of jobs: it is
served by an index of the schema (named beside it), and the one count that
grows with the catalogue, finished jobs per state, reads only an index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.db import Connection
from pipeline.jsonutil import loads_small_numbers
from pipeline.models import Job, JobState, product_values
from pipeline.repositories.joined import prefixed_columns, unprefixed

__all__ = [
    "UNRESOLVED_SQL",
    "JobQuery",
    "PathRecords",
    "count_jobs_by_state",
    "failures_by_code",
    "finished_since",
    "hdu_summaries",
    "job_conditions",
    "list_jobs",
    "path_has_product",
    "path_records",
]

# One COUNT per state, each read from an index holding ``state`` without
# touching the table: the unfinished states hold few jobs and cost little;
# the finished ones are the one part of /summary that grows with the
# catalogue (about 50 ms per million jobs on PostgreSQL, 30 ms on SQLite).
COUNT_STATE_SQL = "SELECT COUNT(*) FROM jobs WHERE state = :state"
# Grouping on an expression keeps SQLite on the failed jobs' range of
# ix_jobs_state_updated_at; grouping on the bare column makes it walk all of
# ix_jobs_error_code (every job that ever had an error) for the order.
FAILURES_BY_CODE_SQL = (
    "SELECT COALESCE(error_code, 'unknown') AS code, COUNT(*) AS n FROM jobs"
    " WHERE state = 'failed' GROUP BY COALESCE(error_code, 'unknown')"
)
# A finished job's updated_at is its finished_at (the same statement writes
# both, and updated_at only grows), so the range on ix_jobs_state_updated_at
# bounds the scan to the jobs of the last minute, whatever the batch's size.
# ``batch_id + 0`` keeps SQLite's planner, which cannot see how narrow the
# time range is, from walking every finished job of the batch on
# ix_jobs_batch_id_state instead (PostgreSQL chooses the range either way).
FINISHED_SINCE_SQL = (
    "SELECT COUNT(*) FROM jobs WHERE state IN ('succeeded', 'failed')"
    " AND updated_at >= :since AND finished_at >= :since AND batch_id + 0 = :batch_id"
)
# The primary key of hdus is (product_id, hdu_index); the headers stay behind.
# ``second`` repeats ``first`` when only one product is asked for.
HDU_SUMMARIES_SQL = (
    "SELECT product_id, hdu_index, name, kind, naxis, bitpix, data_size, checksum_status"
    " FROM hdus WHERE product_id IN (:first, :second) ORDER BY product_id, hdu_index"
)
#: The job columns of PATH_RECORDS_SQL carry this prefix (jobs and products
#: share column names: id, path, size, created_at...).
_JOB_PREFIX = "j_"
# One statement for "what is recorded at this path": the newest job ``j``
# (ix_jobs_path_id, read backwards), the product current there (the partial
# unique index ux_products_current_path) and the one the job recorded when it
# is another (primary key). The anchor row makes the answer one row at least
# (all NULL: nothing recorded), two when both products are there. Short
# names keep it within what asyncpg keeps prepared
# (db.postgres.KEPT_STATEMENT_MAX_CHARS, tested): longer, it would be parsed
# and planned again at every request (~0.8 ms of the server's CPU).
PATH_RECORDS_SQL = (
    "WITH j AS (SELECT * FROM jobs WHERE path = :path ORDER BY id DESC LIMIT 1),"
    " p AS (SELECT * FROM products WHERE path = :path AND is_current"
    " UNION ALL SELECT * FROM products WHERE id = (SELECT product_id FROM j)"
    " AND NOT (path = :path AND is_current))"
    f" SELECT {prefixed_columns('j', Job, _JOB_PREFIX)}, p.*"
    " FROM (SELECT 1) AS one LEFT JOIN j ON 1 = 1 LEFT JOIN p ON 1 = 1"
)
# ix_products_path.
PATH_HAS_PRODUCT_SQL = "SELECT 1 FROM products WHERE path = :path LIMIT 1"


async def count_jobs_by_state(conn: Connection) -> dict[str, int]:
    """Jobs per state, every state present (zero when none)."""
    counts: dict[str, int] = {}
    for state in JobState:
        counts[state.value] = int(await conn.fetch_value(COUNT_STATE_SQL, {"state": state.value}))
    return counts


async def failures_by_code(conn: Connection) -> dict[str, int]:
    """Failed jobs per error code, ordered by code."""
    rows = await conn.fetch_all(FAILURES_BY_CODE_SQL)
    return {str(row["code"]): int(row["n"]) for row in sorted(rows, key=lambda r: r["code"])}


async def finished_since(conn: Connection, batch_id: int, since: datetime) -> int:
    """Jobs of batch ``batch_id`` that ended (succeeded or failed) at or after ``since``."""
    params = {"batch_id": batch_id, "since": since}
    return int(await conn.fetch_value(FINISHED_SINCE_SQL, params))


async def path_has_product(conn: Connection, path: str) -> bool:
    """Whether any product, current or superseded, was recorded at ``path``."""
    return await conn.fetch_value(PATH_HAS_PRODUCT_SQL, {"path": path}) is not None


@dataclass(frozen=True, slots=True)
class PathRecords:
    """What is recorded at one path, as read (products as their values)."""

    latest_job: Job | None
    #: The product whose content lies at the path now.
    current: dict[str, Any] | None
    #: The product the latest job recorded, when it is not the current one.
    recorded: dict[str, Any] | None

    @property
    def products(self) -> list[dict[str, Any]]:
        return [values for values in (self.current, self.recorded) if values is not None]


async def path_records(conn: Connection, path: str) -> PathRecords:
    """The newest job for ``path`` and its products, in one statement."""
    rows = await conn.fetch_all(PATH_RECORDS_SQL, {"path": path})
    first = rows[0]
    job_row = unprefixed(first, Job, _JOB_PREFIX)
    latest = Job.from_row(job_row) if job_row["id"] is not None else None
    current: dict[str, Any] | None = None
    recorded: dict[str, Any] | None = None
    for row in rows:
        if row["id"] is None:
            continue
        values = product_values(row)
        if values["is_current"] and values["path"] == path:
            current = values
        else:
            recorded = values
    return PathRecords(latest, current, recorded)


async def hdu_summaries(conn: Connection, *product_ids: int) -> dict[int, list[dict[str, Any]]]:
    """Each product's HDUs in file order, without their headers, as
    :class:`pipeline.api.schemas.HduSummary` holds them (one or two products)."""
    if not 1 <= len(product_ids) <= 2:
        raise ValueError(f"one or two products, not {len(product_ids)}")
    first, second = (*product_ids, product_ids[0])[:2]
    rows = await conn.fetch_all(HDU_SUMMARIES_SQL, {"first": first, "second": second})
    found: dict[int, list[dict[str, Any]]] = {product_id: [] for product_id in product_ids}
    for row in rows:
        found[int(row["product_id"])].append(
            {
                "hdu_index": row["hdu_index"],
                "name": row["name"],
                "kind": row["kind"],
                # NAXISn are bounded by the reader's limits: no integer past 64 bits.
                "naxis": loads_small_numbers(row["naxis"]),
                "bitpix": row["bitpix"],
                "data_size": row["data_size"],
                "checksum_status": row["checksum_status"],
            }
        )
    return found


@dataclass(frozen=True, slots=True)
class JobQuery:
    """Which jobs to list; every field optional. ``before_id`` is the keyset cursor."""

    state: JobState | None = None
    path: str | None = None
    path_prefix: str | None = None
    error_code: str | None = None
    batch_id: int | None = None
    before_id: int | None = None
    #: Time ranges: ``*_after`` inclusive, ``*_before`` exclusive (aware datetimes).
    created_after: datetime | None = None
    created_before: datetime | None = None
    finished_after: datetime | None = None
    finished_before: datetime | None = None
    #: Only failed jobs that are still their path's latest job (no later job retried them).
    unresolved: bool = False


# ix_jobs_created_at and ix_jobs_finished_at bound these ranges.
_TIME_RANGES = (
    ("created_after", "created_at >= :created_after"),
    ("created_before", "created_at < :created_before"),
    ("finished_after", "finished_at >= :finished_after"),
    ("finished_before", "finished_at < :finished_before"),
)
#: A failure stays unresolved while it is its path's newest job (ix_jobs_path_id
#: answers the NOT EXISTS with one probe per failed job).
UNRESOLVED_SQL = (
    "state = 'failed' AND NOT EXISTS"
    " (SELECT 1 FROM jobs later WHERE later.path = jobs.path AND later.id > jobs.id)"
)


def _extra_conditions(query: JobQuery, clauses: list[str], params: dict[str, Any]) -> None:
    for name, clause in _TIME_RANGES:
        value = getattr(query, name)
        if value is not None:
            clauses.append(clause)
            params[name] = value
    if query.unresolved:
        clauses.append(UNRESOLVED_SQL)


def _conditions(query: JobQuery) -> tuple[list[str], dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if query.state is not None:
        clauses.append("state = :state")
        params["state"] = query.state.value
    if query.path is not None:
        clauses.append("path = :path")
        params["path"] = query.path
    if query.path_prefix is not None:
        # Not a range on the path: under a linguistic collation (en_US, ICU)
        # paths sharing a prefix need not sort together. substr() compares
        # characters, so this is exact under every collation on both databases.
        clauses.append("substr(path, 1, :prefix_length) = :path_prefix")
        params["path_prefix"] = query.path_prefix
        params["prefix_length"] = len(query.path_prefix)
    if query.error_code is not None:
        clauses.append("error_code = :error_code")
        params["error_code"] = query.error_code
    if query.batch_id is not None:
        clauses.append("batch_id = :batch_id")
        params["batch_id"] = query.batch_id
    if query.before_id is not None:
        clauses.append("id < :before_id")
        params["before_id"] = query.before_id
    _extra_conditions(query, clauses, params)
    return clauses, params


def job_conditions(query: JobQuery) -> tuple[list[str], dict[str, Any]]:
    """The clauses (to join with AND) and bound values that select ``query``'s jobs."""
    return _conditions(query)


async def list_jobs(conn: Connection, query: JobQuery, limit: int) -> list[Job]:
    """Jobs matching ``query``, newest (highest id) first, at most ``limit``."""
    clauses, params = _conditions(query)
    params["limit"] = limit
    condition = " WHERE " + " AND ".join(clauses) if clauses else ""
    # Only the fixed fragments of _conditions are interpolated; values are bound.
    sql = f"SELECT * FROM jobs{condition} ORDER BY id DESC LIMIT :limit"
    return [Job.from_row(row) for row in await conn.fetch_all(sql, params)]
