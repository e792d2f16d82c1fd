"""Everything recorded about one path: its jobs, their attempts, its products.

Jobs come newest first from ``ix_jobs_path_id``; their attempts in one query
joined on the same index and ``uq_job_attempts_job_id_attempt``. Products are
those whose path is this one (``ix_products_path``: the current version and
every superseded one) plus any product a job of the path recorded that now
lies elsewhere (the file was renamed) — looked up by primary key.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.db import Connection
from pipeline.models import Job, JobAttempt, Product
from pipeline.repositories import products
from pipeline.repositories.jobs import jobs_for_path

__all__ = ["attempts_by_job", "jobs_for_path", "products_for_path"]

ATTEMPTS_FOR_PATH_SQL = (
    "SELECT a.* FROM job_attempts a JOIN jobs j ON j.id = a.job_id"
    " WHERE j.path = :path AND j.id >= :oldest ORDER BY a.job_id, a.attempt"
)
PRODUCTS_AT_PATH_SQL = "SELECT * FROM products WHERE path = :path ORDER BY id DESC"


async def attempts_by_job(
    conn: Connection, path: str, jobs: Sequence[Job]
) -> dict[int, list[JobAttempt]]:
    """The attempts of ``jobs`` (all of ``path``), oldest first, by job id."""
    found: dict[int, list[JobAttempt]] = {job.id: [] for job in jobs}
    if not jobs:
        return found
    params = {"path": path, "oldest": min(job.id for job in jobs)}
    for row in await conn.fetch_all(ATTEMPTS_FOR_PATH_SQL, params):
        attempt = JobAttempt.from_row(row)
        if attempt.job_id in found:
            found[attempt.job_id].append(attempt)
    return found


async def products_for_path(conn: Connection, path: str, jobs: Sequence[Job]) -> list[Product]:
    """Every product version recorded at ``path`` or by one of its ``jobs``, newest first."""
    found = {
        product.id: product
        for product in (
            Product.from_row(row)
            for row in await conn.fetch_all(PRODUCTS_AT_PATH_SQL, {"path": path})
        )
    }
    for product_id in {job.product_id for job in jobs} - set(found) - {None}:
        assert product_id is not None
        product = await products.get_product(conn, product_id)
        if product is not None:
            found[product.id] = product
    return sorted(found.values(), key=lambda product: product.id, reverse=True)
