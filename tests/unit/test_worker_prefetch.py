"""How many messages a ``fitsflow worker`` process may hold: as many files as
Dramatiq's default holds at a file a message, whatever the bundle size."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.cli.dramatiq_workers import queue_prefetch


def test_a_file_a_message_keeps_dramatiqs_default_of_twice_the_threads() -> None:
    assert queue_prefetch(128, 1) == 256


def test_bundles_of_eight_hold_as_many_files_in_an_eighth_as_many_messages() -> None:
    assert queue_prefetch(128, 8) == 32


@given(threads=st.integers(1, 1024), bundle_size=st.integers(1, 256))
def test_the_files_held_never_fall_below_the_default_nor_reach_a_bundle_more(
    threads: int, bundle_size: int
) -> None:
    prefetch = queue_prefetch(threads, bundle_size)
    assert prefetch >= 2  # a message being processed and one waiting
    assert prefetch * bundle_size >= 2 * threads
    assert prefetch == 2 or (prefetch - 1) * bundle_size < 2 * threads
