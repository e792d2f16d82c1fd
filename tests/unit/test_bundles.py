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


def _messages(sizes: list[int | None]) -> list[IngestMessage]:
    return [IngestMessage(i, f"/data/{i}.fits", size, i, "/data") for i, size in enumerate(sizes)]


SMALL = 4 * 1024 * 1024
sizes = st.one_of(st.none(), st.integers(0, 2 * SMALL), st.integers(0, 30_000))


@given(sizes=st.lists(sizes, max_size=300), size=st.integers(1, 64))
def test_bundles_keep_every_file_once_small_ones_in_order_in_as_few_even_bundles_as_fit(
    sizes: list[int | None], size: int
) -> None:
    messages = _messages(sizes)
    grouped = bundles(messages, size, small_bytes=SMALL)
    assert sorted(m.job_id for bundle in grouped for m in bundle) == list(range(len(messages)))
    small = [m for m in messages if m.size is not None and m.size <= SMALL]
    shared = [bundle for bundle in grouped if bundle[0] in small]
    assert [m for bundle in shared for m in bundle] == small  # in order, only small ones
    assert len(shared) == -(-len(small) // size)
    assert all(1 <= len(bundle) <= size for bundle in shared)
    if shared:
        assert max(map(len, shared)) - min(map(len, shared)) <= 1
    # Larger files, and files of unknown size, each travel alone.
    assert len(grouped) - len(shared) == len(messages) - len(small)


def test_a_bundle_size_of_one_is_a_message_a_file() -> None:
    messages = _messages([2880, 2880, 2880])
    assert bundles(messages, 1) == [[m] for m in messages]


def test_a_large_file_travels_alone_beside_a_bundle_of_small_ones() -> None:
    small, large, unknown, other = _messages([2880, 5 * SMALL, None, 5760])
    assert bundles([small, large, unknown, other], 8) == [[small, other], [large], [unknown]]


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
