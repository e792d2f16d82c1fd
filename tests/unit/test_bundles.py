"""Bundles: how the outbox groups a burst's files into messages, and what a
bundle's file that does not end well becomes (a message of its own, as
Dramatiq's retry middleware would have sent it had the file come alone)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.errors import DatabaseUnavailable
from pipeline.ingest.service import JobRun
from pipeline.outbox import IngestMessage
from pipeline.settings import WorkerSettings
from workers.actors import OnItsOwn, on_its_own
from workers.runtime import bundles, retry_when

WORKER = WorkerSettings(max_retries=3, min_backoff_seconds=0.5, max_backoff_seconds=4.0)


def _messages(count: int) -> list[IngestMessage]:
    return [IngestMessage(i, f"/data/{i}.fits", 2880, i, "/data") for i in range(count)]


@given(count=st.integers(0, 500), size=st.integers(1, 64))
def test_bundles_keep_every_file_once_in_order_in_as_few_even_bundles_as_fit(
    count: int, size: int
) -> None:
    messages = _messages(count)
    grouped = bundles(messages, size)
    assert [m for bundle in grouped for m in bundle] == messages
    assert len(grouped) == -(-count // size)
    assert all(1 <= len(bundle) <= size for bundle in grouped)
    if grouped:
        assert max(map(len, grouped)) - min(map(len, grouped)) <= 1


def test_a_bundle_size_of_one_is_a_message_a_file() -> None:
    assert bundles(_messages(3), 1) == [[m] for m in _messages(3)]


def test_a_finished_job_or_one_another_worker_has_goes_no_further() -> None:
    assert on_its_own(7, JobRun(None), 0, WORKER) is None


def test_a_recorded_retry_goes_on_alone_after_its_delay_with_one_retry_spent() -> None:
    assert on_its_own(7, JobRun(None, retry_in=1.5), 0, WORKER) == OnItsOwn(1, delay_ms=1500)


def test_a_job_whose_retries_are_exhausted_is_dead_lettered_alone() -> None:
    follow = on_its_own(7, JobRun(None, gave_up=True), 3, WORKER)
    assert follow == OnItsOwn(3, given_up="job 7: transient failures exhausted")


def test_a_transient_error_raised_is_retried_with_dramatiqs_backoff_until_exhausted() -> None:
    error = DatabaseUnavailable("the database went away while recording")
    for retries in range(WORKER.max_retries):
        follow = on_its_own(7, error, retries, WORKER)
        assert follow is not None and follow.given_up is None and follow.retries == retries + 1
        assert follow.delay_ms is not None and 0 < follow.delay_ms <= 4000
        assert retry_when(retries, error, WORKER.max_retries)  # as Dramatiq decides alone
    exhausted = on_its_own(7, error, WORKER.max_retries, WORKER)
    assert exhausted is not None and exhausted.retries == WORKER.max_retries
    assert exhausted.given_up is not None and "DatabaseUnavailable" in exhausted.given_up


def test_an_unexpected_error_is_dead_lettered_alone_at_once() -> None:
    follow = on_its_own(7, RuntimeError("a bug"), 0, WORKER)
    assert follow == OnItsOwn(0, given_up="job 7: RuntimeError: a bug")
