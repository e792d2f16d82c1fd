"""``EXPLAIN (ANALYZE, BUFFERS)`` of the statements behind each status endpoint.

The statements are the repositories' own (imported, not copied), run with a
typical parameter: a job id and a path from the middle of the generated
catalogue, and every job state for the summary's counts.
"""

from __future__ import annotations

from typing import Any

from pipeline.db import open_database
from pipeline.repositories import jobs, products, status
from pipeline.settings import DatabaseSettings

__all__ = ["explain_all", "statements"]


def statements(rows: int) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Endpoint → its statements with parameters, in the order a request runs them."""
    number = rows // 2 + 1
    night = 19723 + number // 2000  # days from 1970-01-01 to 2024-01-01, then one per 2,000
    import datetime as dt

    day = dt.date(1970, 1, 1) + dt.timedelta(days=night)
    path = f"/data/raw/{day.isoformat()}/exp-{number:07d}.fits"
    return {
        "/jobs/{id}": [(jobs.SELECT_JOB_WITH_ATTEMPTS_SQL, {"id": number})],
        "/files?path=": [
            (status.PATH_RECORDS_SQL, {"path": path}),
            (status.HDU_SUMMARIES_SQL, {"first": number, "second": number}),
        ],
        "/summary": [
            *[(status.COUNT_STATE_SQL, {"state": state}) for state in _states()],
            (products.COUNT_PRODUCTS_SQL, {}),
            (status.FAILURES_BY_CODE_SQL, {}),
        ],
    }


def _states() -> list[str]:
    from pipeline.models import JobState

    return [state.value for state in JobState]


def _summary(plan: list[str]) -> str:
    """The plan's first node and its execution time, on one line."""
    top = plan[0].split("  (")[0].strip() if plan else "?"
    timing = next((line.strip() for line in plan if line.startswith("Execution Time")), "")
    return f"{top}; {timing}"


async def explain_all(url: str, rows: int) -> dict[str, list[dict[str, Any]]]:
    """Endpoint → one entry per statement: the SQL, the full plan, a one-line summary."""
    settings = DatabaseSettings(url=url, pool_min_size=0, pool_max_size=1, statement_timeout=600)
    found: dict[str, list[dict[str, Any]]] = {}
    async with open_database(settings) as database:
        for endpoint, runs in statements(rows).items():
            found[endpoint] = []
            for sql, params in runs:
                explained = await database.fetch_all(
                    "EXPLAIN (ANALYZE, BUFFERS) " + sql, params or None
                )
                plan = [str(next(iter(row.values()))) for row in explained]
                shown = sql if not params else f"{sql}  -- {params}"
                entry = {"statement": shown, "plan": plan, "summary": _summary(plan)}
                found[endpoint].append(entry)
    return found
