"""The status API as its clients use it, over a catalogue made by the real ingest.

Every test runs on SQLite and on PostgreSQL (the ``database`` fixture).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from pipeline.api.params import decode_cursor, encode_cursor
from pipeline.api.progress import estimate
from pipeline.clock import utc_now
from pipeline.errors import NotFits, ValidationError
from pipeline.models import Outcome
from pipeline.repositories import batches, jobs
from pipeline.repositories.jobs import NewJob
from tests.acceptance.conftest import BATCH_BAD, BATCH_GOOD, QUEUES, Catalogue

ENDPOINTS = {
    "/health",
    "/ready",
    "/jobs",
    "/jobs/{job_id}",
    "/files",
    "/products/{product_id}",
    "/products",  # product search: tests/acceptance/test_products_api.py
    "/batches/{batch_id}",
    "/summary",
    # queues, workers and dead letters: tests/acceptance/test_queues_api.py
    *("/queues", "/workers", "/dlq", "/dlq/requeue", "/dlq/purge"),
    # the operators' job views: tests/acceptance/test_jobs_api.py
    *("/failures", "/jobs/{job_id}/retry", "/jobs/retry", "/files/history", "/batches", "/scan"),
}
TOTAL_JOBS = BATCH_GOOD + len(BATCH_BAD) + 3  # the MEF, the renamed and the rewritten file


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the error envelope with this status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == code and body["message"] and isinstance(body["details"], dict)
    return body


async def walk_jobs(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every job matching ``params``, following ``next_cursor`` to the last page."""
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(TOTAL_JOBS + 2):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/jobs", params=query)).raise_for_status().json()
        seen.extend(page["jobs"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


# --- service ----------------------------------------------------------------------


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    health = (await client.get("/health")).raise_for_status().json()
    assert health["status"] == "ok" and health["version"]
    ready = (await client.get("/ready")).raise_for_status().json()
    assert ready["status"] == "ready"
    assert {name: check["status"] for name, check in ready["checks"].items()} == {
        "database": "ok",
        "broker": "ok",
    }


async def test_summary_counts_what_was_ingested(
    client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    summary = (await client.get("/summary")).raise_for_status().json()
    assert summary["jobs"] == {
        "queued": 0,
        "running": 0,
        "retrying": 0,
        "succeeded": TOTAL_JOBS - len(BATCH_BAD),
        "failed": len(BATCH_BAD),
    }
    assert summary["products"] == BATCH_GOOD + 2  # the MEF and the rewritten file's new version
    assert summary["failures_by_code"] == dict(sorted({"empty_file": 1, "not_fits": 1}.items()))
    assert summary["queues"] == {
        name: {"ready": d.ready, "delayed": d.delayed, "in_flight": d.in_flight, "dead": d.dead}
        for name, d in QUEUES.items()
    }
    assert summary["broker_error"] is None
    assert summary["database"]["max_size"] == 4 and summary["database"]["acquired_total"] > 0


async def test_openapi_schema_lists_every_endpoint_and_its_envelopes(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).raise_for_status().json()
    assert set(schema["paths"]) == ENDPOINTS
    for path, operations in schema["paths"].items():
        assert set(operations) <= {"get", "post"}, path  # post: the operators' actions
        for operation in operations.values():
            responses = operation["responses"]
            assert "422" not in responses, path  # validation answers 400 here
            for status, response in responses.items():
                if not status.startswith("2"):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorEnvelope"), (path, status)
    assert {"400", "404"} <= set(schema["paths"]["/files"]["get"]["responses"])
    assert "ValidationError" not in schema["components"]["schemas"]


# --- jobs -------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 3, 5, 1000])
async def test_pages_of_jobs_cover_every_job_once_newest_first(
    client: httpx.AsyncClient, catalogue: Catalogue, limit: int
) -> None:
    ids = [job["id"] for job in await walk_jobs(client, limit=limit)]
    assert ids == sorted(catalogue.job_ids, reverse=True)


async def test_default_page_and_the_last_page_has_no_cursor(
    client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    page = (await client.get("/jobs")).raise_for_status().json()
    assert len(page["jobs"]) == TOTAL_JOBS and page["next_cursor"] is None
    first = (await client.get("/jobs", params={"limit": TOTAL_JOBS - 1})).json()
    assert decode_cursor(first["next_cursor"]) == first["jobs"][-1]["id"]
    last = (await client.get("/jobs", params={"cursor": first["next_cursor"]})).json()
    assert [job["id"] for job in last["jobs"]] == [min(catalogue.job_ids)]


async def test_filters_select_the_jobs_they_name(
    client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    failed = await walk_jobs(client, state="failed", limit=1)
    assert sorted(job["error_code"] for job in failed) == sorted(BATCH_BAD.values())
    assert all(job["state"] == "failed" and job["product_id"] is None for job in failed)
    not_fits = await walk_jobs(client, error_code="not_fits")
    assert [job["path"] for job in not_fits] == [str(catalogue.root / "night2" / "page.fits")]
    in_batch = await walk_jobs(client, batch_id=catalogue.batch_id, limit=4)
    assert len(in_batch) == BATCH_GOOD + len(BATCH_BAD)
    night2 = await walk_jobs(client, path_prefix=str(catalogue.root / "night2") + "/", limit=2)
    assert len(night2) == BATCH_GOOD // 2 + len(BATCH_BAD)
    assert all(job["path"].startswith(str(catalogue.root / "night2/")) for job in night2)
    rewritten = await walk_jobs(client, path=catalogue.rewritten)
    assert [job["outcome"] for job in rewritten] == ["new_version", "created"]
    both = await walk_jobs(client, state="succeeded", path_prefix=str(catalogue.root / "night2"))
    assert len(both) == BATCH_GOOD // 2


async def test_path_prefix_is_literal(client: httpx.AsyncClient, catalogue: Catalogue) -> None:
    # A LIKE pattern would read "_" and "%" as wildcards.
    for prefix in (str(catalogue.root / "night_"), str(catalogue.root / "night%")):
        assert await walk_jobs(client, path_prefix=prefix) == []
    night = await walk_jobs(client, path_prefix=str(catalogue.root / "night"))
    assert len(night) == BATCH_GOOD + len(BATCH_BAD) + 1  # and the rewritten file


async def test_job_with_its_attempts(client: httpx.AsyncClient, catalogue: Catalogue) -> None:
    result = catalogue.results[catalogue.mef]
    detail = (await client.get(f"/jobs/{result.job_id}")).raise_for_status().json()
    assert detail["job"]["id"] == result.job_id and detail["job"]["path"] == catalogue.mef
    assert detail["job"]["state"] == "succeeded" and detail["job"]["outcome"] == "created"
    assert detail["job"]["product_id"] == result.product_id
    assert [a["attempt"] for a in detail["attempts"]] == [1]
    assert detail["attempts"][0]["outcome"] == "succeeded" and detail["attempts"][0]["worker"]
    failed = catalogue.results[str(catalogue.root / "night2" / "page.fits")]
    detail = (await client.get(f"/jobs/{failed.job_id}")).json()
    assert detail["job"]["error_code"] == "not_fits" and detail["job"]["error_message"]
    assert detail["attempts"][0]["error_code"] == "not_fits"


# --- catalogue --------------------------------------------------------------------


async def test_file_with_its_current_product(
    client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    status = (await client.get("/files", params={"path": catalogue.mef})).raise_for_status()
    body = status.json()
    assert body["path"] == catalogue.mef
    assert body["latest_job"]["id"] == catalogue.results[catalogue.mef].job_id
    product = body["current_product"]
    assert product["id"] == catalogue.results[catalogue.mef].product_id
    assert len(product["hdus"]) == product["hdu_count"] >= 4
    assert all("header" not in hdu and "cards" not in hdu for hdu in product["hdus"])
    assert body["latest_job_product"] is None


async def test_renamed_file_shows_where_its_product_went(
    client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    body = (await client.get("/files", params={"path": catalogue.moved_from})).json()
    assert body["latest_job"]["outcome"] == Outcome.CREATED.value
    assert body["current_product"] is None
    assert body["latest_job_product"]["path"] == catalogue.moved_to
    moved = (await client.get("/files", params={"path": catalogue.moved_to})).json()
    assert moved["latest_job"]["outcome"] == "moved"
    assert moved["current_product"]["id"] == body["latest_job_product"]["id"]


async def test_rewritten_file_shows_its_new_version(
    client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    body = (await client.get("/files", params={"path": catalogue.rewritten})).json()
    assert body["latest_job"]["outcome"] == "new_version"
    assert body["current_product"]["version"] == 2 and body["latest_job_product"] is None
    first = catalogue.results[catalogue.rewritten]
    old = (await client.get(f"/products/{first.product_id}")).json()
    assert old["is_current"] is False and old["superseded_by"] == body["current_product"]["id"]


async def test_failed_file_and_unnormalised_paths(
    client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    page = catalogue.root / "night2" / "page.fits"
    body = (await client.get("/files", params={"path": str(page)})).json()
    assert body["latest_job"]["error_code"] == "not_fits"
    assert body["current_product"] is None and body["latest_job_product"] is None
    untidy = f"{catalogue.root}//night2/./../night2/page.fits"
    assert (await client.get("/files", params={"path": untidy})).json() == body


async def test_product_with_full_headers(client: httpx.AsyncClient, catalogue: Catalogue) -> None:
    product_id = catalogue.results[catalogue.mef].product_id
    product = (await client.get(f"/products/{product_id}")).raise_for_status().json()
    assert product["path"] == catalogue.mef and product["is_current"] is True
    assert len(product["sha256"]) == 64 and product["hdu_count"] == len(product["hdus"])
    primary = product["hdus"][0]
    assert primary["hdu_index"] == 0 and primary["header"]["SIMPLE"] is True
    assert primary["cards"][0][:2] == ["SIMPLE", True]
    assert [hdu["hdu_index"] for hdu in product["hdus"]] == list(range(product["hdu_count"]))


# --- batches ----------------------------------------------------------------------


async def test_finished_batch(client: httpx.AsyncClient, catalogue: Catalogue) -> None:
    batch = (await client.get(f"/batches/{catalogue.batch_id}")).raise_for_status().json()
    assert batch["kind"] == "ingest" and batch["description"] == "acceptance batch"
    assert batch["closed"] is True and batch["finished_at"] is not None
    assert batch["total"] == batch["done"] == BATCH_GOOD + len(BATCH_BAD)
    assert batch["counts"] == {
        "queued": 0,
        "running": 0,
        "retrying": 0,
        "succeeded": BATCH_GOOD,
        "failed": len(BATCH_BAD),
    }
    assert batch["remaining"] == 0 and batch["eta_seconds"] == 0
    assert batch["rate_per_second"] > 0  # all of it finished within the last minute


async def test_batch_in_progress_rate_and_eta(
    client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    """Two jobs finished in the last minute, three long before: the ETA follows the two."""
    now = utc_now()
    long_ago = now - timedelta(minutes=10)
    product_id = catalogue.results[catalogue.mef].product_id
    assert product_id is not None
    async with catalogue.database.transaction() as tx:
        batch_id = await batches.create_batch(tx, "backfill", "archive 2019", long_ago)
        for number in range(9):
            job = NewJob(f"/archive/{number}.fits", 2880, 0, "scan", batch_id)
            job_id = await jobs.insert_job(tx, job, long_ago)
            if number < 3:
                await jobs.mark_failed(tx, job_id, NotFits("html"), now - timedelta(minutes=5))
            elif number < 5:
                await jobs.mark_succeeded(tx, job_id, product_id, Outcome.DUPLICATE, now)
    batch = (await client.get(f"/batches/{batch_id}")).raise_for_status().json()
    assert batch["closed"] is False and batch["total"] == 9 and batch["done"] == 5
    assert batch["remaining"] == 4 and batch["counts"]["queued"] == 4
    assert batch["rate_window_seconds"] == 60
    assert batch["rate_per_second"] == pytest.approx(2 / 60)
    assert batch["eta_seconds"] == pytest.approx(4 / (2 / 60))


def test_eta_is_unknown_without_a_rate_and_zero_when_done() -> None:
    assert estimate(remaining=10, finished_in_window=0, window=60) == (0.0, None)
    assert estimate(remaining=0, finished_in_window=0, window=60) == (0.0, 0.0)
    rate, eta = estimate(remaining=30, finished_in_window=6, window=60)
    assert rate == pytest.approx(0.1) and eta == pytest.approx(300)


# --- errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "bad"),
    [
        ("/jobs?limit=0", {"limit"}),
        ("/jobs?limit=1001", {"limit"}),
        ("/jobs?limit=ten", {"limit"}),
        ("/jobs?state=exploded&batch_id=-1", {"state", "batch_id"}),
        ("/jobs?batch_id=9223372036854775808", {"batch_id"}),
        ("/jobs?cursor=not-a-cursor", {"cursor"}),
        ("/jobs?cursor=" + encode_cursor(5) + "x", {"cursor"}),
        ("/jobs?path=relative/a.fits", {"path"}),
        ("/jobs?path_prefix=%2Fdata%00", {"path_prefix"}),
        ("/jobs/0", {"job_id"}),
        ("/jobs/abc", {"job_id"}),
        ("/files", {"path"}),
        ("/files?path=", {"path"}),
        ("/files?path=a.fits", {"path"}),
        ("/products/1.5", {"product_id"}),
        ("/batches/99999999999999999999", {"batch_id"}),
    ],
)
async def test_bad_parameters_are_400_naming_them(
    bare_client: httpx.AsyncClient, url: str, bad: set[str]
) -> None:
    body = assert_envelope(await bare_client.get(url), 400, ValidationError.code)
    assert {problem["name"] for problem in body["details"]["parameters"]} == bad


@pytest.mark.parametrize("url", ["/jobs/999999", "/products/999999", "/batches/999999", "/nope"])
async def test_unknown_records_and_routes_are_404(client: httpx.AsyncClient, url: str) -> None:
    assert_envelope(await client.get(url), 404, "not_found")


async def test_never_seen_path_is_404(client: httpx.AsyncClient, catalogue: Catalogue) -> None:
    missing = str(catalogue.root / "night1" / "never.fits")
    body = assert_envelope(await client.get("/files", params={"path": missing}), 404, "not_found")
    assert body["details"] == {"path": missing}


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.post("/jobs")
    assert_envelope(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


async def test_cursor_round_trip() -> None:
    for job_id in (1, 17, 2**63 - 1):
        assert decode_cursor(encode_cursor(job_id)) == job_id
