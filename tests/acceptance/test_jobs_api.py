"""The operators' job endpoints as their clients use them, on SQLite and PostgreSQL:
failures by code, job filters and pages, a file's history, batches, retries and
scans (with their token rules), over the known catalogue of ``conftest.py``."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pipeline.api import create_app
from pipeline.clock import utc_now
from pipeline.errors import NotFits
from pipeline.outbox import IngestMessage
from pipeline.repositories import jobs
from pipeline.repositories.jobs import NewJob
from pipeline.settings import Settings
from tests.acceptance.conftest import BATCH_BAD, Catalogue, FixedBrokerProbe, asgi_client
from tests.acceptance.test_status_api import assert_envelope
from tests.support.catalogue import write_fits
from tests.support.inprocess import running_worker, wait_for_batch
from workers.runtime import WorkerRuntime

TOKEN = "operator-token-for-the-job-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class RecordingSender:
    """A queue that keeps what it is given (nothing consumes it)."""

    def __init__(self) -> None:
        self.sent: list[IngestMessage] = []
        self._ids = itertools.count(1)

    batch_size = 1

    def send(self, message: IngestMessage) -> str:
        self.sent.append(message)
        return f"message-{next(self._ids)}"

    def send_batch(self, messages: Sequence[IngestMessage]) -> list[str]:
        return [self.send(message) for message in messages]


def operator_settings(catalogue: Catalogue, token: str | None = TOKEN) -> Settings:
    return Settings.model_validate(
        {"api": {"token": token}, "watch": {"roots": [str(catalogue.root)]}}
    )


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
async def client(catalogue: Catalogue, sender: RecordingSender) -> AsyncIterator[httpx.AsyncClient]:
    """The API over the catalogue with an operator token and a recording queue."""
    app = create_app(
        catalogue.database, FixedBrokerProbe(), settings=operator_settings(catalogue), sender=sender
    )
    async with asgi_client(app) as http:
        yield http


@pytest.fixture
def worker(migrated_database_url: str) -> Iterator[WorkerRuntime]:
    with running_worker(migrated_database_url) as runtime:
        yield runtime


@pytest.fixture
async def worked_client(
    catalogue: Catalogue, worker: WorkerRuntime
) -> AsyncIterator[httpx.AsyncClient]:
    """The API whose retries and scans go to a real worker."""
    settings = operator_settings(catalogue)
    app = create_app(catalogue.database, FixedBrokerProbe(), settings=settings, sender=worker)
    async with asgi_client(app) as http:
        yield http


def client_database(client: httpx.AsyncClient) -> Any:
    """The database of the app behind ``client``."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    return transport.app.state.status.database  # type: ignore[attr-defined]


def page_path(catalogue: Catalogue) -> str:
    return str(catalogue.root / "night2" / "page.fits")


def empty_path(catalogue: Catalogue) -> str:
    return str(catalogue.root / "night2" / "empty.fits")


async def get(client: httpx.AsyncClient, url: str, **params: Any) -> Any:
    return (await client.get(url, params=params)).raise_for_status().json()


# --- failures ------------------------------------------------------------------------


async def test_failures_grouped_by_code_with_examples(
    client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    report = await get(client, "/failures")
    assert (report["failed"], report["unresolved"]) == (len(BATCH_BAD), len(BATCH_BAD))
    groups = {group["error_code"]: group for group in report["groups"]}
    assert set(groups) == set(BATCH_BAD.values())
    for name, code in BATCH_BAD.items():
        group = groups[code]
        assert (group["failed"], group["unresolved"], group["fixed"]) == (1, 1, 0)
        [example] = group["examples"]
        assert example["path"] == str(catalogue.root / "night2" / name)
        assert example["unresolved"] and example["error_message"]
    assert (await get(client, "/failures", examples=0))["groups"][0]["examples"] == []
    night1 = await get(client, "/failures", path_prefix=str(catalogue.root / "night1"))
    assert night1 == {"failed": 0, "unresolved": 0, "groups": []}
    later = (utc_now() + timedelta(hours=1)).isoformat()
    assert (await get(client, "/failures", finished_after=later))["groups"] == []


async def test_a_fixed_failure_is_told_apart_from_an_unresolved_one(
    client: httpx.AsyncClient, catalogue: Catalogue, sender: RecordingSender
) -> None:
    write_fits(Path(page_path(catalogue)), 77)
    failed = catalogue.results[page_path(catalogue)]
    retried = (await client.post(f"/jobs/{failed.job_id}/retry", headers=AUTH)).json()
    await _finish_as_succeeded(catalogue, retried["job"]["id"])

    groups = {g["error_code"]: g for g in (await get(client, "/failures"))["groups"]}

    assert (groups["not_fits"]["unresolved"], groups["not_fits"]["fixed"]) == (0, 1)
    assert groups["not_fits"]["examples"][0]["unresolved"] is False
    assert (groups["empty_file"]["unresolved"], groups["empty_file"]["fixed"]) == (1, 0)
    unresolved = await get(client, "/jobs", unresolved="true")
    assert [job["path"] for job in unresolved["jobs"]] == [empty_path(catalogue)]


async def _finish_as_succeeded(catalogue: Catalogue, job_id: int) -> None:
    """What a worker records when it ingests the retry (its product: any one)."""
    async with catalogue.database.transaction() as tx:
        now = utc_now()
        product_id = await tx.fetch_value("SELECT MIN(id) FROM products")
        await jobs.start_attempt(tx, job_id, "test", now)
        await jobs.finish_attempt(tx, job_id, 1, "succeeded", now)
        await tx.execute(
            "UPDATE jobs SET state = 'succeeded', product_id = :p, finished_at = :now"
            " WHERE id = :id",
            {"p": product_id, "now": now, "id": job_id},
        )


# --- job filters and pages ------------------------------------------------------------


async def _jobs_at(catalogue: Catalogue, hours_ago: list[int], fail: bool) -> list[int]:
    """A job created (and finished a minute later) so many hours ago, each."""
    made = []
    async with catalogue.database.transaction() as tx:
        for hours in hours_ago:
            created = utc_now() - timedelta(hours=hours)
            path = str(catalogue.root / "old" / f"{hours}h.fits")
            job_id = await jobs.insert_job(tx, NewJob(path, 1, 1, "test"), created)
            if fail:
                error = NotFits("made up")
                await jobs.mark_failed(tx, job_id, error, created + timedelta(minutes=1))
            made.append(job_id)
    return made


async def walk(client: httpx.AsyncClient, **params: Any) -> list[int]:
    """Every job id the filters select, page after page."""
    ids: list[int] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = await get(client, "/jobs", **query)
        ids.extend(job["id"] for job in page["jobs"])
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def test_time_ranges_select_created_and_finished_jobs(
    client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    five, three, one = await _jobs_at(catalogue, [5, 3, 1], fail=True)
    now = utc_now()

    def ago(hours: float) -> str:
        return (now - timedelta(hours=hours)).isoformat()

    assert await walk(client, created_after=ago(4), created_before=ago(2)) == [three]
    assert await walk(client, created_before=ago(2), limit=1) == [three, five]
    assert await walk(client, finished_after=ago(6), finished_before=ago(0.5)) == [one, three, five]
    naive_utc = (now - timedelta(hours=4)).replace(tzinfo=None).isoformat()
    assert await walk(client, created_after=naive_utc, created_before=ago(0.5)) == [one, three]
    # Combined with the other filters; failed and still the newest of their path.
    assert await walk(client, state="failed", created_before=ago(0.5), unresolved="true") == [
        one,
        three,
        five,
    ]
    newest = await walk(client, created_after=ago(0.5), limit=3)
    assert newest == sorted(catalogue.job_ids, reverse=True)


async def test_pages_of_filtered_jobs_are_newest_first_and_complete(
    client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    failed = await _jobs_at(catalogue, [9, 8, 7, 6], fail=True)
    everyone = sorted([*catalogue.job_ids, *failed], reverse=True)
    for limit in (1, 2, 5, 1000):
        assert await walk(client, limit=limit) == everyone
    mine = await walk(client, state="failed", error_code="not_fits", limit=2)
    assert mine == sorted([*failed, catalogue.results[page_path(catalogue)].job_id], reverse=True)


@pytest.mark.parametrize(
    "params",
    [
        {"created_after": "yesterday"},
        {"finished_before": "1700000000"},
        {"created_after": "2026-11-26"},  # a date is not a date-time
        {"unresolved": "perhaps"},
    ],
)
async def test_bad_filters_are_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    body = assert_envelope(await client.get("/jobs", params=params), 400, "validation_error")
    assert body["details"]["parameters"][0]["name"] == next(iter(params))


async def test_far_time_bounds_are_the_ends_of_time(client: httpx.AsyncClient) -> None:
    early = await get(client, "/jobs", created_after="0001-01-01T00:00:00+14:00")
    late = await get(client, "/jobs", finished_before="9999-12-31T23:59:59-14:00")
    assert early["jobs"] and late["jobs"]


# --- a file's history --------------------------------------------------------------------


async def test_history_of_a_rewritten_file(client: httpx.AsyncClient, catalogue: Catalogue) -> None:
    history = await get(client, "/files/history", path=catalogue.rewritten)
    assert history["path"] == catalogue.rewritten and history["more_jobs"] is False
    assert [d["job"]["outcome"] for d in history["jobs"]] == ["new_version", "created"]
    assert all(len(d["attempts"]) == d["job"]["attempts"] == 1 for d in history["jobs"])
    current, superseded = history["products"]
    assert (current["is_current"], current["version"]) == (True, 2)
    assert (superseded["is_current"], superseded["superseded_by"]) == (False, current["id"])
    one = await get(client, "/files/history", path=catalogue.rewritten, limit=1)
    assert len(one["jobs"]) == 1 and one["more_jobs"] is True


async def test_history_of_a_renamed_file_shows_where_its_product_went(
    client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    history = await get(client, "/files/history", path=catalogue.moved_from)
    [product] = history["products"]
    assert product["path"] == catalogue.moved_to and product["is_current"]
    assert history["jobs"][0]["job"]["product_id"] == product["id"]


async def test_history_of_an_unknown_path_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/files/history", params={"path": "/never/seen.fits"})
    assert_envelope(response, 404, "not_found")
    assert_envelope(await client.get("/files/history"), 400, "validation_error")


# --- retry -----------------------------------------------------------------------------


async def test_retry_one_job(
    client: httpx.AsyncClient, catalogue: Catalogue, sender: RecordingSender
) -> None:
    failed = catalogue.results[page_path(catalogue)]
    response = await client.post(f"/jobs/{failed.job_id}/retry", headers=AUTH)
    assert response.status_code == 202, response.text
    detail = response.json()
    job = detail["job"]
    assert (job["state"], job["source"], job["retry_of"]) == ("queued", "retry", failed.job_id)
    assert job["path"] == page_path(catalogue) and detail["attempts"] == []
    assert job["size"] == Path(page_path(catalogue)).stat().st_size
    [message] = sender.sent
    assert (message.job_id, message.root) == (job["id"], str(catalogue.root))
    assert job["enqueued_at"] is not None and job["message_id"] == "message-1"  # sent, then read
    # The job retried keeps its failure.
    old = await get(client, f"/jobs/{failed.job_id}")
    assert (old["job"]["state"], old["job"]["error_code"]) == ("failed", "not_fits")


async def test_what_cannot_be_retried(client: httpx.AsyncClient, catalogue: Catalogue) -> None:
    failed = catalogue.results[page_path(catalogue)]
    (await client.post(f"/jobs/{failed.job_id}/retry", headers=AUTH)).raise_for_status()
    again = await client.post(f"/jobs/{failed.job_id}/retry", headers=AUTH)
    assert assert_envelope(again, 409, "conflict")["details"]["newest_job_id"] > failed.job_id
    good = catalogue.results[catalogue.mef]
    done = await client.post(f"/jobs/{good.job_id}/retry", headers=AUTH)
    assert assert_envelope(done, 409, "conflict")["details"]["state"] == "succeeded"
    assert_envelope(await client.post("/jobs/999999/retry", headers=AUTH), 404, "not_found")


async def test_bulk_retry_bodies(client: httpx.AsyncClient) -> None:
    for body in ({}, {"error_code": ""}, {"path_prefix": "relative/"}, {"colour": "red"}):
        response = await client.post("/jobs/retry", json=body, headers=AUTH)
        assert_envelope(response, 400, "validation_error")
    nothing = await client.post("/jobs/retry", json={"error_code": "no_such_code"}, headers=AUTH)
    assert nothing.status_code == 202 and nothing.json()["kind"] == "retry"
    empty = await wait_for_batch(client_database(client), nothing.json()["id"])
    assert (empty.total, empty.closed) == (0, True) and empty.finished_at is not None


async def test_bulk_retry_after_fixing_files_with_a_real_worker(
    worked_client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    write_fits(Path(page_path(catalogue)), 78)
    write_fits(Path(empty_path(catalogue)), 79)
    by_code = await worked_client.post("/jobs/retry", json={"error_code": "not_fits"}, headers=AUTH)
    assert by_code.status_code == 202, by_code.text
    first = await wait_for_batch(catalogue.database, by_code.json()["id"])
    prefix = {"path_prefix": str(catalogue.root / "night2") + "/"}
    by_prefix = await worked_client.post("/jobs/retry", json=prefix, headers=AUTH)
    second = await wait_for_batch(catalogue.database, by_prefix.json()["id"])

    assert (first.total, first.counts.succeeded) == (1, 1)
    assert (second.total, second.counts.succeeded) == (1, 1)  # the page is resolved already
    assert (await get(worked_client, "/failures"))["unresolved"] == 0
    history = await get(worked_client, "/files/history", path=empty_path(catalogue))
    assert [d["job"]["state"] for d in history["jobs"]] == ["succeeded", "failed"]
    assert [len(d["attempts"]) for d in history["jobs"]] == [1, 1]
    batches = await get(worked_client, "/batches", limit=2)
    assert [b["id"] for b in batches["batches"]] == [second.id, first.id]
    assert all(b["finished_at"] for b in batches["batches"])


# --- scan ------------------------------------------------------------------------------


async def test_scan_enqueues_what_is_new_with_a_real_worker(
    worked_client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    for index in range(5):
        write_fits(catalogue.root / "night3" / f"image{index}.fits", 300 + index)
    response = await worked_client.post(
        "/scan", json={"root": str(catalogue.root / "night3")}, headers=AUTH
    )
    assert response.status_code == 202, response.text
    assert response.json()["kind"] == "scan"

    done = await wait_for_batch(catalogue.database, response.json()["id"])

    assert (done.total, done.counts.succeeded) == (5, 5)
    listed = (await get(worked_client, "/batches"))["batches"][0]
    assert listed["id"] == done.id and listed["closed"] and listed["remaining"] == 0


async def test_scan_roots_must_be_watched_directories(
    client: httpx.AsyncClient, catalogue: Catalogue, tmp_path: Path
) -> None:
    for outside in ("/", str(tmp_path), str(catalogue.root / ".." / "elsewhere")):
        response = await client.post("/scan", json={"root": outside}, headers=AUTH)
        assert_envelope(response, 403, "outside_root")
    missing = await client.post("/scan", json={"root": str(catalogue.root / "nope")}, headers=AUTH)
    assert_envelope(missing, 404, "not_found")
    for body in ({}, {"root": "relative"}, {"root": str(catalogue.root), "extra": 1}):
        assert_envelope(
            await client.post("/scan", json=body, headers=AUTH), 400, "validation_error"
        )


async def test_batches_are_listed_newest_first_in_pages(
    client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    made = []
    for code in ("a", "b", "c"):
        response = await client.post("/jobs/retry", json={"error_code": code}, headers=AUTH)
        made.append(response.json()["id"])
        await wait_for_batch(catalogue.database, made[-1])
    ids: list[int] = []
    cursor = None
    while True:
        page = await get(client, "/batches", limit=2, **({"cursor": cursor} if cursor else {}))
        ids.extend(batch["id"] for batch in page["batches"])
        if (cursor := page["next_cursor"]) is None:
            break
    assert ids == sorted([*made, catalogue.batch_id], reverse=True)


# --- token rules and the queue ----------------------------------------------------------


def _actions(catalogue: Catalogue) -> list[tuple[str, dict[str, Any] | None]]:
    failed = catalogue.results[page_path(catalogue)].job_id
    return [
        (f"/jobs/{failed}/retry", None),
        ("/jobs/retry", {"error_code": "not_fits"}),
        ("/scan", {"root": str(catalogue.root)}),
    ]


async def _app(catalogue: Catalogue, token: str | None, sender: Any) -> FastAPI:
    settings = operator_settings(catalogue, token)
    return create_app(catalogue.database, FixedBrokerProbe(), settings=settings, sender=sender)


async def test_actions_need_the_operator_token(
    catalogue: Catalogue, sender: RecordingSender
) -> None:
    async with asgi_client(await _app(catalogue, None, sender)) as http:
        for url, body in _actions(catalogue):
            response = await http.post(url, json=body, headers=AUTH)
            assert assert_envelope(response, 403, "forbidden")["details"]["reason"] == "disabled"
    async with asgi_client(await _app(catalogue, TOKEN, sender)) as http:
        for url, body in _actions(catalogue):
            missing = await http.post(url, json=body)
            assert (
                assert_envelope(missing, 403, "forbidden")["details"]["reason"] == "missing_token"
            )
            wrong = await http.post(url, json=body, headers={"Authorization": "Bearer nope"})
            assert assert_envelope(wrong, 403, "forbidden")["details"]["reason"] == "wrong_token"
    assert sender.sent == []
    assert (
        await catalogue.database.fetch_value("SELECT COUNT(*) FROM jobs WHERE source = 'retry'")
        == 0
    )


async def test_actions_without_a_queue_are_503(catalogue: Catalogue) -> None:
    async with asgi_client(await _app(catalogue, TOKEN, None)) as http:
        for url, body in _actions(catalogue):
            response = await http.post(url, json=body, headers=AUTH)
            body_ = assert_envelope(response, 503, "broker_unavailable")
            assert "broker" in body_["message"]
        # Reads need no queue.
        (await http.get("/failures")).raise_for_status()
